/**
 * Production safety (issue 13, item 8): storage faults that looked healthy, data file modes, the
 * bootstrap key, development secrets, credentials in access logs, framing, CSV formulas.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import type { INestApplication } from '@nestjs/common';
import { startApi } from '../apps/api/src/bootstrap.js';
import { createLogger } from '#libs/observability';
import { unsubscribeToken } from '../libs/channels/src/email/unsubscribe.js';
import { MANIFEST_FILE, PrintRoomProvider } from '../libs/channels/src/letter/print-room.js';
import { loadConfig } from '#libs/config';
import { OffsetClock } from '#libs/core';
import { Db } from '#libs/persistence';
import { AUTH_HEADER, DAYTIME, phoneFor, smsBody, TEST_AUTH_ENV } from './support/fixtures.js';
import { freePort, ROOT, spawnApp, waitFor, waitHttpOk } from './support/infra.js';

const mode = (p: string) => statSync(p).mode & 0o777;

/** The api in this process with its log lines captured. */
async function startCaptured(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'cns-safety-'));
  const port = await freePort();
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    SQLITE_PATH: join(dir, 'notices.db'),
    SANDBOX_RECEIPT_DELAY_MS: '20',
    ...TEST_AUTH_ENV,
    ...env,
  });
  const { app } = await startApi({
    config,
    clock: new OffsetClock(new Date(DAYTIME)),
    logger: createLogger('info', { destination }),
  });
  return {
    app: app as INestApplication,
    dir,
    baseUrl: `http://127.0.0.1:${port}`,
    db: app.get(Db),
    log: () => lines.join(''),
    async close() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Captured = Awaited<ReturnType<typeof startCaptured>>;

describe('production safety (in process)', () => {
  let api: Captured;

  beforeAll(async () => {
    api = await startCaptured({});
  }, 60_000);

  afterAll(async () => {
    await api?.close();
  });

  it('notices.db and its -wal/-shm are 0600', async () => {
    const res = await fetch(`${api.baseUrl}/v1/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...AUTH_HEADER },
      body: JSON.stringify(smsBody('C-safety-mode', phoneFor(7001))),
    });
    expect(res.status).toBe(202);
    const db = join(api.dir, 'notices.db');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) expect([f, mode(f).toString(8)]).toEqual([f, '600']);
  });

  it('a database that stops taking writes makes /health/ready fail, naming the path and the fix', async () => {
    expect((await fetch(`${api.baseUrl}/health/ready`)).status).toBe(200);
    // SQLite's own read-only state on the live connection: SELECT 1 still passes, writes fail.
    await api.db.rows('PRAGMA query_only = ON');
    try {
      const ready = await fetch(`${api.baseUrl}/health/ready`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { error: Record<string, Record<string, unknown>> };
      expect(body.error.storage).toMatchObject({ status: 'down', writable: false });
      expect(String(body.error.storage.path)).toBe(join(api.dir, 'notices.db'));
      expect(String(body.error.storage.fix)).toMatch(/writable|SQLITE_PATH/);
    } finally {
      await api.db.rows('PRAGMA query_only = OFF');
    }
    expect((await fetch(`${api.baseUrl}/health/ready`)).status).toBe(200);
  });

  it('one-click unsubscribe tokens and keys never reach the access log', async () => {
    const token = unsubscribeToken('development-unsubscribe-secret', {
      address: 'zhang.san@example.com',
      notificationId: '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11',
      channel: 'email',
    });
    const page = await fetch(`${api.baseUrl}/unsubscribe?t=${token}`);
    expect(page.status).toBe(200);
    await fetch(`${api.baseUrl}/v1/auth/whoami?api_key=secret-in-query-1234567890&signature=sig-abcdef`);
    await waitFor('the access log lines', async () => api.log().includes('unsubscribe?t=[redacted]'), 5_000);
    const log = api.log();
    expect(log).not.toContain(token);
    expect(log).not.toContain(token.split('.')[2]);
    expect(log).not.toContain('secret-in-query-1234567890');
    expect(log).not.toContain('sig-abcdef');
  });

  it('pages and docs cannot be framed and carry helmet headers', async () => {
    for (const path of ['/editor', '/docs', '/health/live']) {
      const res = await fetch(`${api.baseUrl}${path}`);
      expect([path, res.headers.get('x-frame-options')]).toEqual([path, 'DENY']);
      expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // The editor keeps its own strict CSP.
    const editor = await fetch(`${api.baseUrl}/editor`);
    expect(editor.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
  });

  it('readiness fails when the data folder has less free space than READY_MIN_FREE_DISK_MB', async () => {
    const full = await startCaptured({ READY_MIN_FREE_DISK_MB: String(1024 * 1024 * 1024) });
    try {
      const ready = await fetch(`${full.baseUrl}/health/ready`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { error: Record<string, Record<string, unknown>> };
      expect(body.error.storage).toMatchObject({ status: 'down', path: join(full.dir, 'notices.db') });
      expect(String(body.error.storage.fix)).toMatch(/full/);
    } finally {
      await full.close();
    }
  }, 60_000);
});

function run(env: Record<string, string>, uid?: number) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', 'api', 'src', 'main.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', TZ: 'UTC', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(uid !== undefined ? { uid, gid: uid } : {}),
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('production safety (built api processes)', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'cns-safety-proc-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a read-only data folder stops start-up with a message naming the path and the fix', async () => {
    const dir = join(tmp(), 'data');
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    // As an unprivileged user: root ignores file modes.
    const { code, out } = await run(
      {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        GRPC_PORT: '0',
        SQLITE_PATH: join(dir, 'notices.db'),
      },
      65534,
    );
    expect(code).not.toBe(0);
    expect(out).toContain(join(dir, 'notices.db'));
    expect(out).toMatch(/Fix: make .* writable by uid 65534/);
    expect(out).toMatch(/SQLITE_PATH/);
  }, 40_000);

  it('NODE_ENV unset and no UNSUBSCRIBE_SECRET: start-up refuses the public development secret', async () => {
    const dir = tmp();
    const { code, out } = await run({
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      GRPC_PORT: '0',
      SQLITE_PATH: join(dir, 'notices.db'),
    });
    expect(code).toBe(1);
    expect(out).toMatch(/UNSUBSCRIBE_SECRET: required \(NODE_ENV is not set\)/);
  }, 40_000);

  it('production: the bootstrap key goes only to its 0600 file, and a token forged with the dev secret is refused', async () => {
    const dir = tmp();
    const port = await freePort();
    const proc = spawnApp('api', 'safety-bootstrap', {
      NODE_ENV: 'production',
      UNSUBSCRIBE_SECRET: 'a3f9c2e1b7d84f6a9c0e2b4d6f8a1c3e',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      GRPC_PORT: '0',
      SQLITE_PATH: join(dir, 'notices.db'),
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitHttpOk(`${base}/health/ready`, 30_000);
      const keyFile = join(dir, 'admin.key');
      const key = readFileSync(keyFile, 'utf8').trim();
      expect(key).toMatch(/^cns_[0-9a-f]{16}_/);
      expect(mode(keyFile).toString(8)).toBe('600');
      const output = await waitFor(
        'the bootstrap log line',
        async () => {
          const text = await readFile(proc.logFile, 'utf8');
          return text.includes(keyFile) ? text : null;
        },
        10_000,
      );
      expect(output).not.toContain(key);
      expect(output).not.toContain(key.split('_')[2]);
      const who = await fetch(`${base}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } });
      expect(who.status).toBe(200);

      const forged = unsubscribeToken('development-unsubscribe-secret', {
        address: 'victim@example.com',
        notificationId: '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11',
        channel: 'email',
      });
      const res = await fetch(`${base}/unsubscribe?t=${forged}`, { method: 'POST' });
      expect(res.status).toBe(400);
    } finally {
      await proc.kill();
    }
  }, 60_000);
});

describe('print-room manifest', () => {
  it('cells starting with = + - @ tab or CR are neutralised', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cns-safety-room-'));
    try {
      const room = new PrintRoomProvider({ root, durable: false, newBatchId: () => 'B001' });
      // Address validation already refuses = + @ and control characters at the start of a name
      // (libs/channels/src/letter/address.ts); a leading '-' got through and ran as a formula.
      const names = ['-2+3', '-1+cmd|" /C calc"!A0', '张三'];
      for (const [i, name] of names.entries()) {
        const pdf = Buffer.from(`%PDF-1.7\n% ${i}\n%%EOF\n`);
        await room.send({
          notificationId: `n-${i}`,
          channel: 'letter',
          to: 'k',
          webhookBaseUrl: '',
          letter: {
            documentId: `DOC-${i}`,
            pdf,
            pdfSha256: (await import('node:crypto')).createHash('sha256').update(pdf).digest('hex'),
            recipientName: name,
            address: {
              country: 'CN',
              province: '浙江省',
              city: '杭州市',
              district: '西湖区',
              street: '文三路100号',
              postcode: '310012',
            },
            service: 'registered',
          },
        });
      }
      const rows = parse(readFileSync(join(root, 'B001', MANIFEST_FILE), 'utf8'), {
        bom: true,
      }) as string[][];
      const cells = rows.slice(1).flat();
      const dangerous = cells.filter((c) => /^[=+\-@\t\r]/.test(c));
      expect(dangerous).toEqual([]);
      expect(cells).toContain("'-2+3");
      expect(cells).toContain('\'-1+cmd|" /C calc"!A0');
      expect(cells).toContain('张三');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
