import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, smsBody } from '../support/fixtures.js';
import { pool, waitFor } from '../support/infra.js';
import { type PrivateRedis, startPrivateRedis } from './support/servers.js';
import { type FaultStack, ledger, runId, startFaultStack, waitAllFinal } from './support/stack.js';

const N = Number(process.env.FAULT_COUNT ?? 300);

describe('fault: Redis restarted mid-run, losing every queued job', () => {
  let redis: PrivateRedis;
  let stack: FaultStack;
  const run = runId();

  beforeAll(async () => {
    redis = await startPrivateRedis();
    stack = await startFaultStack({
      redisUrl: redis.url,
      workers: 2,
      emulator: { createResponseDelayMs: 50 },
      env: { WORKER_CONCURRENCY: '4' },
    });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    await redis?.destroy();
  }, 60_000);

  it('the sweeper re-enqueues from the database: every notice ends final, none lost, none sent twice', async () => {
    const ids: string[] = [];
    const post = (from: number, to: number) =>
      pool(
        Array.from({ length: to - from }, (_, k) => from + k),
        16,
        async (i) => {
          ids.push(
            await stack.accept(smsBody(`C-rr-${run}-${i}`, phoneFor(300_000 + i)), `rr-${run}-${i}`, 120_000),
          );
        },
      );
    await post(0, N / 2);
    await waitFor('some sent', async () => stack.emulator.acceptedCount >= N / 8, 60_000, 5);
    // The second half is posted while Redis is down and comes back empty (no persistence).
    const late = post(N / 2, N);
    await redis.restart(1_500);
    await late;
    expect(stack.emulator.acceptedCount).toBeLessThan(N);

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
