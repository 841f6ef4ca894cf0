import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createRedisPrefix } from '../../../test/support/infra.js';
import {
  BullMqPeriodicTasks,
  InProcessPeriodicTasks,
  type PeriodicOutcome,
  type PeriodicTasks,
} from './periodic-tasks.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What every run of a task saw, across all the "processes" that registered it. */
function recorder(runMs: number) {
  const runs: { by: string; at: number }[] = [];
  let active = 0;
  let peak = 0;
  return {
    runs,
    peak: () => peak,
    run: (by: string) => async () => {
      active += 1;
      peak = Math.max(peak, active);
      runs.push({ by, at: Date.now() });
      await sleep(runMs);
      active -= 1;
    },
  };
}

describe('BullMqPeriodicTasks (real Redis)', () => {
  const redis = createRedisPrefix();
  const open: PeriodicTasks[] = [];
  const outcomes: { task: string; outcome: PeriodicOutcome }[] = [];
  const errors: string[] = [];
  /** One instance per simulated process: its own Redis connections, queue and worker. */
  const proc = () => {
    const t = new BullMqPeriodicTasks(redis.url, redis.prefix, 'periodic', {
      onError: (task, err) => errors.push(`${task}: ${err instanceof Error ? err.message : String(err)}`),
      onRun: (task, outcome) => outcomes.push({ task, outcome }),
    });
    open.push(t);
    return t;
  };

  afterAll(async () => {
    await Promise.all(open.map((t) => t.close()));
    await redis.drop();
  });

  it('two processes registering the same task run it once per tick in total', async () => {
    const every = 250;
    const rec = recorder(20);
    const [a, b] = [proc(), proc()];
    const t0 = Date.now();
    await a.register({ name: 'tick', everyMs: every, run: rec.run('a') });
    await b.register({ name: 'tick', everyMs: every, run: rec.run('b') });
    await sleep(2_600);
    const elapsed = Date.now() - t0;
    await Promise.all([a.close(), b.close()]);
    // One run per tick (the first at once), not two: two timers would make ~2x as many.
    const ticks = Math.floor(elapsed / every) + 1;
    expect(rec.runs.length).toBeGreaterThanOrEqual(ticks - 2);
    expect(rec.runs.length).toBeLessThanOrEqual(ticks + 1);
    expect(rec.peak()).toBe(1);
    // Consecutive runs are a tick apart, whichever process took them.
    const gaps = rec.runs.slice(1).map((r, i) => r.at - (rec.runs[i] as { at: number }).at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(every * 0.4);
  }, 20_000);

  it('puts the schedule back when Redis lost it (restart without data): the ticks resume', async () => {
    const rec = recorder(5);
    const a = proc();
    await a.register({ name: 'lost', everyMs: 200, run: rec.run('a') });
    await sleep(700);
    expect(rec.runs.length).toBeGreaterThan(0);
    // What a Redis restarted without persistence looks like: every key of the run is gone.
    const admin = new Redis(redis.url);
    const keys = await admin.keys(`${redis.prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    await sleep(600);
    const afterLoss = rec.runs.length;
    await sleep(2_500);
    await a.close();
    expect(rec.runs.length - afterLoss).toBeGreaterThanOrEqual(3);
    expect(errors.some((e) => e.includes('lost: job scheduler was missing in Redis: recreated'))).toBe(true);
  }, 20_000);

  it('a run longer than the interval is never overlapped by the next tick in another process', async () => {
    const rec = recorder(450);
    const [a, b] = [proc(), proc()];
    const t0 = Date.now();
    await a.register({ name: 'slow', everyMs: 100, run: rec.run('a') });
    await b.register({ name: 'slow', everyMs: 100, run: rec.run('b') });
    await sleep(2_500);
    await Promise.all([a.close(), b.close()]);
    const elapsed = Date.now() - t0;
    expect(rec.peak()).toBe(1);
    expect(rec.runs.length).toBeGreaterThanOrEqual(3);
    expect(rec.runs.length).toBeLessThanOrEqual(Math.ceil(elapsed / 450) + 1);
    const gaps = rec.runs.slice(1).map((r, i) => r.at - (rec.runs[i] as { at: number }).at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(440);
  }, 20_000);

  it('a task runs only in the processes that registered it', async () => {
    const onlyA = recorder(1);
    const onlyB = recorder(1);
    const [a, b] = [proc(), proc()];
    await a.register({ name: 'only-a', everyMs: 150, run: onlyA.run('a') });
    await b.register({ name: 'only-b', everyMs: 150, run: onlyB.run('b') });
    await sleep(1_000);
    await Promise.all([a.close(), b.close()]);
    expect(onlyA.runs.length).toBeGreaterThanOrEqual(4);
    expect(onlyB.runs.length).toBeGreaterThanOrEqual(4);
    expect(new Set(onlyA.runs.map((r) => r.by))).toEqual(new Set(['a']));
    expect(new Set(onlyB.runs.map((r) => r.by))).toEqual(new Set(['b']));
  }, 20_000);

  it('a failing run is reported and counted; the next tick still runs', async () => {
    const a = proc();
    let n = 0;
    await a.register({
      name: 'flaky',
      everyMs: 150,
      run: async () => {
        n += 1;
        if (n === 1) throw new Error('boom');
      },
    });
    const deadline = Date.now() + 5_000;
    while (n < 3 && Date.now() < deadline) await sleep(20);
    await a.close();
    expect(errors).toContain('flaky: boom');
    const flaky = outcomes.filter((o) => o.task === 'flaky').map((o) => o.outcome);
    expect(flaky[0]).toBe('error');
    expect(flaky.slice(1)).toContain('ok');
  }, 20_000);

  it('close waits for the run in progress, stops the ticks and releases every Redis connection', async () => {
    const rec = recorder(300);
    const a = proc();
    await a.register({ name: 'closing', everyMs: 100, run: rec.run('a') });
    const deadline = Date.now() + 5_000;
    while (rec.runs.length === 0 && Date.now() < deadline) await sleep(10);
    const t0 = Date.now();
    await a.close();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200); // waited for the run
    expect(rec.peak()).toBe(1);
    const ran = rec.runs.length;
    await sleep(400);
    expect(rec.runs.length).toBe(ran);
    expect(a.registered()).toEqual([]);
    // No client of this test's prefix is left on the server (all instances closed above).
    await Promise.all(open.map((t) => t.close()));
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const clients = String(await admin.client('LIST'))
        .split('\n')
        .filter((l) => l.includes(redis.prefix));
      expect(clients).toEqual([]);
    } finally {
      admin.disconnect();
    }
  }, 20_000);
});

describe('InProcessPeriodicTasks', () => {
  it('runs on its timer, skips a tick while the previous run goes on, and stops', async () => {
    const seen: PeriodicOutcome[] = [];
    const t = new InProcessPeriodicTasks({ onRun: (_task, outcome) => seen.push(outcome) });
    const rec = recorder(130);
    await t.register({ name: 'local', everyMs: 50, run: rec.run('p') });
    await expect(t.register({ name: 'local', everyMs: 50, run: rec.run('p') })).rejects.toThrow(
      /already registered/,
    );
    await sleep(600);
    await t.close();
    const ran = rec.runs.length;
    expect(ran).toBeGreaterThanOrEqual(2);
    expect(rec.peak()).toBe(1);
    expect(seen).toContain('skipped');
    await sleep(200);
    expect(rec.runs.length).toBe(ran);
  });

  it('refuses bad names and intervals', async () => {
    const t = new InProcessPeriodicTasks();
    const run = async () => undefined;
    await expect(t.register({ name: 'a:b', everyMs: 10, run })).rejects.toThrow(/not \[A-Za-z0-9-\]/);
    await expect(t.register({ name: 'ok', everyMs: 0, run })).rejects.toThrow(/positive/);
  });
});
