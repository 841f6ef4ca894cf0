import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, smsBody } from '../support/fixtures.js';
import { pool } from '../support/infra.js';
import {
  API_KEY,
  type FaultStack,
  ledger,
  prng,
  recordedCallbacks,
  runId,
  shuffle,
  startFaultStack,
  waitAllFinal,
} from './support/stack.js';

const N = Number(process.env.FAULT_COUNT ?? 300);

describe('fault: duplicate and out-of-order receipts', () => {
  let stack: FaultStack;
  const run = runId();
  const undelivered = new Set(
    Array.from({ length: Math.ceil(N / 10) }, (_, k) => phoneFor(600_000 + k * 10)),
  );

  beforeAll(async () => {
    stack = await startFaultStack({
      workers: 2,
      emulator: {
        // Callbacks usually overtake the create answer: early receipts are kept and applied later.
        createResponseDelayMs: 40,
        failNumbers: Object.fromEntries([...undelivered].map((p) => [p, 'undelivered' as const])),
      },
    });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('replaying every signed callback twice, shuffled, changes no status and the evidence verifies', async () => {
    const ids: string[] = [];
    const caseIds: string[] = [];
    await pool(
      Array.from({ length: N }, (_, i) => i),
      32,
      async (i) => {
        const caseId = `C-rc-${run}-${i}`;
        caseIds.push(caseId);
        ids.push(await stack.accept(smsBody(caseId, phoneFor(600_000 + i)), `rc-${run}-${i}`));
      },
    );
    const counts = await waitAllFinal(stack, N);
    expect(counts).toEqual({ delivered: N - undelivered.size, undelivered: undelivered.size });
    await stack.emulator.idle(30_000);
    const before = await stack.query<{ id: string; status: string; changes: string }>(
      "SELECT n.id, n.status, (SELECT COUNT(*) FROM evidence_events e WHERE e.notification_id = n.id AND e.type = 'status.changed') AS changes FROM notifications n",
    );
    const [{ n: receiptsBefore }] = await stack.query<{ n: string }>('SELECT COUNT(*) AS n FROM receipts');
    const [{ n: eventsBefore }] = await stack.query<{ n: string }>(
      'SELECT COUNT(*) AS n FROM evidence_events',
    );

    const callbacks = recordedCallbacks(stack.emulator.messages());
    expect(callbacks.length).toBe(3 * N); // queued, sent, then delivered or undelivered
    const rand = prng(7);
    const replay = [...shuffle(callbacks, rand), ...shuffle(callbacks, rand)];
    const answers: number[] = [];
    await pool(replay, 16, async (cb) => {
      const res = await fetch(cb.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': cb.signature,
        },
        body: new URLSearchParams(cb.params).toString(),
      });
      answers.push(res.status);
    });
    expect(answers.filter((s) => s !== 204)).toEqual([]);

    const after = await stack.query<{ id: string; status: string; changes: string }>(
      "SELECT n.id, n.status, (SELECT COUNT(*) FROM evidence_events e WHERE e.notification_id = n.id AND e.type = 'status.changed') AS changes FROM notifications n",
    );
    const key = (rows: typeof before) =>
      Object.fromEntries(rows.map((r) => [r.id, `${r.status}/${Number(r.changes)}`]));
    expect(key(after)).toEqual(key(before));
    const [{ n: receiptsAfter }] = await stack.query<{ n: string }>('SELECT COUNT(*) AS n FROM receipts');
    // A replay is the same callback (same dedup key): no receipt and no evidence event is added.
    expect(Number(receiptsAfter) - Number(receiptsBefore)).toBe(0);
    const [{ n: eventsAfter }] = await stack.query<{ n: string }>(
      'SELECT COUNT(*) AS n FROM evidence_events',
    );
    expect(Number(eventsAfter)).toBe(Number(eventsBefore));

    // Every case chain still verifies.
    const broken: string[] = [];
    await pool(caseIds, 16, async (caseId) => {
      const res = await fetch(`${stack.baseUrl}/v1/evidence/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ caseId }),
      });
      const v = (await res.json()) as { ok: boolean; events: number };
      if (res.status !== 200 || !v.ok) broken.push(`${caseId}:${res.status}`);
    });
    expect(broken).toEqual([]);

    const report = await ledger(stack, ids);
    expect(report.lost).toEqual([]);
    expect(report.sentTwice).toEqual([]);
    expect(report.mismatched).toEqual([]);
    expect(report.orphans).toEqual([]);
  }, 300_000);
});
