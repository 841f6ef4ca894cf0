/**
 * B2 pipeline: queue mode (api + 2 workers, PostgreSQL + Redis, SMS through the Twilio emulator
 * process), accept -> `delivered` notices per second, next to raw BullMQ throughput of no-op jobs
 * (2 worker processes, same concurrency) on the same Redis in the same run.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { createRedisPrefix, pool, waitFor } from '../../test/support/infra.js';
import { profileMarkdown, summariseProfiles } from '../support/profile-summary.js';
import {
  envInt,
  jsonPoster,
  phoneFor,
  profileDir,
  ROOT,
  sleep,
  smsBody,
  startBenchStack,
  startEmulatorProcess,
} from '../support/stack.js';

export interface RawQueueResult {
  jobs: number;
  seconds: number;
  perSecond: number;
}

/** Raw BullMQ: `jobs` no-op jobs added in bulk, consumed by 2 worker processes; time to drain. */
export async function rawBullMq(jobs: number, concurrency: number): Promise<RawQueueResult> {
  const redis = createRedisPrefix();
  const script = join(ROOT, 'dist', 'bench', 'pipeline', 'noop-worker.js');
  const children = [0, 1].map(() =>
    spawn(process.execPath, [script, redis.url, redis.prefix, String(concurrency)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          createInterface({ input: c.stdout }).once('line', () => resolve());
          c.once('exit', (code) => reject(new Error(`noop worker exited ${code}`)));
        }),
    ),
  );
  const queue = new Queue<{ id: string }>('dispatch', {
    connection: { url: redis.url, maxRetriesPerRequest: null },
    prefix: redis.prefix,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
  });
  const drain = async (n: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, n - i) }, () => {
        const id = randomUUID();
        return { name: 'dispatch', data: { id }, opts: { jobId: `${id}_0` } };
      });
      await queue.addBulk(batch);
    }
    await waitFor(
      'raw queue drained',
      async () => {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(c).every((v) => v === 0);
      },
      600_000,
      5,
    );
    return (performance.now() - t0) / 1000;
  };
  try {
    await drain(Math.min(2_000, jobs)); // warm-up
    const seconds = await drain(jobs);
    return { jobs, seconds, perSecond: jobs / seconds };
  } finally {
    await queue.close();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))),
    );
    await redis.drop();
  }
}

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return 0;
  }
}

export interface PipelineResult {
  n: number;
  acceptSeconds: number;
  acceptPerSecond: number;
  e2eSeconds: number;
  e2ePerSecond: number;
  commitsPerNotice: number;
  creates: number;
  callbacks: number;
  errors: number;
  /** CPU milliseconds per notice in the measured window, per component. */
  cpuMsPerNotice: Record<string, number>;
  profile?: string[];
}

async function signalAll(pids: number[], files: () => number, expected: number): Promise<void> {
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  if (expected > 0) await waitFor('cpu profiles written', async () => files() >= expected, 60_000, 100);
}

export async function pipelineRun(opts: {
  n: number;
  concurrency: number;
  workers: number;
  workerConcurrency: number;
  callbackStatuses: string;
  profile: boolean;
}): Promise<PipelineResult> {
  const emulator = await startEmulatorProcess([
    '--callback-statuses',
    opts.callbackStatuses,
    '--callback-concurrency',
    '64',
  ]);
  const profDir = opts.profile ? profileDir(`b2-${Date.now()}`) : '';
  const processEnv: Record<string, string> = opts.profile
    ? {
        NODE_OPTIONS: `--import ${join(ROOT, 'dist', 'bench', 'support', 'cpu-profile-hook.js')}`,
        CPU_PROFILE_DIR: profDir,
      }
    : {};
  const stack = await startBenchStack({
    mode: 'queue',
    workers: opts.workers,
    emulatorUrl: emulator.url,
    env: {
      WORKER_CONCURRENCY: String(opts.workerConcurrency),
      // The sweeper must not interfere with a healthy run.
      SWEEP_INTERVAL_MS: '5000',
      STUCK_AFTER_MS: '120000',
      SENDING_GRACE_MS: '120000',
    },
    processEnv,
  });
  const poster = jsonPoster(stack.baseUrl, opts.concurrency);
  let errors = 0;
  const postMany = async (from: number, count: number): Promise<void> => {
    await pool(
      Array.from({ length: count }, (_, k) => from + k),
      opts.concurrency,
      async (i) => {
        const res = await poster.post('/v1/notifications', smsBody(`C-b2-${i}`, phoneFor(i)), {
          'idempotency-key': `b2-${i}`,
        });
        if (res.status !== 202) {
          errors++;
          if (errors <= 3) console.error(`B2 accept ${res.status}: ${res.body.slice(0, 300)}`);
        }
      },
    );
  };
  const delivered = async (): Promise<number> => (await stack.counts()).delivered ?? 0;
  try {
    await waitFor(
      'workers ready',
      async () => (await fetch(`${stack.baseUrl}/health/ready`)).ok,
      60_000,
      200,
    );
    const warm = Math.min(500, opts.n);
    await postMany(0, warm);
    await waitFor('warm-up delivered', async () => (await delivered()) >= warm, 120_000, 100);
    errors = 0;
    const commits0 = await stack.commits();
    const pids = [stack.api, ...stack.workers].map((p) => p.child.pid as number);
    const pgPids = await stack.backendPids();
    const groups: Record<string, number[]> = {
      api: [pids[0] as number],
      workers: pids.slice(1),
      'twilio emulator': [emulator.child.pid as number],
      'PostgreSQL backends': pgPids,
    };
    const cpu = () =>
      Object.fromEntries(
        Object.entries(groups).map(([k, ps]) => [k, ps.reduce((a, p) => a + cpuSeconds(p), 0)]),
      );
    const cpu0 = cpu();
    const profiles = () => (opts.profile ? readdirSync(profDir).length : 0);
    if (opts.profile) await signalAll(pids, profiles, 0);
    const t0 = performance.now();
    await postMany(1_000_000, opts.n);
    const tAccepted = performance.now();
    await waitFor('all delivered', async () => (await delivered()) >= warm + opts.n - errors, 1_800_000, 50);
    const tDone = performance.now();
    const cpu1 = cpu();
    const cpuMsPerNotice = Object.fromEntries(
      Object.keys(groups).map((k) => [k, (((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * 1000) / opts.n]),
    );
    if (opts.profile) await signalAll(pids, profiles, pids.length);
    await sleep(600);
    const commits = (await stack.commits()) - commits0;
    const st = await emulator.stats();
    const counts = await stack.counts();
    const result: PipelineResult = {
      n: opts.n,
      acceptSeconds: (tAccepted - t0) / 1000,
      acceptPerSecond: opts.n / ((tAccepted - t0) / 1000),
      e2eSeconds: (tDone - t0) / 1000,
      e2ePerSecond: opts.n / ((tDone - t0) / 1000),
      commitsPerNotice: commits / opts.n,
      creates: st.createCount - warm,
      callbacks: st.callbacksPosted,
      errors,
      cpuMsPerNotice,
    };
    if (counts.delivered !== warm + opts.n) console.error(`B2 final counts ${JSON.stringify(counts)}`);
    if (opts.profile) {
      const files = readdirSync(profDir).map((f) => join(profDir, f));
      const apiFiles = files.filter((f) => f.includes(`-${pids[0]}.`));
      const workerFiles = files.filter((f) => !apiFiles.includes(f));
      const root = ROOT.replace(/\/$/, '');
      result.profile = [
        ...profileMarkdown('api process', summariseProfiles(apiFiles, root)),
        ...profileMarkdown(`worker processes (${workerFiles.length})`, summariseProfiles(workerFiles, root)),
        `Profiles: \`${profDir.slice(ROOT.length)}\` (open in Chrome DevTools).`,
        '',
      ];
    }
    return result;
  } finally {
    poster.close();
    await stack.stop();
    await emulator.stop();
  }
}

export async function benchPipeline(): Promise<{ section: string[]; summary: Record<string, number> }> {
  const n = envInt('BENCH_B2_N', 10_000);
  const rawN = envInt('BENCH_B2_RAW_N', 50_000);
  const workerConcurrency = envInt('BENCH_B2_WORKER_CONCURRENCY', 16);
  const concurrency = envInt('BENCH_B2_CLIENTS', 64);
  const callbackStatuses = process.env.BENCH_B2_CALLBACK_STATUSES ?? 'sent,delivered,undelivered,failed';
  const profile = process.env.BENCH_PROFILE === '1';
  console.log(`B2: raw BullMQ, ${rawN} no-op jobs, 2 workers x ${workerConcurrency}`);
  const raw = await rawBullMq(rawN, workerConcurrency);
  console.log(`B2: raw ${raw.perSecond.toFixed(0)} jobs/s; pipeline ${n} notices`);
  const p = await pipelineRun({ n, concurrency, workers: 2, workerConcurrency, callbackStatuses, profile });
  const ratio = p.e2ePerSecond / raw.perSecond;
  const cpuTotal = Object.values(p.cpuMsPerNotice).reduce((a, b) => a + b, 0);
  const projected = cpuTotal > 0 ? 2000 / cpuTotal : 0; // notices/s two idle cores could carry
  console.log(`B2: ${p.e2ePerSecond.toFixed(0)} notices/s end to end, ratio ${ratio.toFixed(3)}`);
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const section = [
    '## B2 pipeline',
    '',
    `Queue mode: api + 2 worker processes (WORKER_CONCURRENCY=${workerConcurrency}), PostgreSQL + Redis, SMS through the`,
    `official Twilio client to the Twilio emulator in its own process (status callbacks: ${callbackStatuses}, signed and`,
    `verified). ${n} notices (after ${Math.min(500, n)} warm-up) posted by ${concurrency} keep-alive clients, each with its own`,
    `number and Idempotency-Key; clock pinned to 10:00 Beijing. Raw BullMQ: ${rawN} no-op jobs carrying an id, added in`,
    `bulk, 2 worker processes with the same concurrency, same Redis, same run.`,
    '',
    '| measure | value |',
    '|---|---:|',
    `| accept (POST -> 202), notices/s | ${p.acceptPerSecond.toFixed(0)} |`,
    `| **accept -> delivered, notices/s** | **${p.e2ePerSecond.toFixed(0)}** (${p.e2eSeconds.toFixed(1)} s) |`,
    `| raw BullMQ no-op jobs/s | ${raw.perSecond.toFixed(0)} (${raw.seconds.toFixed(1)} s) |`,
    `| **ratio pipeline / raw** | **${ratio.toFixed(3)}** |`,
    `| PostgreSQL commits per notice | ${p.commitsPerNotice.toFixed(1)} |`,
    `| provider creates / callbacks posted | ${p.creates} / ${p.callbacks} |`,
    `| accept errors | ${p.errors} |`,
    ...Object.entries(p.cpuMsPerNotice).map(([k, v]) => `| CPU ms per notice: ${k} | ${v.toFixed(2)} |`),
    `| CPU ms per notice, total (Redis not counted) | ${cpuTotal.toFixed(2)} |`,
    `| projected ceiling on 2 idle cores (2000 ms / total) | ${projected.toFixed(0)} notices/s |`,
    '',
    `- target >= 2,000 notices/s end to end: ${met(p.e2ePerSecond >= 2000)}${p.e2ePerSecond < 2000 ? ` (${((100 * p.e2ePerSecond) / 2000).toFixed(0)}% of it, short by ${(2000 - p.e2ePerSecond).toFixed(0)}/s)` : ''}`,
    `- target ratio >= 0.10 (aim 0.25): ${met(ratio >= 0.1)}`,
    '',
    ...(p.profile ? ['### B2 CPU profile (measured window only)', '', ...p.profile] : []),
  ];
  return {
    section,
    summary: { e2ePerSecond: p.e2ePerSecond, acceptPerSecond: p.acceptPerSecond, raw: raw.perSecond, ratio },
  };
}
