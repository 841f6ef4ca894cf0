/**
 * B3 API: accept latency (POST /v1/notifications -> 202) at fixed request rates with autocannon, in
 * standalone mode (SQLite, processors in the api process) and queue mode (PostgreSQL + Redis, api +
 * 2 workers). Every request has its own number and case; the pipeline runs behind it as in production.
 */
import autocannon from 'autocannon';
import { waitFor } from '../../test/support/infra.js';
import {
  API_KEY,
  envInt,
  phoneFor,
  smsBody,
  startBenchStack,
  startEmulatorProcess,
} from '../support/stack.js';

export interface RateResult {
  mode: 'standalone' | 'queue';
  rate: number;
  achieved: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  errors: number;
  non2xx: number;
}

let seq = 0;

async function fire(url: string, rate: number, seconds: number, connections: number) {
  const result = await autocannon({
    url: `${url}/v1/notifications`,
    connections,
    duration: seconds,
    overallRate: rate,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        setupRequest: (req) => {
          const i = ++seq;
          return {
            ...req,
            body: JSON.stringify(smsBody(`C-b3-${process.pid}-${i}`, phoneFor(3_000_000 + i))),
          };
        },
      },
    ],
  });
  return result;
}

export async function apiRates(
  mode: 'standalone' | 'queue',
  rates: number[],
  seconds: number,
  connections: number,
): Promise<RateResult[]> {
  const emulator = await startEmulatorProcess(['--callback-statuses', 'sent,delivered,undelivered,failed']);
  const stack = await startBenchStack({
    mode,
    workers: 2,
    emulatorUrl: emulator.url,
    env: { SWEEP_INTERVAL_MS: '5000', STUCK_AFTER_MS: '120000', SENDING_GRACE_MS: '120000' },
  });
  const out: RateResult[] = [];
  try {
    await waitFor('ready', async () => (await fetch(`${stack.baseUrl}/health/ready`)).ok, 60_000, 200);
    await fire(stack.baseUrl, 100, 3, connections); // warm-up
    for (const rate of rates) {
      // Let the pipeline catch up between levels so each level starts from the same state.
      await waitFor(
        'pipeline idle',
        async () => {
          const c = await stack.counts();
          return (c.accepted ?? 0) + (c.sending ?? 0) + (c.sent ?? 0) === 0;
        },
        300_000,
        250,
      );
      const r = await fire(stack.baseUrl, rate, seconds, connections);
      const res: RateResult = {
        mode,
        rate,
        achieved: r.requests.total / seconds,
        p50: r.latency.p50,
        p90: r.latency.p90,
        p99: r.latency.p99,
        max: r.latency.max,
        requests: r.requests.total,
        errors: r.errors + r.timeouts,
        non2xx: r.non2xx,
      };
      console.log(
        `B3 ${mode} ${rate}/s: p50 ${res.p50} ms p99 ${res.p99} ms, errors ${res.errors}, non-2xx ${res.non2xx}`,
      );
      out.push(res);
    }
    return out;
  } finally {
    await stack.stop();
    await emulator.stop();
  }
}

export async function benchApi(): Promise<{ section: string[]; results: RateResult[] }> {
  const rates = (process.env.BENCH_B3_RATES ?? '100,250,500').split(',').map((s) => Number(s.trim()));
  const seconds = envInt('BENCH_B3_SECONDS', 10);
  const connections = envInt('BENCH_B3_CONNECTIONS', 50);
  const results = [
    ...(await apiRates('standalone', rates, seconds, connections)),
    ...(await apiRates('queue', rates, seconds, connections)),
  ];
  const top = Math.max(...rates);
  const verdict = results
    .filter((r) => r.rate === top)
    .map((r) => {
      const ok = r.p99 <= 15 && r.errors === 0 && r.non2xx === 0;
      return `- ${r.mode} at ${top} req/s: p99 ${r.p99} ms, ${r.errors + r.non2xx} errors: ${ok ? 'met' : `MISSED${r.p99 > 15 ? ` (p99 ${(r.p99 / 15).toFixed(1)}x the 15 ms target)` : ''}`}`;
    });
  const section = [
    '## B3 API',
    '',
    `Accept latency of \`POST /v1/notifications\` (202), autocannon ${connections} connections at a fixed overall rate,`,
    `${seconds} s per level after a 3 s warm-up, each request a new case and number (API key auth on). The pipeline`,
    'runs behind the api (sends through the emulator process): standalone in the same process, queue mode in 2 workers.',
    '',
    '| mode | target req/s | achieved | p50 ms | p90 ms | p99 ms | max ms | requests | errors | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.mode} | ${r.rate} | ${r.achieved.toFixed(0)} | ${r.p50} | ${r.p90} | ${r.p99} | ${r.max} | ${r.requests} | ${r.errors} | ${r.non2xx} |`,
    ),
    '',
    `Target p99 <= 15 ms at 500 req/s with zero errors:`,
    ...verdict,
    '',
  ];
  return { section, results };
}
