import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  chainEvents,
  CheckpointService,
  type ChainedEvent,
  EvidenceIntegrity,
  EvidenceIntegrityError,
  EvidenceService,
  generateSigningKeyPair,
} from '#libs/evidence';
import { startApi } from '../apps/api/src/bootstrap.js';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { AUTH_HEADER, phoneFor, smsBody } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

/**
 * Issue 12, item 3: attacks by someone with write access to the database, not the key holder.
 * Each ends refused (by a trigger) or detected (verification, the integrity check run at start and
 * before every checkpoint), with the first bad element named; an alert blocks checkpoints and
 * bundles until an admin acknowledges it.
 */
describe.each(['sqlite', 'postgres'] as const)('evidence forgery (%s)', (dialect) => {
  let api: InProcessApp;
  const key = generateSigningKeyPair();
  const cases = {
    forged: `C-forge-${dialect}`,
    truncated: `C-trunc-${dialect}`,
    rewritten: `C-rewrite-${dialect}`,
    clean: `C-clean-${dialect}`,
  };

  /** Runs `fn` with the named triggers lifted (a superuser's powers), then puts them back. */
  async function withoutTriggers(
    guards: { table: string; pg: string; sqlite: string[] }[],
    fn: () => Promise<void>,
  ): Promise<void> {
    const saved: string[] = [];
    for (const g of guards) {
      if (dialect === 'postgres') {
        await api.db.exec(`ALTER TABLE ${g.table} DISABLE TRIGGER ${g.pg}`);
      } else {
        for (const name of g.sqlite) {
          const [row] = await api.db.rows<{ sql: string }>(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            [name],
          );
          expect(row).toBeDefined();
          saved.push(row.sql);
          await api.db.exec(`DROP TRIGGER ${name}`);
        }
      }
    }
    try {
      await fn();
    } finally {
      if (dialect === 'postgres') {
        for (const g of guards) await api.db.exec(`ALTER TABLE ${g.table} ENABLE TRIGGER ${g.pg}`);
      } else {
        for (const sql of saved) await api.db.exec(sql);
      }
    }
  }

  const HEADS = { table: 'case_heads', pg: 'case_heads_forward', sqlite: ['case_heads_forward'] };
  const EVENTS = {
    table: 'evidence_events',
    pg: 'evidence_no_update_delete',
    sqlite: ['evidence_no_update', 'evidence_no_delete'],
  };
  const CHECKPOINTS = {
    table: 'checkpoints',
    pg: 'checkpoints_append_only',
    sqlite: ['checkpoints_no_delete'],
  };

  const events = (caseId: string) => api.app.get(EvidenceService).caseEvents(caseId);
  const verify = async (caseId: string) =>
    (await postJson(api.baseUrl, '/v1/evidence/verify', { caseId })).body as Record<string, unknown>;
  const checkpoint = () => postJson(api.baseUrl, '/v1/evidence/checkpoints', {});
  const bundle = (caseId: string) =>
    fetch(`${api.baseUrl}/v1/cases/${caseId}/evidence.zip`, { headers: AUTH_HEADER });
  const ready = async () => {
    const res = await fetch(`${api.baseUrl}/health/ready`);
    return {
      status: res.status,
      body: (await res.json()) as { details: Record<string, Record<string, unknown>> },
    };
  };
  const openGauge = async () => {
    const text = await (await fetch(`${api.baseUrl}/metrics`, { headers: AUTH_HEADER })).text();
    const m = /^cns_evidence_integrity_alerts_open (\d+)/m.exec(text);
    expect(m).not.toBeNull();
    return Number(m![1]);
  };
  /** The start-up check, as the app runs it at bootstrap. */
  const startupCheck = async () => {
    const integrity = api.app.get(EvidenceIntegrity);
    await integrity.onApplicationBootstrap();
    return integrity.openAlerts();
  };
  const ackAll = async () => {
    const list = (await (
      await fetch(`${api.baseUrl}/v1/admin/evidence/alerts`, { headers: AUTH_HEADER })
    ).json()) as {
      items: { id: number; acknowledged: unknown }[];
    };
    for (const a of list.items.filter((x) => x.acknowledged === null)) {
      const res = await postJson(api.baseUrl, `/v1/admin/evidence/alerts/${a.id}/ack`, undefined);
      expect(res.status).toBe(200);
    }
  };

  /** A correctly hashed event appended to the chain by hand (what a DB operator can compute). */
  function forge(chain: ChainedEvent[], caseId: string): ChainedEvent {
    const last = chain[chain.length - 1];
    const {
      events: [ev],
    } = chainEvents({ seq: last.seq, hash: last.hash }, [
      {
        caseId,
        notificationId: last.notificationId,
        type: 'receipt.received',
        occurredAt: last.occurredAt,
        recordedAt: last.recordedAt,
        payload: { provider: 'sandbox', status: 'delivered', forged: true },
      },
    ]);
    return ev;
  }

  async function insertEvent(e: ChainedEvent): Promise<void> {
    await api.db.exec(
      'INSERT INTO evidence_events (case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        e.caseId,
        e.seq,
        e.notificationId,
        e.type,
        e.occurredAt,
        e.recordedAt,
        JSON.stringify(e.payload),
        e.prevHash,
        e.hash,
      ],
    );
  }

  beforeAll(async () => {
    api = await startInProcess({ dialect, env: { EVIDENCE_SIGNING_KEY: key.privateKeyPem } });
    let i = 0;
    for (const caseId of Object.values(cases)) {
      const res = await postJson(api.baseUrl, '/v1/notifications', smsBody(caseId, phoneFor(700 + i++)));
      expect(res.status).toBe(202);
    }
    await waitFor('delivered', async () => {
      const [r] = await api.db.rows<{ n: number | string }>(
        "SELECT COUNT(*) AS n FROM notifications WHERE status = 'delivered'",
      );
      return Number(r.n) === Object.keys(cases).length;
    });
  }, 90_000);

  afterAll(async () => {
    await api?.close();
  }, 30_000);

  it('the untouched ledger verifies and every event is covered by a signed entry timestamp', async () => {
    for (const caseId of Object.values(cases)) expect(await verify(caseId)).toMatchObject({ ok: true });
    const [sets] = await api.db.rows<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM evidence_sets WHERE key_id <> 'unsigned'",
    );
    expect(Number(sets.n)).toBeGreaterThan(0);
    expect((await checkpoint()).status).toBe(201);
    expect(await startupCheck()).toEqual([]);
    expect((await ready()).body.details.evidence).toMatchObject({ status: 'up' });
  });

  it('(a) a forged append: the head update is refused; with the trigger lifted verify names the forged seq', async () => {
    const caseId = cases.forged;
    const chain = await events(caseId);
    const ev = forge(chain, caseId);
    await insertEvent(ev); // inserts are allowed: the ledger is append-only
    await expect(
      api.db.exec('UPDATE case_heads SET last_seq = ?, last_hash = ? WHERE case_id = ?', [
        ev.seq,
        ev.hash,
        caseId,
      ]),
    ).rejects.toThrow(/only moves forward/);
    // Pointing the forged event at a real SET's range does not satisfy the trigger's SET lookup
    // either unless a range row is forged too; a superuser skips the trigger altogether.
    await withoutTriggers([HEADS], async () => {
      await api.db.exec('UPDATE case_heads SET last_seq = ?, last_hash = ? WHERE case_id = ?', [
        ev.seq,
        ev.hash,
        caseId,
      ]);
    });
    const v = await verify(caseId);
    expect(v).toMatchObject({ ok: false, failure: 'forged', brokenSeq: ev.seq });
    expect(String(v.detail)).toMatch(
      new RegExp(`seq ${ev.seq} is covered by no valid signed entry timestamp`),
    );
  });

  it('(a) a forged SET range row passes the trigger, not verification', async () => {
    const caseId = cases.clean;
    const chain = await events(caseId);
    const ev = forge(chain, caseId);
    await insertEvent(ev);
    const [set] = await api.db.rows<{ id: number | string }>('SELECT MAX(id) AS id FROM evidence_sets');
    await api.db.exec(
      'INSERT INTO evidence_set_cases (set_id, case_id, from_seq, to_seq) VALUES (?, ?, ?, ?)',
      [set.id, caseId, ev.seq, ev.seq],
    );
    await api.db.exec('UPDATE case_heads SET last_seq = ?, last_hash = ? WHERE case_id = ?', [
      ev.seq,
      ev.hash,
      caseId,
    ]);
    expect(await verify(caseId)).toMatchObject({ ok: false, failure: 'forged', brokenSeq: ev.seq });
    // The head can never move back, even to a real event.
    await expect(
      api.db.exec('UPDATE case_heads SET last_seq = ?, last_hash = ? WHERE case_id = ?', [
        chain[chain.length - 1].seq,
        chain[chain.length - 1].hash,
        caseId,
      ]),
    ).rejects.toThrow(/only moves forward/);
    await expect(api.db.exec('DELETE FROM case_heads WHERE case_id = ?', [caseId])).rejects.toThrow(
      /only moves forward/,
    );
  });

  it('(b) tail truncation: detected by verify and at start-up; checkpoints and bundles refused until ack', async () => {
    expect((await checkpoint()).status).toBe(201); // the forged rows above are now in the log
    const caseId = cases.truncated;
    const chain = await events(caseId);
    const last = chain[chain.length - 1];
    const prev = chain[chain.length - 2];
    await withoutTriggers([EVENTS, HEADS], async () => {
      await api.db.exec('DELETE FROM evidence_events WHERE case_id = ? AND seq = ?', [caseId, last.seq]);
      await api.db.exec('UPDATE case_heads SET last_seq = ?, last_hash = ? WHERE case_id = ?', [
        prev.seq,
        prev.hash,
        caseId,
      ]);
    });
    expect(await verify(caseId)).toMatchObject({ ok: false, failure: 'truncated', brokenSeq: last.seq });

    // A process starting on this database finds it at bootstrap (nothing else has checked yet).
    expect(await api.app.get(EvidenceIntegrity).openAlerts()).toEqual([]);
    const restarted = await startApi({ config: api.app.get<string, AppConfig>(APP_CONFIG), listen: false });
    await restarted.app.close();
    const open = await api.app.get(EvidenceIntegrity).openAlerts();
    expect(open.map((a) => a.kind)).toContain('event_missing');
    const missing = open.find((a) => a.kind === 'event_missing')!;
    expect(missing.detail).toContain(`case ${caseId} seq ${last.seq}`);
    expect(missing.detail).toContain('the event row is gone');

    const r = await ready();
    expect(r.status).toBe(503);
    expect(r.body.details.evidence).toMatchObject({ status: 'down', openAlerts: open.length });
    expect(await openGauge()).toBe(open.length);

    const cp = await checkpoint();
    expect(cp.status).toBe(409);
    expect(cp.body).toMatchObject({ status: 409 });
    expect(String(cp.body.detail)).toMatch(/integrity alert/);
    await expect(api.app.get(CheckpointService).create('scheduled')).rejects.toBeInstanceOf(
      EvidenceIntegrityError,
    );
    const zip = await bundle(cases.rewritten);
    expect(zip.status).toBe(409);
    expect(zip.headers.get('content-type')).toContain('application/problem+json');

    const ack = await postJson(api.baseUrl, `/v1/admin/evidence/alerts/${missing.id}/ack`, undefined);
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id: missing.id, acknowledged: { by: expect.any(String) } });
    await ackAll();
    // The acknowledgement is recorded once and the alert stays in the history.
    const again = await postJson(api.baseUrl, `/v1/admin/evidence/alerts/${missing.id}/ack`, undefined);
    expect(again.body).toMatchObject({ acknowledged: ack.body.acknowledged as Record<string, unknown> });
    await expect(api.db.exec('DELETE FROM evidence_alerts')).rejects.toThrow(/append-only/);
    const [hist] = await api.db.rows<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM evidence_alerts WHERE id = ? AND acked_at IS NOT NULL AND acked_by IS NOT NULL',
      [missing.id],
    );
    expect(Number(hist.n)).toBe(1);

    expect(await startupCheck()).toEqual([]); // the same finding is not raised again
    expect((await ready()).status).toBe(200);
    expect(await openGauge()).toBe(0);
    expect((await checkpoint()).status).toBe(201);
    expect((await bundle(cases.rewritten)).status).toBe(200);
  });

  it('(c) a whole chain rewritten after a signed checkpoint: the start-up check names the mismatch', async () => {
    expect((await checkpoint()).status).toBe(201);
    const caseId = cases.rewritten;
    const original = await events(caseId);
    const { events: rewritten, head } = chainEvents(
      { seq: 0, hash: '0'.repeat(64) },
      original.map((e) => ({
        caseId,
        notificationId: e.notificationId,
        type: e.type,
        occurredAt: e.occurredAt,
        recordedAt: e.recordedAt,
        payload: { rewritten: true, original: e.payload },
      })),
    );
    await withoutTriggers([EVENTS, HEADS], async () => {
      for (const e of rewritten) {
        await api.db.exec(
          'UPDATE evidence_events SET payload = ?, prev_hash = ?, hash = ? WHERE case_id = ? AND seq = ?',
          [JSON.stringify(e.payload), e.prevHash, e.hash, caseId, e.seq],
        );
      }
      await api.db.exec('UPDATE case_heads SET last_seq = ?, last_hash = ? WHERE case_id = ?', [
        head.seq,
        head.hash,
        caseId,
      ]);
    });
    // The chain itself is consistent again; the SETs and the log are not.
    expect(await verify(caseId)).toMatchObject({ ok: false, failure: 'forged', brokenSeq: 1 });
    const open = await startupCheck();
    const mismatch = open.find((a) => a.kind === 'leaf_mismatch');
    expect(mismatch).toBeDefined();
    expect(mismatch!.detail).toContain(`case ${caseId} seq 1`);
    expect(mismatch!.detail).toContain('rewritten');
    expect((await checkpoint()).status).toBe(409);
    expect((await bundle(caseId)).status).toBe(409);
    await ackAll();
    expect((await checkpoint()).status).toBe(201);
  });

  it('(c) a rewritten log (leaves too) no longer rebuilds the signed checkpoint root', async () => {
    const LEAVES = {
      table: 'log_leaves',
      pg: 'log_leaves_append_only',
      sqlite: ['log_leaves_no_update', 'log_leaves_no_delete'],
    };
    await withoutTriggers([LEAVES], async () => {
      await api.db.exec('UPDATE log_leaves SET leaf_hash = ? WHERE idx = 0', ['ab'.repeat(32)]);
    });
    const open = await startupCheck();
    expect(open.map((a) => a.kind)).toEqual(expect.arrayContaining(['leaf_mismatch', 'log_mismatch']));
    expect(open.find((a) => a.kind === 'log_mismatch')!.detail).toMatch(/do not rebuild its signed root/);
    expect((await checkpoint()).status).toBe(409);
    await ackAll();
  });

  it('(d) checkpoint rows cannot be deleted; deleted behind the triggers, the loss is detected', async () => {
    await expect(api.db.exec('DELETE FROM checkpoints')).rejects.toThrow(/append-only/);
    await expect(api.db.exec('DELETE FROM checkpoint_leaves')).rejects.toThrow(/append-only/);
    await expect(
      api.db.exec('UPDATE checkpoints SET root_hash = ? WHERE id = 1', ['00'.repeat(32)]),
    ).rejects.toThrow(/append-only/);
    await expect(api.db.exec('DELETE FROM log_leaves')).rejects.toThrow(/append-only/);
    await expect(api.db.exec('DELETE FROM evidence_sets')).rejects.toThrow(/append-only/);
    if (dialect === 'postgres') {
      await expect(api.db.exec('TRUNCATE checkpoints')).rejects.toThrow(/append-only/);
    }
    await withoutTriggers([CHECKPOINTS], async () => {
      await api.db.exec('DELETE FROM checkpoints');
    });
    const open = await startupCheck();
    const gone = open.find((a) => a.kind === 'checkpoint_missing');
    expect(gone).toBeDefined();
    expect(gone!.detail).toMatch(/checkpoint rows were deleted/);
    expect((await ready()).status).toBe(503);
    expect((await checkpoint()).status).toBe(409);
  });
});
