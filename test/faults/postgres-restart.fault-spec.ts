import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, smsBody } from '../support/fixtures.js';
import { pool, waitFor } from '../support/infra.js';
import { type PrivatePostgres, startPrivatePostgres } from './support/servers.js';
import { type FaultStack, ledger, runId, startFaultStack, waitAllFinal } from './support/stack.js';

const N = Number(process.env.FAULT_COUNT ?? 300);

describe('fault: PostgreSQL restarted mid-run', () => {
  let pg: PrivatePostgres;
  let stack: FaultStack;
  const run = runId();

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    stack = await startFaultStack({
      pgUrl: pg.url,
      workers: 2,
      emulator: { createResponseDelayMs: 50 },
      env: { WORKER_CONCURRENCY: '4' },
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await pg?.destroy();
  }, 60_000);

  it('clients retry with their key, workers reconcile: every notice ends final, none lost, none sent twice', async () => {
    const ids: string[] = [];
    const post = (from: number, to: number) =>
      pool(
        Array.from({ length: to - from }, (_, k) => from + k),
        16,
        async (i) => {
          ids.push(
            await stack.accept(smsBody(`C-pr-${run}-${i}`, phoneFor(400_000 + i)), `pr-${run}-${i}`, 120_000),
          );
        },
      );
    await post(0, N / 2);
    await waitFor('some sent', async () => stack.emulator.acceptedCount >= N / 8, 60_000, 5);
    // Connections are cut while sends are in flight; the second half is posted across the outage
    // (5xx or connection errors are retried by the client with the same Idempotency-Key).
    const late = post(N / 2, N);
    await pg.restart(2_000);
    await late;
    expect(new Set(ids).size).toBe(N);

    const counts = await waitAllFinal(stack, N, 240_000);
    expect(counts).toEqual({ delivered: N });
    const report = await ledger(stack, ids);
    expect(report.lost).toEqual([]);
    expect(report.nonFinal).toEqual([]);
    expect(report.sentTwice).toEqual([]);
    expect(report.mismatched).toEqual([]);
    expect(report.orphans).toEqual([]);
    expect(report.providerMessages).toBe(N);
  }, 360_000);
});
