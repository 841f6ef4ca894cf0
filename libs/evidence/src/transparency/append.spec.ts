import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#libs/config';
import { ManualClock } from '#libs/core';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { createPgDatabase, type TempDatabase } from '../../../../test/support/infra.js';
import { CheckpointService } from '../checkpoint.service.js';
import { chainEvents } from '../chain.js';
import { EvidenceService, type NewEvidence } from '../evidence.service.js';
import { EvidenceSigningKeys } from '../signer.js';
import { generateSigningKeyPair } from '../signing.js';
import { EvidenceIntegrity } from './integrity.service.js';

/** Multi-case append batches: one SET per batch, heads advanced through the forward-only trigger. */
describe.each(['sqlite', 'postgres'] as const)('transparency log appends (%s)', (dialect) => {
  let dir: string | undefined;
  let pg: TempDatabase | undefined;
  let ds: DataSource;
  let db: Db;
  let evidence: EvidenceService;
  let integrity: EvidenceIntegrity;
  let checkpoints: CheckpointService;
  const keyPem = generateSigningKeyPair().privateKeyPem;
  const clock = new ManualClock(new Date('2026-11-24T02:00:00.000Z'));
  const items = (n: number): NewEvidence[] =>
    Array.from({ length: n }, (_, i) => ({ notificationId: null, type: 'test.event', payload: { i } }));

  beforeAll(async () => {
    const env: Record<string, string> = { NODE_ENV: 'test', EVIDENCE_SIGNING_KEY: keyPem };
    if (dialect === 'postgres') {
      pg = await createPgDatabase();
      env.DATABASE_URL = pg.url;
    } else {
      dir = await mkdtemp(join(tmpdir(), 'tlog-spec-'));
      env.SQLITE_PATH = join(dir, 'notices.db');
    }
    const config = loadConfig(env);
    ds = createDataSource(config.database);
    await ds.initialize();
    await runMigrations(ds);
    db = new Db(ds);
    const keys = new EvidenceSigningKeys(config);
    evidence = new EvidenceService(db, clock, keys);
    integrity = new EvidenceIntegrity(db, keys, clock);
    checkpoints = new CheckpointService(db, keys, clock, config, integrity);
  }, 30_000);

  afterAll(async () => {
    await ds?.destroy();
    await pg?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('signs one SET per batch over every case and event, and the log checkpoints them', async () => {
    const batch = () =>
      new Map([
        ['C-b', items(2)],
        ['C-a', items(3)],
        ['C-c', items(1)],
      ]);
    await db.transaction((tx) => evidence.appendMany(tx, batch()));
    await db.transaction((tx) => evidence.appendMany(tx, batch()));
    const sets = await db.rows<{ body: string }>('SELECT body FROM evidence_sets ORDER BY id');
    expect(sets).toHaveLength(2);
    expect((JSON.parse(sets[1].body) as { entries: unknown[] }).entries).toHaveLength(6);
    const ranges = await db.rows<{ case_id: string; from_seq: number; to_seq: number }>(
      "SELECT case_id, from_seq, to_seq FROM evidence_set_cases WHERE case_id = 'C-a' ORDER BY from_seq",
    );
    expect(ranges.map((r) => [Number(r.from_seq), Number(r.to_seq)])).toEqual([
      [1, 3],
      [4, 6],
    ]);
    for (const c of ['C-a', 'C-b', 'C-c']) expect(await evidence.verifyCase(c)).toMatchObject({ ok: true });
    const cp = await checkpoints.create('on_demand');
    expect(cp?.signed.checkpoint).toMatchObject({ logSize: 12, treeSize: 3 });
    expect(await integrity.check()).toEqual([]);
    await db.transaction((tx) => evidence.append(tx, 'C-a', items(1)));
    const next = await checkpoints.create('scheduled', { skipIfUnchanged: true });
    expect(next?.signed.checkpoint.logSize).toBe(13);
    expect(await checkpoints.create('scheduled', { skipIfUnchanged: true })).toBeNull();
    expect(await integrity.check()).toEqual([]);
  });

  it('a SET verified with another key, or edited behind the triggers, covers nothing', async () => {
    const otherKey = new EvidenceSigningKeys(
      loadConfig({
        NODE_ENV: 'test',
        SQLITE_PATH: ':memory:',
        EVIDENCE_SIGNING_KEY: generateSigningKeyPair().privateKeyPem,
      }),
    );
    expect(await new EvidenceService(db, clock, otherKey).verifyCase('C-b')).toMatchObject({
      ok: false,
      failure: 'forged',
      brokenSeq: 1,
    });
    // Edit the second SET so it lists another hash for C-b seq 3 (a superuser lifts the guard).
    const [s2] = await db.rows<{ id: number | string; body: string }>(
      'SELECT id, body FROM evidence_sets ORDER BY id LIMIT 1 OFFSET 1',
    );
    const [e3] = await db.rows<{ hash: string }>(
      "SELECT hash FROM evidence_events WHERE case_id = 'C-b' AND seq = 3",
    );
    const edited = s2.body.replace(`"C-b",3,"${e3.hash}"`, `"C-b",3,"${'0'.repeat(64)}"`);
    expect(edited).not.toBe(s2.body);
    if (dialect === 'postgres')
      await db.exec('ALTER TABLE evidence_sets DISABLE TRIGGER evidence_sets_append_only');
    else await db.exec('DROP TRIGGER evidence_sets_no_update');
    await db.exec('UPDATE evidence_sets SET body = ? WHERE id = ?', [edited, s2.id]);
    const keys = new EvidenceSigningKeys(
      loadConfig({ NODE_ENV: 'test', SQLITE_PATH: ':memory:', EVIDENCE_SIGNING_KEY: keyPem }),
    );
    const v = await new EvidenceService(db, clock, keys).verifyCase('C-b');
    expect(v).toMatchObject({ ok: false, failure: 'forged', brokenSeq: 3 });
    expect(v.detail).toMatch(/signature does not verify/);
  });
});

/** A database with evidence from before this migration: its chains are adopted by one signed SET. */
describe.each(['sqlite', 'postgres'] as const)('pre-transparency evidence (%s)', (dialect) => {
  let dir: string | undefined;
  let pg: TempDatabase | undefined;
  let ds: DataSource;
  let db: Db;
  const keyPem = generateSigningKeyPair().privateKeyPem;
  const clock = new ManualClock(new Date('2026-11-24T02:00:00.000Z'));

  beforeAll(async () => {
    const env: Record<string, string> = { NODE_ENV: 'test', EVIDENCE_SIGNING_KEY: keyPem };
    if (dialect === 'postgres') {
      pg = await createPgDatabase();
      env.DATABASE_URL = pg.url;
    } else {
      dir = await mkdtemp(join(tmpdir(), 'tlog-legacy-'));
      env.SQLITE_PATH = join(dir, 'notices.db');
    }
    ds = createDataSource(loadConfig(env).database);
    await ds.initialize();
    await runMigrations(ds);
    // Back to the schema before the transparency log (its down(), and those of later migrations).
    const applied = async () =>
      ((await ds.query('SELECT name FROM migrations')) as { name: string }[]).map((r) => r.name);
    while ((await applied()).some((n) => n.startsWith('TransparencyLog'))) await ds.undoLastMigration();
    db = new Db(ds);
  }, 30_000);

  afterAll(async () => {
    await ds?.destroy();
    await pg?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('verifies old chains after the first start signs their adoption, and appends continue', async () => {
    // Evidence as the service wrote it before: events and a head, no SET.
    const { events, head } = chainEvents(
      { seq: 0, hash: '0'.repeat(64) },
      [1, 2, 3].map((i) => ({
        caseId: 'C-old',
        notificationId: null,
        type: 'test.event',
        occurredAt: '2026-11-01T00:00:00.000Z',
        recordedAt: '2026-11-01T00:00:00.000Z',
        payload: { i },
      })),
    );
    for (const e of events) {
      await db.exec(
        'INSERT INTO evidence_events (case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          e.caseId,
          e.seq,
          null,
          e.type,
          e.occurredAt,
          e.recordedAt,
          JSON.stringify(e.payload),
          e.prevHash,
          e.hash,
        ],
      );
    }
    await db.exec('INSERT INTO case_heads (case_id, last_seq, last_hash, updated_at) VALUES (?, ?, ?, ?)', [
      'C-old',
      head.seq,
      head.hash,
      0,
    ]);
    await runMigrations(ds);
    const config = loadConfig({ NODE_ENV: 'test', SQLITE_PATH: ':memory:', EVIDENCE_SIGNING_KEY: keyPem });
    const keys = new EvidenceSigningKeys(config);
    const integrity = new EvidenceIntegrity(db, keys, clock);
    expect(await new EvidenceService(db, clock, keys).verifyCase('C-old')).toMatchObject({
      ok: false,
      failure: 'forged',
      brokenSeq: 1,
      detail: expect.stringMatching(/not adopted/),
    });
    const adopted = await integrity.adoptLegacy();
    expect(adopted).not.toBeNull();
    expect(await integrity.adoptLegacy()).toBeNull(); // once
    const evidence = new EvidenceService(db, clock, keys);
    expect(await evidence.verifyCase('C-old')).toMatchObject({ ok: true, events: 3 });
    await db.transaction((tx) =>
      evidence.append(tx, 'C-old', [{ notificationId: null, type: 'test.event', payload: { i: 4 } }]),
    );
    expect(await evidence.verifyCase('C-old')).toMatchObject({ ok: true, events: 4 });
    const checkpoints = new CheckpointService(db, keys, clock, config, integrity);
    expect((await checkpoints.create('on_demand'))?.signed.checkpoint.logSize).toBe(4);
    expect(await integrity.check()).toEqual([]);
  });
});
