import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, smsBody, type Stack, startStack, statusCounts } from './support/fixtures.js';
import { pool, waitFor } from './support/infra.js';

const N = Number(process.env.E2E_CRASH_COUNT ?? 300);

describe('crash: a worker killed with SIGKILL mid-run (queue mode)', () => {
  let stack: Stack;

  beforeAll(async () => {
    // The emulator answers creates slowly, so the kill lands while many sends are in flight,
    // including messages the provider has but whose sid the worker never learnt.
    stack = await startStack({ mode: 'queue', workers: 1, emulator: { createResponseDelayMs: 150 } });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('every notification reaches a final state and none is sent twice', async () => {
    await pool(
      Array.from({ length: N }, (_, i) => i),
      32,
      async (i) => {
        const res = await stack.post(smsBody(`C-crash-${i}`, phoneFor(100_000 + i)), `crash-${i}`);
        expect(res.status).toBe(202);
      },
    );
    const [victim] = stack.workers;
    await waitFor('the worker to be mid-run', async () => stack.emulator.createCount >= N / 5, 30_000, 5);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const sentBeforeKill = stack.emulator.createCount;
    expect(sentBeforeKill).toBeLessThan(N);

    await stack.startWorker();
    await stack.startWorker();
    const counts = await waitFor(
      'all final',
      async () => {
        const c = await statusCounts(stack);
        return (c.delivered ?? 0) === N ? c : undefined;
      },
      120_000,
      250,
    );
    expect(counts).toEqual({ delivered: N });
    expect(stack.emulator.createCount).toBe(N);
    for (let i = 0; i < N; i++) expect(stack.emulator.createsByTo(phoneFor(100_000 + i))).toBe(1);
  }, 240_000);
});
