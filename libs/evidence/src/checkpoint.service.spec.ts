import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { type AppConfig, loadConfig } from '#libs/config';
import { ManualClock } from '#libs/core';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { InProcessPeriodicTasks } from '#libs/queue';
import { startTestTsa, type TestTsa } from '../../../test/tsa/server.js';
import { CheckpointScheduler, CheckpointService } from './checkpoint.service.js';
import { EvidenceSigningKeys, resolveSigningKey } from './signer.js';
import { EvidenceService } from './evidence.service.js';
import { CaseHeadTree, verifyCaseInclusion } from './merkle.js';
import { verifySignedCheckpoint } from './signing.js';
import { RetentionService, retentionCutoff } from './retention.js';

const run = promisify(execFile);

describe('checkpoints, keys and retention on SQLite', () => {
  let dir: string;
  let ds: DataSource;
  let db: Db;
  let tsa: TestTsa;
  let config: AppConfig;
  const clock = new ManualClock(new Date('2026-11-24T02:00:00.000Z'));
  let evidence: EvidenceService;
  let keys: EvidenceSigningKeys;
  let checkpoints: CheckpointService;

  const append = (caseId: string, n = 1) =>
    db.transaction((tx) =>
      evidence.append(
        tx,
        caseId,
        Array.from({ length: n }, (_, i) => ({ notificationId: null, type: 'test.event', payload: { i } })),
      ),
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'checkpoint-spec-'));
    tsa = await startTestTsa();
    config = loadConfig({
      NODE_ENV: 'test',
      SQLITE_PATH: join(dir, 'notices.db'),
      TSA_URL: tsa.url,
      TSA_CA_CERT_FILE: tsa.caPem,
    });
    ds = createDataSource(config.database);
    await ds.initialize();
    await runMigrations(ds);
    db = new Db(ds);
    evidence = new EvidenceService(db, clock);
    keys = new EvidenceSigningKeys(config);
    checkpoints = new CheckpointService(db, keys, clock, config);
  }, 30_000);

  afterAll(async () => {
    await ds?.destroy();
    await tsa?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('generates the standalone key once, mode 0600, next to the SQLite file', async () => {
    const file = join(dir, 'evidence-signing-key.pem');
    expect(config.evidence.generatedKeyFile).toBe(file);
    const key = keys.get();
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
    // A second process (or restart) loads the same key rather than making a new one.
    const again = resolveSigningKey({ generatedFile: file });
    expect(again?.source).toBe('generated-earlier');
    expect(again?.key.keyId).toBe(key.keyId);
    expect(resolveSigningKey({})).toBeUndefined();
  });

  it('signs a root over every case head, time-stamps it, and proves each head', async () => {
    await append('C-b', 3);
    await append('C-a', 2);
    await append('C-c', 1);
    const c = await checkpoints.create('on_demand');
    expect(c).not.toBeNull();
    if (!c) return;
    expect(verifySignedCheckpoint(c.signed, keys.get().publicKeyPem)).toMatchObject({ ok: true });
    const heads = await db.rows<{ case_id: string; last_seq: number; last_hash: string }>(
      'SELECT case_id, last_seq, last_hash FROM case_heads',
    );
    const tree = new CaseHeadTree(
      heads.map((h) => ({ caseId: h.case_id, seq: h.last_seq, hash: h.last_hash })),
    );
    expect(c.signed.checkpoint).toMatchObject({ treeSize: 3, rootHash: tree.rootHash });
    const p = await checkpoints.proof('C-b');
    expect(p?.proof.head).toMatchObject({ caseId: 'C-b', seq: 3 });
    expect(verifyCaseInclusion(p!.proof, c.signed.checkpoint.rootHash)).toEqual({ ok: true });

    // The token is stored and openssl accepts it against the test CA.
    expect(c.tsaToken).toBeDefined();
    const stored = await checkpoints.get(c.id);
    expect(stored?.tsaToken?.equals(c.tsaToken!)).toBe(true);
    await writeFile(join(dir, 'cp.json'), c.signed.body);
    await writeFile(join(dir, 'cp.tsr'), c.tsaToken!);
    const { stdout } = await run('openssl', [
      'ts',
      '-verify',
      '-data',
      join(dir, 'cp.json'),
      '-in',
      join(dir, 'cp.tsr'),
      '-CAfile',
      tsa.caPem,
      '-untrusted',
      tsa.tsaPem,
    ]);
    expect(stdout).toMatch(/Verification: OK/);
  });

  it('keeps no time stamp from a TSA that does not chain to TSA_CA_CERT_FILE (tsa_error names the chain)', async () => {
    const rogue = await startTestTsa();
    try {
      await append('C-rogue', 1);
      const other = new CheckpointService(db, keys, clock, {
        ...config,
        evidence: { ...config.evidence, tsaUrl: rogue.url },
      });
      const c = (await other.create('on_demand'))!;
      expect(rogue.served).toBe(1);
      expect(c.tsaToken).toBeUndefined();
      expect(c.tsaError).toMatch(/does not chain to a trusted certificate/);
      const stored = await checkpoints.get(c.id);
      expect(stored?.tsaToken).toBeUndefined();
      expect(stored?.tsaError).toMatch(/does not chain/);
    } finally {
      await rogue.close();
    }
  }, 30_000);

  it('keeps only changed leaves and still proves heads of older checkpoints', async () => {
    const first = await checkpoints.latest();
    await append('C-a', 1);
    const second = await checkpoints.create('scheduled');
    const [{ n }] = await db.rows<{ n: number }>(
      'SELECT COUNT(*) AS n FROM checkpoint_leaves WHERE checkpoint_id = ?',
      [second!.id],
    );
    expect(Number(n)).toBe(1); // only C-a moved
    // An unchanged ledger makes no scheduled checkpoint.
    expect(await checkpoints.create('scheduled', { skipIfUnchanged: true })).toBeNull();

    // A fresh service (no cache) rebuilds both trees from the stored leaves.
    const cold = new CheckpointService(db, keys, clock, config);
    const old = await cold.proof('C-a', first!.id);
    expect(old?.proof.head.seq).toBe(2);
    expect(verifyCaseInclusion(old!.proof, first!.signed.checkpoint.rootHash).ok).toBe(true);
    const now = await cold.proof('C-a', second!.id);
    expect(now?.proof.head.seq).toBe(3);
    expect(verifyCaseInclusion(now!.proof, second!.signed.checkpoint.rootHash).ok).toBe(true);
    expect(verifyCaseInclusion(now!.proof, first!.signed.checkpoint.rootHash).ok).toBe(false);
  });

  it('covering() reuses the latest checkpoint when it has the head, else takes a fresh one', async () => {
    const latest = await checkpoints.latest();
    const same = await checkpoints.covering('C-c');
    expect(same.checkpoint.id).toBe(latest!.id);
    await append('C-c', 2);
    const fresh = await checkpoints.covering('C-c');
    expect(fresh.checkpoint.id).toBeGreaterThan(latest!.id);
    expect(fresh.checkpoint.reason).toBe('bundle');
    expect(fresh.proof.head.seq).toBe(3);
    await expect(checkpoints.covering('C-none')).rejects.toThrow(/no evidence/);
  });

  it('retention lists old cases without a legal hold and deletes nothing', async () => {
    const old = new Date('2020-01-10T00:00:00.000Z');
    clock.set(old);
    await append('R-old', 2);
    await append('R-held', 2);
    await db.exec(
      "INSERT INTO case_holds (id, case_id, kind, until_at, reason, breached, created_by, created_at) VALUES ('h1', 'R-held', 'legal_hold', NULL, 'litigation', 0, 'test', ?)",
      [old.getTime()],
    );
    clock.set(new Date('2026-11-24T02:00:00.000Z'));
    const report = await new RetentionService(db, clock, config).report();
    expect(report.retentionYears).toBe(5);
    expect(report.cutoff).toBe('2021-11-24T02:00:00.000Z');
    expect(report.pastRetention.map((c) => c.caseId)).toEqual(['R-old']);
    expect(report.onLegalHold.map((c) => c.caseId)).toEqual(['R-held']);
    expect(report.pastRetention[0].retainUntil).toBe('2025-01-10T00:00:00.000Z');
    const [{ n }] = await db.rows<{ n: number }>(
      "SELECT COUNT(*) AS n FROM evidence_events WHERE case_id = 'R-old'",
    );
    expect(Number(n)).toBe(2);
    expect(retentionCutoff(new Date('2028-02-29T00:00:00Z'), 3).toISOString()).toBe(
      '2023-02-28T00:00:00.000Z',
    );
  });

  it('the scheduler takes a checkpoint every interval when a head moved, none when idle', async () => {
    const fast = { ...config, evidence: { ...config.evidence, checkpointIntervalMs: 40, tsaUrl: undefined } };
    const svc = new CheckpointService(db, keys, clock, fast);
    const scheduler = new CheckpointScheduler(svc, keys, fast, new InProcessPeriodicTasks());
    const count = async () =>
      Number(
        (await db.rows<{ n: number }>("SELECT COUNT(*) AS n FROM checkpoints WHERE reason = 'scheduled'"))[0]
          .n,
      );
    await append('S-1', 1);
    const before = await count();
    await scheduler.onApplicationBootstrap();
    try {
      const deadline = Date.now() + 5_000;
      while ((await count()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await count()).toBe(before + 1);
      await new Promise((r) => setTimeout(r, 200)); // several idle intervals
      expect(await count()).toBe(before + 1);
      const latest = await svc.latest();
      expect((await svc.proof('S-1', latest!.id))?.proof.head.seq).toBe(1);
    } finally {
      await scheduler.onApplicationShutdown();
    }
  });

  it('the key file can be given instead', async () => {
    const file = join(dir, 'given.pem');
    await writeFile(file, await readFile(join(dir, 'evidence-signing-key.pem')));
    expect(resolveSigningKey({ file })?.key.keyId).toBe(keys.get().keyId);
  });
});
