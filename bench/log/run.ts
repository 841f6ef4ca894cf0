/**
 * B6 transparency log: the global evidence log at 1,000,000 events (issue 12). Measured, side by
 * side in one process: appending the leaves and taking a checkpoint (root + C2SP note signed),
 * inclusion and consistency proof sizes and times, the SETs of the append batches, and verifying
 * the whole log from storage with the service's own check, EvidenceIntegrity.checkLog (a migrated
 * SQLite file with the events, `log_leaves`, the SETs and a signed checkpoint: every leaf
 * recomputed from its event row, every SET's signature checked, the root rebuilt and compared with
 * the checkpoint).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { loadConfig } from '#libs/config';
import { OffsetClock } from '#libs/core';
import {
  EMPTY_TREE_ROOT,
  EvidenceIntegrity,
  EvidenceSigningKeys,
  eventLeafHash,
  FileSigner,
  generateSigningKeyPair,
  loadSigningKey,
  MerkleLevels,
  setBody,
  type SetEntry,
  signBytes,
  signCheckpointWith,
  signLogCheckpoint,
  verifyConsistencyProof,
  verifyInclusionProof,
} from '#libs/evidence';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { envInt } from '../support/stack.js';

const ORIGIN = 'bank.example/evidence-log';
/** Events per append batch (one SET each): the eight events of a delivered SMS notice. */
const BATCH = 8;

function cpuMs(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

function timed<T>(fn: () => T): { value: T; ms: number; cpu: number } {
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t, cpu: cpuMs(cpu0) };
}

export async function benchLog(): Promise<{ section: string[]; verifyMs: number }> {
  const n = envInt('BENCH_B6_N', 1_000_000);
  const pem = generateSigningKeyPair().privateKeyPem;
  const key = loadSigningKey(pem);
  const signer = new FileSigner(key);
  const cases = Math.max(1, Math.floor(n / 80));
  const caseOf = (i: number) => `C-${String(i % cases).padStart(7, '0')}`;
  const hashOf = (i: number) =>
    i < 0 ? '0'.repeat(64) : createHash('sha256').update(`event ${i}`).digest('hex');
  const seqOf = (i: number) => Math.floor(i / cases) + 1;
  console.log(`B6: ${n} events in ${cases} cases`);

  // 1. Appending the leaves (what the integrator does) and signing the SETs of the batches.
  const append = timed(() => {
    const tree = new MerkleLevels(n);
    for (let i = 0; i < n; i++) {
      tree.append(Buffer.from(eventLeafHash({ caseId: caseOf(i), seq: seqOf(i), hash: hashOf(i) }), 'hex'));
    }
    return tree;
  });
  const tree = append.value;
  const sets: { body: string; signature: string }[] = [];
  const setSign = timed(() => {
    for (let i = 0; i < n; i += BATCH) {
      const entries: SetEntry[] = [];
      for (let j = i; j < Math.min(n, i + BATCH); j++) entries.push([caseOf(j), seqOf(j), hashOf(j)]);
      const body = setBody({ time: '2026-12-03T00:00:00.000Z', keyId: key.keyId, entries });
      sets.push({ body, signature: signBytes(key, Buffer.from(body, 'utf8')).toString('base64') });
    }
  });

  // 2. A checkpoint: the root and the signed C2SP note.
  const rootT = timed(() => tree.root(n));
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  await signLogCheckpoint(signer, ORIGIN, n, rootT.value);
  const noteMs = performance.now() - t;
  const noteCpu = cpuMs(cpu0);

  // 3. Proofs: inclusion of 10,000 leaves, consistency from half the log.
  const samples = Math.min(10_000, n);
  const inc = timed(() => {
    let bytes = 0;
    for (let k = 0; k < samples; k++)
      bytes += tree.inclusionProof(Math.floor((k * n) / samples), n).length * 32;
    return bytes / samples;
  });
  const proofs = Array.from({ length: samples }, (_, k) =>
    tree.inclusionProof(Math.floor((k * n) / samples), n),
  );
  const incVerify = timed(() => {
    for (let k = 0; k < samples; k++) {
      const idx = Math.floor((k * n) / samples);
      if (!verifyInclusionProof(tree.leafHash(idx), idx, n, proofs[k], rootT.value))
        throw new Error('inclusion');
    }
  });
  const m = Math.floor(n / 2) + 1;
  const cons = timed(() => tree.consistencyProof(m, n));
  const consVerify = timed(() => {
    if (!verifyConsistencyProof(m, n, cons.value, tree.root(m), rootT.value)) throw new Error('consistency');
  });

  // 4. Verifying the log from storage with the service's own check (EvidenceIntegrity.checkLog, what
  // runs at start and before every checkpoint): a migrated SQLite database holding the events, the
  // log leaves, the SETs and the signed checkpoint over the whole log.
  const dir = mkdtempSync(join(tmpdir(), 'bench-log-'));
  const setCount = sets.length;
  const store = { writeMs: 0, totalMs: 0, totalCpu: 0, threads: 0, loadBefore: 0, loadAfter: 0 };
  const config = loadConfig({
    NODE_ENV: 'test',
    SQLITE_PATH: join(dir, 'notices.db'),
    EVIDENCE_SIGNING_KEY: pem,
  });
  const ds = createDataSource(config.database);
  try {
    await ds.initialize();
    await runMigrations(ds);
    const raw = (ds.driver as unknown as { databaseConnection: Database.Database }).databaseConnection;
    const signed = await signCheckpointWith(signer, {
      treeSize: 0,
      rootHash: EMPTY_TREE_ROOT.toString('hex'),
      createdAt: '2026-12-03T00:00:00.000Z',
      logSize: n,
      logRoot: rootT.value.toString('hex'),
    });
    const w = timed(() => {
      const ev = raw.prepare(
        `INSERT INTO evidence_events (id, case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash)
         VALUES (?, ?, ?, NULL, 'receipt.received', '2026-12-03T00:00:00.000Z', '2026-12-03T00:00:00.000Z', ?, ?, ?)`,
      );
      const lf = raw.prepare('INSERT INTO log_leaves VALUES (?, ?, ?, ?, ?)');
      const st = raw.prepare(
        'INSERT INTO evidence_sets (created_at, key_id, body, signature) VALUES (0, ?, ?, ?)',
      );
      raw.transaction(() => {
        for (let i = 0; i < n; i++) {
          ev.run(
            i + 1,
            caseOf(i),
            seqOf(i),
            '{"provider":"sandbox","status":"delivered"}',
            hashOf(i - 1),
            hashOf(i),
          );
          lf.run(i, i + 1, caseOf(i), seqOf(i), tree.leafHash(i).toString('hex'));
        }
        for (const s of sets) st.run(key.keyId, s.body, s.signature);
        raw
          .prepare(
            `INSERT INTO checkpoints (created_at, tree_size, root_hash, key_id, body, signature, reason, log_size, log_root)
             VALUES (0, 0, ?, ?, ?, ?, 'scheduled', ?, ?)`,
          )
          .run(
            signed.checkpoint.rootHash,
            key.keyId,
            signed.body,
            signed.signature,
            n,
            signed.checkpoint.logRoot,
          );
      })();
    });
    // A running service's WAL is checkpointed every 1000 pages; the bulk load left it holding the
    // whole log, which a start-up check never reads through.
    raw.pragma('wal_checkpoint(TRUNCATE)');
    store.writeMs = w.ms;
    // What the check does not need is let go first: it runs in a process with its own heap only.
    sets.length = 0;
    proofs.length = 0;
    const integrity = new EvidenceIntegrity(
      new Db(ds),
      new EvidenceSigningKeys(config),
      new OffsetClock(new Date('2026-12-03T00:00:00.000Z')),
    );
    store.loadBefore = loadavg()[0];
    const cpuStart = process.cpuUsage();
    const t0 = performance.now();
    const checked = await integrity.checkLog();
    store.loadAfter = loadavg()[0];
    store.totalMs = performance.now() - t0;
    // The workers' CPU time is in this process's usage (threads), idle pool threads aside.
    store.totalCpu = cpuMs(cpuStart);
    if (checked.findings.length > 0 || checked.tree.size !== n) {
      throw new Error(`log check: ${JSON.stringify(checked.findings)}`);
    }
    store.threads = integrity.verifyThreads;
    await integrity.onApplicationShutdown();
  } finally {
    if (ds.isInitialized) await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  }

  const f = (x: number) => x.toFixed(0);
  const us = (x: number) => (x * 1000).toFixed(1);
  console.log(`B6: verify from storage ${f(store.totalMs)} ms wall, ${f(store.totalCpu)} ms CPU`);
  const section = [
    '## B6 transparency log',
    '',
    `The global evidence log at ${n.toLocaleString('en-US')} events (${cases.toLocaleString('en-US')} cases, SETs of ${BATCH} events),`,
    "libs/evidence/src/log and transparency/ (bench/log/run.ts). CPU-ms are this process's user + system time.",
    '',
    '| step | wall ms | CPU ms | per event |',
    '|---|---:|---:|---:|',
    `| append ${n.toLocaleString('en-US')} leaves (leaf hash + tree levels) | ${f(append.ms)} | ${f(append.cpu)} | ${us(append.cpu / n)} us |`,
    `| sign ${setCount.toLocaleString('en-US')} SETs (Ed25519, one per batch) | ${f(setSign.ms)} | ${f(setSign.cpu)} | ${us(setSign.cpu / n)} us |`,
    `| checkpoint: root of the whole log | ${rootT.ms.toFixed(2)} | ${rootT.cpu.toFixed(2)} | |`,
    `| checkpoint: C2SP note signed | ${noteMs.toFixed(2)} | ${noteCpu.toFixed(2)} | |`,
    `| write events + leaves + SETs + checkpoint to a migrated SQLite file (one transaction) | ${f(store.writeMs)} | | |`,
    `| **verify from storage (EvidenceIntegrity.checkLog, ${store.threads} worker threads): every leaf recomputed from its event row, every SET signature checked, root rebuilt and compared with the signed checkpoint** | **${f(store.totalMs)}** | ${f(store.totalCpu)} | ${us(store.totalMs / n)} us |`,
    '',
    '| proof | hashes | bytes | time |',
    '|---|---:|---:|---:|',
    `| inclusion (mean of ${samples.toLocaleString('en-US')} leaves) | ${(inc.value / 32).toFixed(1)} | ${f(inc.value)} | ${us(inc.ms / samples)} us to make, ${us(incVerify.ms / samples)} us to verify |`,
    `| consistency ${m.toLocaleString('en-US')} -> ${n.toLocaleString('en-US')} | ${cons.value.length} | ${cons.value.length * 32} | ${us(cons.ms)} us to make, ${us(consVerify.ms)} us to verify |`,
    '',
    `- target: verification of a ${n.toLocaleString('en-US')}-event log from storage <= 10 s: ${store.totalMs <= 10_000 ? 'met' : 'MISSED'} (${(store.totalMs / 1000).toFixed(1)} s wall, ${(store.totalCpu / 1000).toFixed(1)} s CPU;`,
    `  1-minute load average ${store.loadBefore.toFixed(2)} when the check started, ${store.loadAfter.toFixed(2)} when it ended: on 2 cores the wall`,
    '  time is at least CPU / 2 on an idle machine, and grows with whatever else runs)',
    "- the verification row is the service's own check (start-up, periodic and before each checkpoint), run on the",
    '  migrated schema; CPU ms include its worker threads.',
    '- before (2026-12-03 08:26, a bench-only loop, one thread): 28,979 ms wall, 29,808 ms CPU (leaves + root',
    "  11,210 ms, SET signatures 17,768 ms); the service's check then verified no SET signature at all and the",
    '  checkpoint path read `log_leaves` 3-4 times (check, transaction, witnesses, bundle); now once.',
    '- profile of the check (`node --cpu-prof`, 1,000,000 events, 2 worker threads, 19.8 s CPU with the profiler):',
    '  Ed25519 verification of the 125,000 SETs 12.9 s (about 100 us each, two thirds of all CPU, on the workers),',
    '  recomputing the leaves 1.3 s and parsing the SETs 0.7 s (workers); on the calling thread reading the rows',
    '  2.9 s as row objects, 0.6 s as one JSON array a page built by SQLite (now), and the tree 2.3 s, 1.5 s with',
    '  the leaves appended a page at a time (now). Measured levers: one KeyObject for all verifies (78 us a verify,',
    '  168 us from PEM each time); `crypto.hash` one-shot SHA-256 0.8 us vs `createHash` 1.3 us; WebCrypto Ed25519',
    '  is no faster (115 us CPU). What is left is the signatures: about 10 s of CPU, so 5 s on 2 idle cores.',
    '',
  ];
  return { section, verifyMs: store.totalMs };
}
