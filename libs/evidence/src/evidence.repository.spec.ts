import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#libs/config';
import { createDataSource, Db, runMigrations, type SqlRunner } from '#libs/persistence';
import { GENESIS_HASH } from './chain.js';
import { type EventInsert, EvidenceRepository } from './evidence.repository.js';

/**
 * The ledger's statements on a migrated SQLite database, without the service: heads are created
 * once and then returned as stored, multi-row writes cross the chunk size, reads keep seq order.
 */
describe('EvidenceRepository on SQLite', () => {
  let dir: string;
  let ds: DataSource;
  let db: Db;
  let repo: EvidenceRepository;
  /** The SETs the SET test stores: the adoption `a` (covers S-0..S-699 at 1..2) and `b` (S-0 at 3). */
  const setIds = { a: 0, b: 0 };

  const event = (caseId: string, seq: number, notificationId: string | null = null): EventInsert => ({
    caseId,
    seq,
    notificationId,
    type: 'test.event',
    occurredAt: '2026-12-04T00:00:00.000Z',
    recordedAt: '2026-12-04T00:00:01.000Z',
    payload: JSON.stringify({ seq }),
    prevHash: seq === 1 ? GENESIS_HASH : `h-${caseId}-${seq - 1}`,
    hash: `h-${caseId}-${seq}`,
  });

  /** A SET covering `ranges`: the case_heads trigger lets a head move only to a signed event. */
  const sign = async (tx: SqlRunner, ranges: [string, number, number][]) => {
    const id = await repo.insertSet(tx, { createdAt: 1, keyId: 'k0', body: '{"time":"t"}', signature: 's' });
    await repo.insertSetCases(tx, id, ranges);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'evidence-repo-spec-'));
    const config = loadConfig({ NODE_ENV: 'test', SQLITE_PATH: join(dir, 'notices.db') });
    ds = createDataSource(config.database);
    await ds.initialize();
    await runMigrations(ds);
    db = new Db(ds);
    repo = new EvidenceRepository(db);
  }, 30_000);

  afterAll(async () => {
    await ds?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates missing heads at genesis and returns existing ones unchanged', async () => {
    const first = await db.transaction((tx) => repo.lockHeads(tx, ['C-a', 'C-b'], GENESIS_HASH, 1));
    expect(first.map((r) => [r.case_id, Number(r.last_seq), r.last_hash]).sort()).toEqual([
      ['C-a', 0, GENESIS_HASH],
      ['C-b', 0, GENESIS_HASH],
    ]);
    await db.transaction(async (tx) => {
      await repo.insertEvents(tx, [event('C-a', 1), event('C-a', 2)]);
      // Unsigned, the advance is refused by the database; signed, it goes through.
      await expect(repo.advanceHeads(tx, [['C-a', { seq: 2, hash: 'h-C-a-2' }]], 2)).rejects.toThrow(
        /only moves forward/,
      );
      await sign(tx, [['C-a', 1, 2]]);
      await repo.advanceHeads(tx, [['C-a', { seq: 2, hash: 'h-C-a-2' }]], 2);
    });
    const again = await db.transaction((tx) => repo.lockHeads(tx, ['C-a', 'C-b', 'C-c'], GENESIS_HASH, 3));
    expect(new Map(again.map((r) => [r.case_id, [Number(r.last_seq), r.last_hash]]))).toEqual(
      new Map([
        ['C-a', [2, 'h-C-a-2']],
        ['C-b', [0, GENESIS_HASH]],
        ['C-c', [0, GENESIS_HASH]],
      ]),
    );
    expect(await repo.head('C-a')).toMatchObject({ last_hash: 'h-C-a-2' });
    expect(Number((await repo.head('C-a'))?.last_seq)).toBe(2);
    expect(await repo.head('C-none')).toBeUndefined();
  });

  it('reads a case chain whole, by keyset page and by notification, in seq order', async () => {
    await db.transaction((tx) =>
      repo.insertEvents(tx, [event('C-b', 2, 'N-2'), event('C-b', 1, 'N-1'), event('C-b', 3, 'N-2')]),
    );
    const all = await repo.caseEvents('C-b');
    expect(all.map((r) => Number(r.seq))).toEqual([1, 2, 3]);
    expect(all[0]).toMatchObject({
      case_id: 'C-b',
      notification_id: 'N-1',
      type: 'test.event',
      payload: '{"seq":1}',
      prev_hash: GENESIS_HASH,
      hash: 'h-C-b-1',
    });
    expect((await repo.caseEventsPage('C-b', 1, 1)).map((r) => Number(r.seq))).toEqual([2]);
    expect((await repo.caseEventsPage('C-b', 3, 10)).length).toBe(0);
    expect((await repo.notificationEvents('N-2')).map((r) => Number(r.seq))).toEqual([2, 3]);
  });

  it('writes and advances more heads than one chunk holds', async () => {
    const ids = Array.from({ length: 1203 }, (_, i) => `M-${String(i).padStart(5, '0')}`);
    await db.transaction(async (tx) => {
      expect((await repo.lockHeads(tx, ids, GENESIS_HASH, 5)).length).toBe(ids.length);
      await repo.insertEvents(
        tx,
        ids.map((c) => event(c, 1)),
      );
      await sign(
        tx,
        ids.map((c) => [c, 1, 1]),
      );
      await repo.advanceHeads(
        tx,
        ids.map((c) => [c, { seq: 1, hash: `h-${c}-1` }]),
        6,
      );
    });
    for (const c of [ids[0], ids[500], ids[1202]]) {
      expect(await repo.head(c)).toMatchObject({ last_hash: `h-${c}-1` });
      expect((await repo.caseEvents(c)).map((r) => r.hash)).toEqual([`h-${c}-1`]);
    }
  });

  it('stores SETs with their case ranges and finds them by case and by id', async () => {
    const ranges: [string, number, number][] = Array.from({ length: 700 }, (_, i) => [`S-${i}`, 1, 2]);
    const [a, b] = await db.transaction(async (tx) => {
      const a = await repo.insertSet(tx, {
        createdAt: 1,
        keyId: 'k1',
        body: '{"adopts":1}',
        signature: 'sig-a',
      });
      await repo.insertSetCases(tx, a, ranges);
      const b = await repo.insertSet(tx, {
        createdAt: 2,
        keyId: 'k1',
        body: '{"time":"x"}',
        signature: 'sig-b',
      });
      await repo.insertSetCases(tx, b, [['S-0', 3, 3]]);
      return [a, b];
    });
    Object.assign(setIds, { a, b });
    expect(b).toBeGreaterThan(a);
    expect((await repo.setIdsOfCase('S-0')).sort()).toEqual([a, b]);
    expect(await repo.setIdsOfCase('S-699')).toEqual([a]);
    expect(await repo.setIdsOfCase('S-none')).toEqual([]);
    const many = [a, b, ...Array.from({ length: 600 }, (_, i) => 1_000_000 + i)];
    const rows = await repo.setsByIds(many);
    expect(rows.map((r) => [Number(r.id), r.key_id, r.signature]).sort()).toEqual([
      [a, 'k1', 'sig-a'],
      [b, 'k1', 'sig-b'],
    ]);
    expect(await repo.setsByIds([])).toEqual([]);
    expect(await repo.adoptionSets()).toEqual([{ body: '{"adopts":1}', signature: 'sig-a' }]);
  });

  it('serves the read side: bounded event pages, SETs of a bundle, artifacts, head searches, legal holds', async () => {
    expect((await repo.caseEventsUpTo('C-b', 0, 2, 10)).map((r) => Number(r.seq))).toEqual([1, 2]);
    expect((await repo.caseEventsUpTo('C-b', 1, 3, 1)).map((r) => Number(r.seq))).toEqual([2]);

    // A bundle carries the SETs covering its events up to its seq, and every adoption.
    const ids = (rows: { id: number | string }[]) => rows.map((r) => Number(r.id));
    expect(ids(await repo.bundleSets(0, 'S-0', 2))).toEqual([setIds.a]);
    expect(ids(await repo.bundleSets(0, 'S-0', 3))).toEqual([setIds.a, setIds.b]);
    expect(ids(await repo.bundleSets(setIds.a, 'S-0', 3))).toEqual([setIds.b]);
    expect(ids(await repo.bundleSets(0, 'C-none', 9))).toEqual([setIds.a]);

    await db.exec(
      'INSERT INTO artifacts (sha256, media_type, size, content, created_at) VALUES (?, ?, ?, ?, ?)',
      ['ab'.repeat(32), 'text/plain', 3, Buffer.from('abc'), 1],
    );
    const art = await repo.artifact('ab'.repeat(32));
    expect(art?.media_type).toBe('text/plain');
    expect(Buffer.from(art?.content ?? []).toString()).toBe('abc');
    expect(await repo.artifact('cd'.repeat(32))).toBeUndefined();

    // Case ids with LIKE wildcards in them: `%` sorts before `_` before letters.
    const cases = ['R%2', 'R_1', 'Rx3'];
    await db.transaction(async (tx) => {
      await repo.lockHeads(tx, cases, GENESIS_HASH, 10);
      await repo.insertEvents(
        tx,
        cases.map((c) => event(c, 1)),
      );
      await sign(
        tx,
        cases.map((c) => [c, 1, 1]),
      );
      await repo.advanceHeads(
        tx,
        cases.map((c) => [c, { seq: 1, hash: `h-${c}-1` }]),
        10,
      );
      expect(Number(await repo.headSeq(tx, 'R_1'))).toBe(1);
      expect(Number(await repo.headSeq(tx, 'C-b'))).toBe(0);
      expect(await repo.headSeq(tx, 'C-none')).toBeUndefined();
    });
    const heads = (rows: { case_id: string }[]) => rows.map((r) => r.case_id);
    expect(heads(await repo.headsLike('R%', '', 10))).toEqual(cases);
    expect(heads(await repo.headsLike('R\\_%', '', 10))).toEqual(['R_1']);
    expect(heads(await repo.headsLike('R%', 'R%2', 1))).toEqual(['R_1']);
    // Heads still at seq 0 are no case with evidence.
    expect(heads(await repo.headsLike('C-%', '', 10))).toEqual(['C-a']);
    expect(await repo.caseIdsAfter('R', 2)).toEqual(['R%2', 'R_1']);
    expect(await repo.caseIdsAfter('Rx3', 1)).toEqual([]);
    expect(heads(await repo.headsIdleSince(11, 'R', 10))).toEqual(cases);
    expect(heads(await repo.headsIdleSince(10, 'R', 10))).toEqual([]);
    expect(heads(await repo.headsIdleSince(3, '', 10))).toEqual(['C-a']);

    const hold = (id: string, caseId: string, kind: string, until: number | null, released: number | null) =>
      db.exec(
        'INSERT INTO case_holds (id, case_id, kind, until_at, created_by, created_at, released_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [id, caseId, kind, until, 'spec', 1, released],
      );
    await hold('h1', 'R_1', 'legal_hold', null, null);
    await hold('h2', 'R%2', 'legal_hold', null, 50);
    await hold('h3', 'Rx3', 'legal_hold', 90, null);
    await hold('h4', 'Rx3', 'contact_hold', null, null);
    expect(await repo.legallyHeld(100, cases)).toEqual(['R_1']);
    expect((await repo.legallyHeld(80, cases)).sort()).toEqual(['R_1', 'Rx3']);
  });
});
