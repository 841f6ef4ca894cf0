/**
 * One checkpoint writer per cluster (issue 12, item 3): in queue mode the periodic work
 * (checkpoints, sweeps, pruning) runs from BullMQ job schedulers, so two api processes sharing a
 * database and Redis sign one checkpoint per tick between them, never two competing ones; in
 * standalone mode the api still signs on a timer of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import pg from 'pg';
import { generateSigningKeyPair, verifyConsistencyProof } from '#libs/evidence';
import { PeriodicTasks } from '#libs/queue';
import { postJson, startInProcess } from './support/app.js';
import { AUTH_HEADER, phoneFor, smsBody, type Stack, sqlQuery, startStack } from './support/fixtures.js';
import { freePort, type ServiceProcess, spawnApp, uniqueName, waitFor, waitHttpOk } from './support/infra.js';

const INTERVAL_MS = 1_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface CheckpointRow {
  id: number | string;
  tree_size: number | string;
  log_size: number | string;
  log_root: string;
  reason: string;
}

/** The sum of `cns_periodic_task_runs_total` for a task in one process's /metrics. */
async function runsCounted(baseUrl: string, task: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { headers: AUTH_HEADER })).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('cns_periodic_task_runs_total{') && l.includes(`task="${task}"`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('periodic work in queue mode: two api processes, one checkpoint writer', () => {
  let stack: Stack;
  let api2: ServiceProcess | undefined;
  let base2 = '';

  beforeAll(async () => {
    const env = {
      // Every process of the cluster signs with the same key (docs/evidence.md).
      EVIDENCE_SIGNING_KEY: generateSigningKeyPair().privateKeyPem,
      CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS),
    };
    stack = await startStack({ mode: 'queue', workers: 1, env });
    const port = await freePort();
    base2 = `http://127.0.0.1:${port}`;
    api2 = spawnApp('api', uniqueName('periodic-api2'), {
      ...stack.env,
      PORT: String(port),
      PUBLIC_BASE_URL: base2,
    });
    await waitHttpOk(`${base2}/health/live`);
  }, 90_000);

  afterAll(async () => {
    await api2?.kill('SIGTERM');
    await stack?.stop();
  }, 60_000);

  it('signs one checkpoint per tick in total: a consistent, strictly growing sequence', async () => {
    const apis = [stack.baseUrl, base2];
    // When each checkpoint appears, on this test's clock (each api's test clock starts at its
    // own boot, so `created_at` of two processes is not comparable).
    const seen = new Map<number, number>();
    const watcher = new pg.Client({ connectionString: (stack.db as NonNullable<Stack['db']>).url });
    await watcher.connect();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const r = await watcher.query<{ id: string }>('SELECT id FROM checkpoints');
        for (const row of r.rows) if (!seen.has(Number(row.id))) seen.set(Number(row.id), Date.now());
        await sleep(25);
      }
    })();
    const takenSoFar = async () =>
      (await runsCounted(stack.baseUrl, 'evidence-checkpoint')) +
      (await runsCounted(base2, 'evidence-checkpoint'));
    const takenBefore = await takenSoFar();
    const t0 = Date.now();
    // New cases through both apis for about eight intervals: every tick has new heads to sign.
    const ids: string[] = [];
    for (let i = 0; Date.now() - t0 < 8 * INTERVAL_MS; i++) {
      const res = await postJson(
        apis[i % 2] as string,
        '/v1/notifications',
        smsBody(`C-periodic-${i}`, phoneFor(61_000 + i)),
        AUTH_HEADER,
      );
      expect(res.status).toBe(202);
      ids.push(res.body.id as string);
      await sleep(100);
    }
    await waitFor(
      'all delivered',
      async () => {
        const [r] = await sqlQuery<{ n: string }>(
          stack,
          "SELECT COUNT(*) AS n FROM notifications WHERE status = 'delivered'",
        );
        return Number(r?.n) === ids.length;
      },
      60_000,
      200,
    );
    await sleep(3 * INTERVAL_MS); // the last events get their checkpoint; then idle ticks
    watching = false;
    await watch;
    await watcher.end();
    const elapsed = Date.now() - t0;
    const rows = await sqlQuery<CheckpointRow>(
      stack,
      'SELECT id, tree_size, log_size, log_root, reason FROM checkpoints ORDER BY id',
    );
    const cps = rows.map((r) => ({
      id: Number(r.id),
      at: seen.get(Number(r.id)) ?? Number.NaN,
      tree: Number(r.tree_size),
      size: Number(r.log_size),
      root: r.log_root,
      reason: r.reason,
    }));
    expect(new Set(cps.map((c) => c.reason))).toEqual(new Set(['scheduled']));
    // At most one checkpoint per tick in the whole cluster (two writers would sign about twice
    // as many, two within one interval), and no tick with new evidence went unsigned for long.
    const ticks = Math.ceil(elapsed / INTERVAL_MS);
    expect(cps.length).toBeGreaterThanOrEqual(6);
    expect(cps.length).toBeLessThanOrEqual(ticks + 1);
    for (let i = 1; i < cps.length; i++) {
      const [a, b] = [cps[i - 1], cps[i]] as [(typeof cps)[number], (typeof cps)[number]];
      // Seen about a tick apart (25 ms polling; a loaded machine delays single runs, so the
      // count above is the exact check): never two signed back to back for one tick.
      expect(b.at - a.at).toBeGreaterThanOrEqual(INTERVAL_MS * 0.2);
      expect(b.size).toBeGreaterThan(a.size);
      expect(b.tree).toBeGreaterThanOrEqual(a.tree);
      // Each checkpoint's log extends the previous one (proof from either api).
      const proof = (await (
        await fetch(`${apis[i % 2] as string}/v1/evidence/log/consistency?from=${a.size}&to=${b.size}`, {
          headers: AUTH_HEADER,
        })
      ).json()) as { fromRoot: string; toRoot: string; proof: string[] };
      const [ra, rb] = [Buffer.from(a.root, 'hex'), Buffer.from(b.root, 'hex')];
      expect(Buffer.from(proof.fromRoot, 'base64')).toEqual(ra);
      expect(Buffer.from(proof.toRoot, 'base64')).toEqual(rb);
      const nodes = proof.proof.map((p) => Buffer.from(p, 'base64'));
      // (Any log extends the empty one: the first tick at start signs the empty log.)
      expect(a.size === 0 || verifyConsistencyProof(a.size, b.size, nodes, ra, rb)).toBe(true);
    }
    expect(cps.at(-1)?.tree).toBe(ids.length);
    // The two processes together took one run per tick, not one each.
    const taken = (await takenSoFar()) - takenBefore;
    expect(taken).toBeGreaterThanOrEqual(cps.length - 1);
    expect(taken).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / INTERVAL_MS) + 1);
  }, 120_000);

  it('keeps one job scheduler per task in Redis under the run prefix', async () => {
    const redis = stack.redis as NonNullable<Stack['redis']>;
    const inspect = async (task: string) => {
      const q = new Queue(`periodic-${task}`, { connection: { url: redis.url }, prefix: redis.prefix });
      try {
        return {
          schedulers: (await q.getJobSchedulers()).map((s) => ({ id: s.key, every: Number(s.every) })),
          globalConcurrency: await q.getGlobalConcurrency(),
        };
      } finally {
        await q.close();
      }
    };
    expect(await inspect('evidence-checkpoint')).toEqual({
      schedulers: [{ id: 'evidence-checkpoint', every: INTERVAL_MS }],
      globalConcurrency: 1,
    });
    // The worker runs the sweep and the dedup pruning (the api does not consume in queue mode).
    expect((await inspect('pipeline-sweep')).schedulers).toEqual([{ id: 'pipeline-sweep', every: 1000 }]);
    expect((await inspect('receipt-dedup-prune')).schedulers).toEqual([
      { id: 'receipt-dedup-prune', every: 3_600_000 },
    ]);
  }, 30_000);
});

describe('periodic work in standalone mode', () => {
  it('signs checkpoints on a timer of the process', async () => {
    const app = await startInProcess({
      dialect: 'sqlite',
      env: { CHECKPOINT_INTERVAL_MS: '300', SWEEP_INTERVAL_MS: '200' },
    });
    try {
      expect(app.app.get(PeriodicTasks).kind).toBe('in-process');
      const res = await postJson(
        app.baseUrl,
        '/v1/notifications',
        smsBody('C-periodic-sa', phoneFor(62_000)),
      );
      expect(res.status).toBe(202);
      const count = async () =>
        Number(
          (
            await app.db.rows<{ n: number }>(
              "SELECT COUNT(*) AS n FROM checkpoints WHERE reason = 'scheduled'",
            )
          )[0]?.n,
        );
      await waitFor('a scheduled checkpoint', async () => (await count()) >= 1, 10_000, 50);
      expect(await runsCounted(app.baseUrl, 'evidence-checkpoint')).toBeGreaterThanOrEqual(1);
      await waitFor(
        'a timed sweep',
        async () => (await runsCounted(app.baseUrl, 'pipeline-sweep')) >= 1,
        5_000,
      );
    } finally {
      await app.close();
    }
  }, 60_000);
});
