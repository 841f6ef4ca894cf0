import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, smsBody } from '../support/fixtures.js';
import { pool } from '../support/infra.js';
import { type FaultStack, ledger, prng, runId, startFaultStack, waitAllFinal } from './support/stack.js';

const N = Number(process.env.FAULT_COUNT ?? 300);
const MAX_ATTEMPTS = 8;

describe('fault: the provider answers 30% 5xx and some creates time out', () => {
  let stack: FaultStack;
  const run = runId();
  const rand = prng(0x5eed);
  const hungOnce = new Set<string>();
  const hangKinds = { lost: 0, stored: 0 };

  beforeAll(async () => {
    stack = await startFaultStack({
      workers: 2,
      emulator: {
        rejectCreate: () => {
          const r = rand();
          if (r < 0.15) return { status: 500, code: 20500, message: 'Internal Server Error' };
          if (r < 0.3) return { status: 503, code: 20503, message: 'Service Unavailable' };
          return undefined;
        },
        // One create in ten (at most once per number) never gets an answer: half of them were
        // stored by the provider (the client must not send again), half were lost.
        hangCreate: (to) => {
          if (hungOnce.has(to) || rand() >= 0.1) return undefined;
          hungOnce.add(to);
          if (rand() < 0.5) {
            hangKinds.stored++;
            return 'stored';
          }
          hangKinds.lost++;
          return true;
        },
      },
      env: { TWILIO_TIMEOUT_MS: '800', DISPATCH_MAX_ATTEMPTS: String(MAX_ATTEMPTS) },
    });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('5xx are retried with backoff, timeouts reconciled before any resend: none lost, none sent twice', async () => {
    const ids: string[] = [];
    await pool(
      Array.from({ length: N }, (_, i) => i),
      32,
      async (i) => {
        ids.push(await stack.accept(smsBody(`C-pe-${run}-${i}`, phoneFor(500_000 + i)), `pe-${run}-${i}`));
      },
    );
    const counts = await waitAllFinal(stack, N, 420_000);
    // The faults really happened.
    expect(stack.emulator.rejectedCount).toBeGreaterThan(N * 0.2);
    expect(hangKinds.stored).toBeGreaterThan(0);
    expect(hangKinds.lost).toBeGreaterThan(0);

    const report = await ledger(stack, ids);
    expect(report.lost).toEqual([]);
    expect(report.nonFinal).toEqual([]);
    expect(report.sentTwice).toEqual([]);
    expect(report.mismatched).toEqual([]);
    expect(report.orphans).toEqual([]);
    // Only a notice whose every attempt got a 5xx may end failed (0.3^8 each), and then nothing was sent.
    expect((counts.delivered ?? 0) + (counts.failed ?? 0)).toBe(N);
    expect(counts.failed ?? 0).toBeLessThanOrEqual(2);
    expect(report.providerMessages).toBe(counts.delivered);
    const failed = await stack.query<{ id: string; attempts: number }>(
      "SELECT id, attempts FROM notifications WHERE status = 'failed'",
    );
    for (const f of failed) expect(Number(f.attempts)).toBe(MAX_ATTEMPTS);
    // Every retry is in the evidence: provider.error events match the 5xx answers the workers saw.
    const [errors] = await stack.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM evidence_events WHERE type = 'provider.error'",
    );
    expect(Number(errors.n)).toBeGreaterThan(0);
    expect(Number(errors.n)).toBeLessThanOrEqual(stack.emulator.rejectedCount);
  }, 600_000);
});
