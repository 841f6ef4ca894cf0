/**
 * Benchmark stacks: the built api and workers as child processes, the Twilio emulator as its own
 * process (`dist/test/emulators/twilio-main.js`, so it does not share the bench's event loop), a
 * private PostgreSQL database and Redis key prefix on the machine's servers (or SQLite).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import {
  createPgDatabase,
  createRedisPrefix,
  freePort,
  OUTPUT,
  ROOT,
  type ServiceProcess,
  spawnApp,
  type TempDatabase,
  type TempRedis,
  uniqueName,
  waitHttpOk,
} from '../../test/support/infra.js';

export { OUTPUT, ROOT, spawnApp };

export const ACCOUNT_SID = 'AC' + 'b2'.repeat(16);
export const AUTH_TOKEN = 'bench-auth-token-0123456789abcdef';
/** Admin key installed at start (API_KEYS_BOOTSTRAP). */
export const API_KEY = `cns_0123456789abcdef_${'b'.repeat(43)}`;
/** 10:00 in Beijing: inside the contact window whatever the wall clock says. */
export const DAYTIME = '2026-11-24T02:00:00.000Z';

export function phoneFor(i: number): string {
  return `+86138${String(10_000_000 + i).slice(-8)}`;
}

export function smsBody(caseId: string, phone: string): Record<string, unknown> {
  return {
    caseId,
    channel: 'sms',
    templateKey: 'early.sms.reminder',
    locale: 'zh-CN',
    recipient: { role: 'debtor', name: '张三', phone, timeZone: 'Asia/Shanghai' },
    data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
  };
}

export interface EmulatorProcess {
  url: string;
  child: ChildProcess;
  stats(): Promise<{
    createCount: number;
    acceptedCount: number;
    callbacksPosted: number;
    callbacksPending: number;
  }>;
  stop(): Promise<void>;
}

/** Starts `node dist/test/emulators/twilio-main.js` and waits for its `{"url": …}` line. */
export async function startEmulatorProcess(args: string[] = []): Promise<EmulatorProcess> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'test', 'emulators', 'twilio-main.js'),
      '--account-sid',
      ACCOUNT_SID,
      '--auth-token',
      AUTH_TOKEN,
      ...args,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`twilio emulator exited with ${code}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    url,
    child,
    async stats() {
      return (await (await fetch(`${url}/__emulator/stats`)).json()) as Awaited<
        ReturnType<EmulatorProcess['stats']>
      >;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface BenchStack {
  mode: 'queue' | 'standalone';
  baseUrl: string;
  env: Record<string, string>;
  api: ServiceProcess;
  workers: ServiceProcess[];
  db?: TempDatabase;
  redis?: TempRedis;
  sqlitePath?: string;
  /** Counts rows per status. */
  counts(): Promise<Record<string, number>>;
  /** PostgreSQL only: committed transactions of the bench database so far. */
  commits(): Promise<number>;
  /** PostgreSQL only: process ids of the server backends connected to the bench database. */
  backendPids(): Promise<number[]>;
  stop(): Promise<void>;
}

export async function startBenchStack(opts: {
  mode: 'queue' | 'standalone';
  workers?: number;
  emulatorUrl: string;
  env?: Record<string, string>;
  /** Extra env for api and workers only (e.g. NODE_OPTIONS for profiling). */
  processEnv?: Record<string, string>;
}): Promise<BenchStack> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: baseUrl,
    NODE_ENV: 'test',
    CLOCK_START: DAYTIME,
    LOG_LEVEL: 'warn',
    SMS_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: opts.emulatorUrl,
    GRPC_PORT: '0',
    API_KEYS_BOOTSTRAP: API_KEY,
    RATE_LIMIT_RPS: '0',
    WORKER_CONCURRENCY: '16',
    ...opts.env,
  };
  let db: TempDatabase | undefined;
  let redis: TempRedis | undefined;
  let dir: string | undefined;
  if (opts.mode === 'queue') {
    db = await createPgDatabase();
    redis = createRedisPrefix();
    env.DATABASE_URL = db.url;
    env.REDIS_URL = redis.url;
    env.QUEUE_PREFIX = redis.prefix;
  } else {
    dir = mkdtempSync(join(tmpdir(), 'cns-bench-'));
    env.SQLITE_PATH = join(dir, 'notices.db');
  }
  const tag = uniqueName(`bench-${opts.mode}`);
  const penv = { ...env, ...opts.processEnv };
  const api = spawnApp('api', `${tag}-api`, penv);
  await waitHttpOk(`${baseUrl}/health/live`, 60_000);
  const workers: ServiceProcess[] = [];
  for (let i = 0; i < (opts.mode === 'queue' ? (opts.workers ?? 2) : 0); i++) {
    workers.push(spawnApp('worker', `${tag}-worker-${i + 1}`, penv));
  }
  let client: pg.Client | undefined;
  const pgClient = async (): Promise<pg.Client> => {
    if (!client) {
      client = new pg.Client({ connectionString: (db as TempDatabase).url });
      await client.connect();
    }
    return client;
  };
  return {
    mode: opts.mode,
    baseUrl,
    env,
    api,
    workers,
    db,
    redis,
    sqlitePath: env.SQLITE_PATH,
    async counts() {
      if (db) {
        const c = await pgClient();
        const r = await c.query<{ status: string; n: string }>(
          'SELECT status, COUNT(*) AS n FROM notifications GROUP BY status',
        );
        return Object.fromEntries(r.rows.map((x) => [x.status, Number(x.n)]));
      }
      const Database = (await import('better-sqlite3')).default;
      const d = new Database(env.SQLITE_PATH as string, { readonly: true, fileMustExist: true });
      try {
        const rows = d.prepare('SELECT status, COUNT(*) AS n FROM notifications GROUP BY status').all() as {
          status: string;
          n: number;
        }[];
        return Object.fromEntries(rows.map((x) => [x.status, Number(x.n)]));
      } finally {
        d.close();
      }
    },
    async commits() {
      if (!db) return 0;
      const c = await pgClient();
      await c.query('SELECT pg_stat_clear_snapshot()');
      const r = await c.query<{ n: string }>(
        'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()',
      );
      return Number(r.rows[0]?.n ?? 0);
    },
    async backendPids() {
      if (!db) return [];
      const c = await pgClient();
      const r = await c.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      return r.rows.map((x) => Number(x.pid));
    },
    async stop() {
      await Promise.all(workers.map((w) => w.kill('SIGTERM')));
      await api.kill('SIGTERM');
      await client?.end();
      await db?.drop();
      await redis?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small keep-alive JSON poster (lighter than fetch for load generation). */
export function jsonPoster(baseUrl: string, maxSockets = 64) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const u = new URL(baseUrl);
  return {
    post(
      path: string,
      body: unknown,
      headers: Record<string, string> = {},
    ): Promise<{ status: number; body: string }> {
      const payload = Buffer.from(JSON.stringify(body));
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            host: u.hostname,
            port: u.port,
            path,
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/json',
              'content-length': payload.length,
              authorization: `Bearer ${API_KEY}`,
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function profileDir(name: string): string {
  const d = join(OUTPUT, 'profiles', name);
  mkdirSync(d, { recursive: true });
  return d;
}

export function envInt(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return Math.floor(n);
}
