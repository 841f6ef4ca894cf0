import { describe, expect, it } from '@jest/globals';
import { InProcessQueue } from './in-process.queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('InProcessQueue', () => {
  it('runs jobs with bounded concurrency and drops duplicates still waiting', async () => {
    const q = new InProcessQueue();
    let active = 0;
    let peak = 0;
    const seen: string[] = [];
    await q.consume(
      'dispatch',
      async (id) => {
        active += 1;
        peak = Math.max(peak, active);
        await sleep(5);
        seen.push(id);
        active -= 1;
      },
      3,
    );
    for (let i = 0; i < 10; i++) await q.enqueue('dispatch', `n${i}`);
    await q.enqueue('dispatch', 'n9'); // still waiting: deduplicated
    while (seen.length < 10) await sleep(5);
    await sleep(20);
    await q.close();
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`).sort());
  });

  it('delays jobs and reports stats', async () => {
    const q = new InProcessQueue();
    const ran: number[] = [];
    const t0 = Date.now();
    await q.consume('dispatch', async () => void ran.push(Date.now() - t0), 1);
    await q.enqueue('dispatch', 'late', { delayMs: 60 });
    expect(await q.stats('dispatch')).toEqual({ waiting: 0, delayed: 1, active: 0 });
    await sleep(120);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toBeGreaterThanOrEqual(55);
    await q.close();
  });

  it('reports handler errors and keeps going', async () => {
    const errors: string[] = [];
    const q = new InProcessQueue((_n, id) => errors.push(id));
    const ok: string[] = [];
    await q.consume(
      'dispatch',
      async (id) => {
        if (id === 'bad') throw new Error('boom');
        ok.push(id);
      },
      1,
    );
    await q.enqueueMany('dispatch', [{ id: 'bad' }, { id: 'good' }]);
    await sleep(20);
    expect(errors).toEqual(['bad']);
    expect(ok).toEqual(['good']);
    await q.close();
  });
});

describe('InProcessQueue.close', () => {
  it('waits for running jobs and drops waiting ones (the database still has them)', async () => {
    const q = new InProcessQueue();
    const done: string[] = [];
    await q.consume(
      'dispatch',
      async (id) => {
        await sleep(30);
        done.push(id);
      },
      1,
    );
    await q.enqueueMany('dispatch', [{ id: 'a' }, { id: 'b' }]);
    await sleep(5);
    await q.close();
    expect(done).toEqual(['a']);
    await q.enqueue('dispatch', 'c');
    await sleep(40);
    expect(done).toEqual(['a']);
  });
});
