import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { type AppConfig, loadConfig } from '#libs/config';
import { ManualClock } from '#libs/core';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { CheckpointService } from '../checkpoint.service.js';
import { EvidenceService } from '../evidence.service.js';
import { LogVerifyPool } from '../log/verify-pool.js';
import { EvidenceSigningKeys } from '../signer.js';
import { generateSigningKeyPair } from '../signing.js';
import { ANCHOR_FILE, CheckpointAnchor } from './anchor.js';
import { EvidenceIntegrity } from './integrity.service.js';
import { eventLeafHash } from './set.js';

describe('the log check on SQLite (EvidenceIntegrity.checkLog)', () => {
  let dir: string;
  let ds: DataSource;
  let db: Db;
  let config: AppConfig;
  const clock = new ManualClock(new Date('2026-11-24T02:00:00.000Z'));
  let evidence: EvidenceService;
  let integrity: EvidenceIntegrity;
  let checkpoints: CheckpointService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'integrity-spec-'));
    config = loadConfig({
      NODE_ENV: 'test',
      SQLITE_PATH: join(dir, 'notices.db'),
      EVIDENCE_SIGNING_KEY: generateSigningKeyPair().privateKeyPem,
    });
    ds = createDataSource(config.database);
    await ds.initialize();
    await runMigrations(ds);
    db = new Db(ds);
    const keys = new EvidenceSigningKeys(config);
    const anchor = new CheckpointAnchor(config);
    evidence = new EvidenceService(db, clock, keys);
    integrity = new EvidenceIntegrity(db, keys, clock, anchor);
    checkpoints = new CheckpointService(db, keys, clock, config, integrity, undefined, anchor);
    // Batches of several cases, more than one page of SETs and leaves would need: the paging and
    // the pool's ordering are what is under test, not the size.
    for (let b = 0; b < 30; b++) {
      await db.transaction((tx) =>
        evidence.appendMany(
          tx,
          new Map(
            [0, 1, 2].map((c) => [
              `C-${(b + c) % 7}`,
              [{ notificationId: null, type: 'test.event', payload: { b, c } }],
            ]),
          ),
        ),
      );
    }
  }, 30_000);

  afterAll(async () => {
    await integrity?.onApplicationShutdown();
    await ds?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('an intact log: no finding, and the tree of the stored leaves the checkpoint signed', async () => {
    const made = await checkpoints.create('on_demand');
    expect(made?.signed.checkpoint.logSize).toBe(90);
    const { findings, tree } = await integrity.checkLog();
    expect(findings).toEqual([]);
    expect(tree.size).toBe(90);
    expect(tree.root().toString('hex')).toBe(made?.signed.checkpoint.logRoot);
    const rows = await db.rows<{ case_id: string; seq: number; hash: string }>(
      'SELECT e.case_id, e.seq, e.hash FROM log_leaves l JOIN evidence_events e ON e.id = l.event_id ORDER BY l.idx',
    );
    expect(tree.leafHash(89).toString('hex')).toBe(
      eventLeafHash({ caseId: rows[89].case_id, seq: rows[89].seq, hash: rows[89].hash }),
    );
    // The checkpoint is kept outside the database too.
    const kept = JSON.parse(await readFile(join(dir, ANCHOR_FILE), 'utf8')) as { id: number; body: string };
    expect(kept).toMatchObject({ id: made?.id, body: made?.signed.body });
  });

  it('worker threads and inline give the same page results', async () => {
    const [page] = await db.rows<{ page: string }>(
      `SELECT json_group_array(json_array(l.idx, l.leaf_hash, e.hash, e.seq, e.case_id)) AS page
       FROM log_leaves l JOIN evidence_events e ON e.id = l.event_id`,
    );
    const workers = new LogVerifyPool({ threads: 2 });
    const inline = new LogVerifyPool({ threads: 0 });
    try {
      expect([workers.threads, inline.threads]).toEqual([2, 0]); // the worker file from the build
      const input = { json: page.page, start: 0, end: 90 };
      const [a, b] = await Promise.all([workers.leaves(input), inline.leaves(input)]);
      expect(Buffer.from(a.packed).equals(Buffer.from(b.packed))).toBe(true);
      expect(a).toMatchObject({ count: 90, firstGap: -1, missing: [], mismatched: [] });
    } finally {
      await workers.close();
      await inline.close();
    }
  });

  it('a SET rewritten behind the triggers is named by its id', async () => {
    const [{ sql }] = await db.rows<{ sql: string }>(
      "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'evidence_sets_no_update'",
    );
    await db.exec('DROP TRIGGER evidence_sets_no_update');
    await db.exec(`UPDATE evidence_sets SET body = REPLACE(body, '"C-', '"X-') WHERE id = 7`);
    await db.exec(sql);
    const { findings } = await integrity.checkLog();
    expect(findings).toEqual([
      {
        kind: 'set_signature',
        detail:
          'signed entry timestamp 7: signature does not verify: the events it lists were not signed by the evidence key',
      },
    ]);
  });
});
