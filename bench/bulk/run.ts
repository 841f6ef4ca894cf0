/**
 * B4 bulk: N notices through `POST /v1/notifications/batch` (NDJSON request body, one notification per
 * line with an `idempotencyKey`; NDJSON response, one result line per input line). The body is streamed
 * from a generator with backpressure, never built in memory; the api's peak RSS is VmHWM from
 * /proc/<pid>/status. Queue mode (PostgreSQL + Redis); workers off by default so the figure is the accept.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { waitFor } from '../../test/support/infra.js';
import {
  API_KEY,
  envInt,
  phoneFor,
  smsBody,
  startBenchStack,
  startEmulatorProcess,
} from '../support/stack.js';

function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function* lines(n: number, run: string): Generator<string> {
  for (let i = 0; i < n; i++) {
    yield `${JSON.stringify({ ...smsBody(`C-b4-${run}-${i}`, phoneFor(5_000_000 + i)), idempotencyKey: `b4-${run}-${i}` })}\n`;
  }
}

export interface BulkResult {
  n: number;
  status: number;
  seconds: number;
  perSecond: number;
  accepted: number;
  errors: number;
  firstError?: string;
  peakRssMb: number;
  baselineRssMb: number;
  rows: number;
}

/** Streams `n` lines to the batch endpoint; resolves when the whole NDJSON answer was read. */
function streamBatch(
  baseUrl: string,
  n: number,
  run: string,
): Promise<{ status: number; accepted: number; errors: number; firstError?: string; lines: number }> {
  const u = new URL(`${baseUrl}/v1/notifications/batch`);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        authorization: `Bearer ${API_KEY}`,
        'transfer-encoding': 'chunked',
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let buf = '';
      let accepted = 0;
      let errors = 0;
      let count = 0;
      let firstError: string | undefined;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          count++;
          try {
            const r = JSON.parse(line) as { error?: unknown; status?: string; summary?: unknown };
            if (r.summary !== undefined) {
              count--;
              continue;
            }
            if (r.error !== undefined || r.status === undefined) {
              errors++;
              firstError ??= line.slice(0, 300);
            } else accepted++;
          } catch {
            errors++;
            firstError ??= line.slice(0, 300);
          }
        }
      });
      res.on('end', () => {
        if (buf.trim() && (res.statusCode ?? 0) >= 400) firstError ??= buf.slice(0, 300);
        resolve({ status: res.statusCode ?? 0, accepted, errors, firstError, lines: count });
      });
      res.on('error', reject);
    });
    const gen = lines(n, run);
    const pump = (): void => {
      for (;;) {
        const next = gen.next();
        if (next.done) {
          req.end();
          return;
        }
        if (!req.write(next.value)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

export async function bulkRun(n: number, workers: number): Promise<BulkResult | { missing: string }> {
  const emulator = await startEmulatorProcess(['--callback-statuses', 'delivered,undelivered,failed']);
  const stack = await startBenchStack({
    mode: 'queue',
    workers,
    emulatorUrl: emulator.url,
    env: {
      SWEEP_INTERVAL_MS: '60000',
      STUCK_AFTER_MS: '600000',
      SENDING_GRACE_MS: '600000',
      MAX_BODY_BYTES: String(1024 * 1024 * 1024),
    },
  });
  try {
    await waitFor('api ready', async () => (await fetch(`${stack.baseUrl}/health/live`)).ok, 60_000, 200);
    const probe = await streamBatch(stack.baseUrl, 1, 'probe');
    if (probe.status === 404 || probe.status === 405)
      return { missing: `batch endpoint answered ${probe.status}` };
    const pid = stack.api.child.pid as number;
    const baselineRssMb = procStatusKb(pid, 'VmRSS') / 1024;
    const run = Date.now().toString(36);
    const t0 = performance.now();
    const r = await streamBatch(stack.baseUrl, n, run);
    const seconds = (performance.now() - t0) / 1000;
    const peakRssMb = procStatusKb(pid, 'VmHWM') / 1024;
    const counts = await stack.counts();
    const rows = Object.values(counts).reduce((a, b) => a + b, 0);
    return {
      n,
      status: r.status,
      seconds,
      perSecond: n / seconds,
      accepted: r.accepted,
      errors: r.errors + Math.max(0, n - r.lines),
      firstError: r.firstError,
      peakRssMb,
      baselineRssMb,
      rows: rows - probe.accepted,
    };
  } finally {
    await stack.stop();
    await emulator.stop();
  }
}

export async function benchBulk(): Promise<{ section: string[] }> {
  const n = envInt('BENCH_B4_N', 100_000);
  const workers = Number(process.env.BENCH_B4_WORKERS ?? 0);
  console.log(`B4: ${n} notices through the batch endpoint`);
  const r = await bulkRun(n, workers);
  if ('missing' in r) {
    console.log(`B4: not measured (${r.missing})`);
    return {
      section: [
        '## B4 bulk',
        '',
        `Not measured: \`POST /v1/notifications/batch\` is not there yet (${r.missing}).`,
        '',
      ],
    };
  }
  console.log(`B4: ${r.seconds.toFixed(1)} s, peak RSS ${r.peakRssMb.toFixed(0)} MB, errors ${r.errors}`);
  const budget = 30 * (n / 100_000); // the 30 s target is for 100,000
  const okTime = r.seconds <= budget;
  const okRss = r.peakRssMb <= 600;
  return {
    section: [
      '## B4 bulk',
      '',
      `${n.toLocaleString('en-US')} SMS notices in one \`POST /v1/notifications/batch\` (NDJSON, one notification and its`,
      '`idempotencyKey` per line), streamed from a generator with backpressure; the NDJSON answer read as it comes.',
      `Queue mode, PostgreSQL + Redis, ${workers} workers running during the upload. Peak RSS = VmHWM of the api process.`,
      '',
      '| measure | value |',
      '|---|---:|',
      `| HTTP status | ${r.status} |`,
      `| **time to accept all** | **${r.seconds.toFixed(1)} s** (${r.perSecond.toFixed(0)} notices/s) |`,
      `| result lines accepted / errors | ${r.accepted} / ${r.errors} |`,
      `| rows stored | ${r.rows} |`,
      `| api RSS before | ${r.baselineRssMb.toFixed(0)} MB |`,
      `| **api peak RSS (VmHWM)** | **${r.peakRssMb.toFixed(0)} MB** |`,
      '',
      `- target <= 30 s per 100,000 (${budget.toFixed(1)} s here): ${okTime ? 'met' : `MISSED (${(r.seconds / budget).toFixed(1)}x)`}; target <= 600 MB: ${okRss ? 'met' : `MISSED (${(r.peakRssMb / 600).toFixed(1)}x)`}`,
      ...(r.firstError ? [`- first error line: \`${r.firstError.replace(/`/g, "'")}\``] : []),
      '',
    ],
  };
}
