import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, smsBody } from '../support/fixtures.js';
import { pool, waitFor } from '../support/infra.js';
import { type FaultStack, ledger, runId, startFaultStack, waitAllFinal } from './support/stack.js';

const N = Number(process.env.FAULT_COUNT ?? 300);

describe('fault: workers SIGKILLed mid-run', () => {
  let stack: FaultStack;
  const run = runId();

  beforeAll(async () => {
    // Slow create answers: each kill lands while sends are in flight, including messages the
    // provider stored whose sid the worker never learnt.
    stack = await startFaultStack({ workers: 2, emulator: { createResponseDelayMs: 150 } });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('every notice ends final, none lost, none sent twice', async () => {
    const ids: string[] = [];
    await pool(
      Array.from({ length: N }, (_, i) => i),
      32,
      async (i) => {
        ids.push(await stack.accept(smsBody(`C-wk-${run}-${i}`, phoneFor(200_000 + i)), `wk-${run}-${i}`));
      },
    );
    const [first, second] = stack.workers;
    await waitFor('a quarter sent', async () => stack.emulator.acceptedCount >= N / 4, 60_000, 5);
    first.child.kill('SIGKILL');
    await first.exited;
    stack.startWorker();
    await waitFor('half sent', async () => stack.emulator.acceptedCount >= N / 2, 60_000, 5);
    second.child.kill('SIGKILL');
    await second.exited;
    expect(stack.emulator.acceptedCount).toBeLessThan(N);
    stack.startWorker();

    const counts = await waitAllFinal(stack, N);
    expect(counts).toEqual({ delivered: N });
    const report = await ledger(stack, ids);
    expect(report.lost).toEqual([]);
    expect(report.nonFinal).toEqual([]);
    expect(report.sentTwice).toEqual([]);
    expect(report.mismatched).toEqual([]);
    expect(report.orphans).toEqual([]);
    expect(report.providerMessages).toBe(N);
  }, 300_000);
});
