import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { ANCHOR_FILE, generateSigningKeyPair } from '#libs/evidence';
import { postJson } from './support/app.js';
import { AUTH_HEADER, DAYTIME, phoneFor, smsBody, TEST_AUTH_ENV } from './support/fixtures.js';
import {
  freePort,
  ROOT,
  type ServiceProcess,
  spawnApp,
  uniqueName,
  waitFor,
  waitHttpOk,
} from './support/infra.js';

/**
 * Issue 12: "a corrupted SQLite WAL silently dropped committed transactions and verification still
 * answered ok". The standalone api commits notices, evidence and a signed checkpoint that live only
 * in the WAL (a long read transaction keeps SQLite from copying them into the database file), is
 * killed, one WAL frame is corrupted, and SQLite's recovery at the next start drops that frame and
 * every later one. The database is consistent with itself; the checkpoint kept outside it is not:
 * the start-up check raises alerts naming the lost checkpoint and the first missing log leaf,
 * /health/ready is down, checkpoints and bundles are refused until an admin acknowledges.
 */

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

interface WalFrame {
  offset: number;
  page: number;
  /** Database size in pages after this frame for a commit frame, 0 otherwise. */
  commit: number;
}

/** The frames of the current WAL generation (salts as in the header), in order. */
function walFrames(wal: Buffer): WalFrame[] {
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  const frames: WalFrame[] = [];
  for (let off = WAL_HEADER; off + FRAME_HEADER + pageSize <= wal.length; off += FRAME_HEADER + pageSize) {
    if (wal.readUInt32BE(off + 8) !== salt1 || wal.readUInt32BE(off + 12) !== salt2) break;
    frames.push({ offset: off, page: wal.readUInt32BE(off), commit: wal.readUInt32BE(off + 4) });
  }
  return frames;
}

describe('a corrupted SQLite WAL frame (standalone)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cns-wal-'));
  const dbPath = join(dir, 'notices.db');
  const key = generateSigningKeyPair();
  let api: ServiceProcess | undefined;
  let reader: ChildProcess | undefined;

  afterAll(async () => {
    reader?.kill('SIGKILL');
    await api?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  async function start(): Promise<string> {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    api = spawnApp('api', uniqueName('wal-api'), {
      PORT: String(port),
      HOST: '127.0.0.1',
      SQLITE_PATH: dbPath,
      EVIDENCE_SIGNING_KEY: key.privateKeyPem,
      CHECKPOINT_INTERVAL_MS: '0',
      SANDBOX_RECEIPT_DELAY_MS: '20',
      CLOCK_START: DAYTIME,
      ...TEST_AUTH_ENV,
    });
    await waitHttpOk(`${baseUrl}/health/live`);
    return baseUrl;
  }

  /** A short-lived connection of this test (never the last one open: it checkpoints nothing). */
  function query<T>(sql: string, params: unknown[] = []): T {
    const db = new Database(dbPath, { readonly: true });
    try {
      return db.prepare(sql).get(...params) as T;
    } finally {
      db.close();
    }
  }
  const count = (sql: string, params: unknown[] = []) => Number(query<{ n: number }>(sql, params).n);

  async function deliver(baseUrl: string, caseId: string, n: number, from: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const res = await postJson(baseUrl, '/v1/notifications', smsBody(caseId, phoneFor(from + i)));
      expect(res.status).toBe(202);
    }
    await waitFor(`${caseId} delivered`, async () => {
      return (
        count("SELECT COUNT(*) AS n FROM notifications WHERE case_id = ? AND status = 'delivered'", [
          caseId,
        ]) === n
      );
    });
  }

  const get = async (baseUrl: string, path: string) => {
    const res = await fetch(`${baseUrl}${path}`, { headers: AUTH_HEADER });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('committed transactions lost at WAL recovery raise alerts naming the lost checkpoint and the first missing leaf', async () => {
    let baseUrl = await start();
    // 1. History that reaches the database file: notices, their evidence, checkpoint 1.
    await deliver(baseUrl, 'C-wal-1', 3, 900);
    const first = await postJson(baseUrl, '/v1/evidence/checkpoints', {});
    expect(first.status).toBe(201);
    const writer = new Database(dbPath);
    expect(writer.pragma('wal_checkpoint(TRUNCATE)')).toMatchObject([{ busy: 0 }]);
    writer.close();
    const leavesBefore = count('SELECT COUNT(*) AS n FROM log_leaves');
    expect(leavesBefore).toBeGreaterThan(0);

    // 2. A long read transaction (a report, a backup) pins the database file: later commits stay
    // in the WAL, none is copied into the file (SQLite checkpoints up to the oldest reader only).
    const script = `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(dbPath)});
      db.prepare('BEGIN').run(); db.prepare('SELECT COUNT(*) FROM evidence_events').get();
      process.stdout.write('reading\\n'); setInterval(() => {}, 1000);`;
    reader = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => reader!.stdout!.once('data', () => resolve()));

    // 3. More notices and checkpoint 2, committed (202/201 answered) but only in the WAL.
    await deliver(baseUrl, 'C-wal-2', 4, 950);
    const second = await postJson(baseUrl, '/v1/evidence/checkpoints', {});
    expect(second.status).toBe(201);
    const signed = (second.body.checkpoint as { logSize: number }).logSize;
    expect(signed).toBeGreaterThan(leavesBefore);
    const eventsCommitted = count('SELECT COUNT(*) AS n FROM evidence_events');
    const kept = JSON.parse(readFileSync(join(dir, ANCHOR_FILE), 'utf8')) as { id: number; body: string };
    expect(kept.id).toBe(second.body.id);
    expect(count('SELECT COUNT(*) AS n FROM checkpoints', [])).toBe(2);

    // 4. A crash: the api and the reader die; the WAL keeps every committed frame.
    api!.child.kill('SIGKILL');
    await api!.exited;
    reader.kill('SIGKILL');
    await new Promise((r) => reader!.once('exit', r));
    reader = undefined;
    const walPath = `${dbPath}-wal`;
    const wal = readFileSync(walPath);
    const frames = walFrames(wal);
    const commits = frames.map((f, i) => (f.commit > 0 ? i : -1)).filter((i) => i >= 0);
    expect(commits.length).toBeGreaterThan(3);

    // 5. One frame corrupted: the first frame after the first commit of step 3. SQLite's recovery
    // keeps the frames up to the last valid commit before it and silently drops it and every later one.
    const target = frames[commits[0] + 1];
    const pageSize = wal.readUInt32BE(8);
    const at = target.offset + FRAME_HEADER + Math.floor(pageSize / 2);
    for (let i = 0; i < 16; i++) wal[at + i] ^= 0xff;
    writeFileSync(walPath, wal);
    if (existsSync(`${dbPath}-shm`)) unlinkSync(`${dbPath}-shm`); // a cache, rebuilt from the WAL

    // 6. Restart: the database opens cleanly, without checkpoint 2 and what came before it.
    baseUrl = await start();
    const eventsNow = count('SELECT COUNT(*) AS n FROM evidence_events');
    expect(eventsNow).toBeLessThan(eventsCommitted);
    expect(count('SELECT MAX(id) AS n FROM checkpoints')).toBe(first.body.id);
    const leavesNow = count('SELECT COUNT(*) AS n FROM log_leaves');
    expect(leavesNow).toBe(leavesBefore);
    // What the database alone says: its own chains verify.
    const own = await postJson(baseUrl, '/v1/evidence/verify', { caseId: 'C-wal-1' });
    expect(own.body).toMatchObject({ ok: true });

    // The start-up check compared it with the checkpoint kept outside the database.
    const alerts = await waitFor('the start-up alerts', async () => {
      const r = await get(baseUrl, '/v1/admin/evidence/alerts');
      const items = r.body.items as { id: number; kind: string; detail: string; acknowledged: unknown }[];
      return items.length >= 2 ? items : undefined;
    });
    const truncated = alerts.find((a) => a.kind === 'log_truncated');
    expect(truncated?.detail).toContain(
      `checkpoint ${kept.id} signs ${signed} log leaves, ${leavesNow} are stored: the log was truncated (log leaf ${leavesNow} is the first one missing)`,
    );
    const missing = alerts.find((a) => a.kind === 'checkpoint_missing');
    expect(missing?.detail).toContain(`checkpoint ${kept.id} kept in ${join(dir, ANCHOR_FILE)}`);
    expect(missing?.detail).toContain(
      `is not in the database, whose latest checkpoint is ${String(first.body.id)}: committed transactions were lost`,
    );

    const ready = await fetch(`${baseUrl}/health/ready`);
    expect(ready.status).toBe(503);
    const readyBody = (await ready.json()) as { details: { evidence: Record<string, unknown> } };
    expect(readyBody.details.evidence).toMatchObject({ status: 'down', openAlerts: alerts.length });
    expect(JSON.stringify(readyBody.details.evidence.alerts)).toContain(
      `log leaf ${leavesNow} is the first one missing`,
    );

    const refused = await postJson(baseUrl, '/v1/evidence/checkpoints', {});
    expect(refused.status).toBe(409);
    expect(String(refused.body.detail)).toMatch(/integrity alert/);
    expect((await fetch(`${baseUrl}/v1/cases/C-wal-1/evidence.zip`, { headers: AUTH_HEADER })).status).toBe(
      409,
    );

    // 7. An admin acknowledges: checkpoints resume from the state as found, and are kept again.
    for (const a of alerts) {
      expect((await postJson(baseUrl, `/v1/admin/evidence/alerts/${a.id}/ack`, undefined)).status).toBe(200);
    }
    expect((await fetch(`${baseUrl}/health/ready`)).status).toBe(200);
    const resumed = await postJson(baseUrl, '/v1/evidence/checkpoints', {});
    expect(resumed.status).toBe(201);
    const keptNow = JSON.parse(readFileSync(join(dir, ANCHOR_FILE), 'utf8')) as { id: number; body: string };
    expect(keptNow).toMatchObject({ id: resumed.body.id, body: resumed.body.body });
    expect((await fetch(`${baseUrl}/v1/cases/C-wal-1/evidence.zip`, { headers: AUTH_HEADER })).status).toBe(
      200,
    );
  }, 120_000);
});
