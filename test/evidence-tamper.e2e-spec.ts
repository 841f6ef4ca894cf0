import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { smsBody } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

/** Acceptance: changing one stored evidence row makes verification fail at that row's seq. */
describe.each(['sqlite', 'postgres'] as const)('evidence tamper detection (%s)', (dialect) => {
  let api: InProcessApp;
  const caseId = `C-tamper-${dialect}`;

  beforeAll(async () => {
    api = await startInProcess({ dialect });
    for (let i = 0; i < 3; i++) {
      const res = await postJson(api.baseUrl, '/v1/notifications', smsBody(caseId, `+861380013800${i}`));
      expect(res.status).toBe(202);
    }
    await waitFor('delivered', async () => {
      const [r] = await api.db.rows<{ n: number }>(
        "SELECT COUNT(*) AS n FROM notifications WHERE case_id = ? AND status = 'delivered'",
        [caseId],
      );
      return Number(r.n) === 3;
    });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
  });

  it('the untouched chain verifies', async () => {
    const res = await postJson(api.baseUrl, '/v1/evidence/verify', { caseId });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, caseId });
    expect(res.body.events).toBeGreaterThanOrEqual(3 * 9);
  });

  it('the ledger refuses UPDATE and DELETE', async () => {
    await expect(
      api.db.exec('UPDATE evidence_events SET type = ? WHERE case_id = ? AND seq = 1', ['x', caseId]),
    ).rejects.toThrow(/append-only/);
    await expect(api.db.exec('DELETE FROM evidence_events WHERE case_id = ?', [caseId])).rejects.toThrow(
      /append-only/,
    );
  });

  it('a row changed behind the service points verification at its seq', async () => {
    // Simulate a DBA with full rights: lift the guard, change one payload, restore the guard.
    const seq = 7;
    if (dialect === 'postgres') {
      await api.db.transaction(async (tx) => {
        await tx.exec('ALTER TABLE evidence_events DISABLE TRIGGER evidence_no_update_delete');
        await tx.exec(
          `UPDATE evidence_events SET payload = '{"tampered":true,' || SUBSTR(payload, 2) WHERE case_id = ? AND seq = ?`,
          [caseId, seq],
        );
        await tx.exec('ALTER TABLE evidence_events ENABLE TRIGGER evidence_no_update_delete');
      });
    } else {
      const [{ sql }] = await api.db.rows<{ sql: string }>(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'evidence_no_update'",
      );
      await api.db.exec('DROP TRIGGER evidence_no_update');
      await api.db.exec(
        `UPDATE evidence_events SET payload = '{"tampered":true,' || SUBSTR(payload, 2) WHERE case_id = ? AND seq = ?`,
        [caseId, seq],
      );
      await api.db.exec(sql);
    }
    const [row] = await api.db.rows<{ payload: string }>(
      'SELECT payload FROM evidence_events WHERE case_id = ? AND seq = ?',
      [caseId, seq],
    );
    expect(row.payload).toContain('tampered');
    const res = await postJson(api.baseUrl, '/v1/evidence/verify', { caseId });
    expect(res.body).toMatchObject({ ok: false, brokenSeq: seq, failure: 'hash_mismatch' });
    const other = await postJson(api.baseUrl, '/v1/evidence/verify', { caseId: 'C-other' });
    expect(other.body).toMatchObject({ ok: true, events: 0 });
  });
});
