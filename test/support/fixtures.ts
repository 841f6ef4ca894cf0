/** Request bodies and the stack of processes the SMS e2e suites run against. */
import { TwilioEmulator } from '../emulators/twilio.js';
import {
  createPgDatabase,
  createRedisPrefix,
  freePort,
  type ServiceProcess,
  spawnApp,
  type TempDatabase,
  type TempRedis,
  uniqueName,
  waitHttpOk,
} from './infra.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** 10:00 in Beijing: inside every contact window the suites use. */
export const DAYTIME = '2026-11-24T02:00:00.000Z';

/** The admin key every helper-started app installs (API_KEYS_BOOTSTRAP). */
export const TEST_ADMIN_KEY = 'cns-test-admin-key-0123456789abcdef0123456789abcdef';
export const AUTH_HEADER = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

const autoAuthOrigins = new Set<string>();
let fetchWrapped = false;

/**
 * Requests to `baseUrl` made with the global fetch and without an Authorization header get the
 * test admin key, so suites written before API keys keep working. Suites that test
 * authentication start their apps with `autoAuth: false`.
 */
export function enableAutoAuth(baseUrl: string): () => void {
  const origin = new URL(baseUrl).origin;
  autoAuthOrigins.add(origin);
  if (!fetchWrapped) {
    fetchWrapped = true;
    const original = globalThis.fetch;
    globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      if (!autoAuthOrigins.has(url.origin)) return original(input, init);
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      if (!headers.has('authorization')) headers.set('authorization', AUTH_HEADER.authorization);
      return original(input, { ...init, headers });
    };
  }
  return () => autoAuthOrigins.delete(origin);
}

/** Environment every helper-started app gets: the test admin key, no gRPC, no rate limit. */
export const TEST_AUTH_ENV: Record<string, string> = {
  API_KEYS_BOOTSTRAP: TEST_ADMIN_KEY,
  GRPC_PORT: '0',
  RATE_LIMIT_RPS: '0',
};

export const ACCOUNT_SID = 'AC' + 'a1'.repeat(16);
export const AUTH_TOKEN = 'test-auth-token-0123456789abcdef';

/** A valid mainland mobile number unique to `i` (138 + 8 digits). */
export function phoneFor(i: number): string {
  return `+86138${String(10_000_000 + i).slice(-8)}`;
}

export function smsBody(caseId: string, phone: string, locale: 'zh-CN' | 'en' = 'zh-CN') {
  return {
    caseId,
    channel: 'sms',
    templateKey: 'early.sms.reminder',
    locale,
    recipient: { role: 'debtor', name: '张三', phone, timeZone: 'Asia/Shanghai' },
    data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
  };
}

export interface Stack {
  baseUrl: string;
  emulator: TwilioEmulator;
  db?: TempDatabase;
  redis?: TempRedis;
  sqlitePath?: string;
  env: Record<string, string>;
  api: ServiceProcess;
  workers: ServiceProcess[];
  startWorker(name?: string): Promise<ServiceProcess>;
  post(body: unknown, key?: string): Promise<Response>;
  stop(): Promise<void>;
}

export async function startStack(opts: {
  mode: 'queue' | 'standalone';
  workers?: number;
  emulator?: Partial<ConstructorParameters<typeof TwilioEmulator>[0]>;
  env?: Record<string, string>;
  /** false: no automatic Authorization header on fetch calls to this stack. */
  autoAuth?: boolean;
}): Promise<Stack> {
  const emulator = new TwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, ...opts.emulator });
  const emulatorUrl = await emulator.start();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: baseUrl,
    SMS_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: emulatorUrl,
    // A fixed business-hours start (10:00 Beijing) so the contact window never depends on when tests run.
    NODE_ENV: 'test',
    CLOCK_START: DAYTIME,
    SWEEP_INTERVAL_MS: '1000',
    STUCK_AFTER_MS: '3000',
    SENDING_GRACE_MS: '3000',
    // Provider calls end (answer or timeout) before the sweeper may reconcile them.
    TWILIO_TIMEOUT_MS: '2000',
    WORKER_CONCURRENCY: '16',
    ...TEST_AUTH_ENV,
    ...opts.env,
  };
  let db: TempDatabase | undefined;
  let redis: TempRedis | undefined;
  let sqliteDir: string | undefined;
  if (opts.mode === 'queue') {
    db = await createPgDatabase();
    redis = createRedisPrefix();
    env.DATABASE_URL = db.url;
    env.REDIS_URL = redis.url;
    env.QUEUE_PREFIX = redis.prefix;
  } else {
    sqliteDir = mkdtempSync(join(tmpdir(), 'cns-'));
    env.SQLITE_PATH = join(sqliteDir, 'notices.db');
  }
  const disableAutoAuth = opts.autoAuth === false ? () => false : enableAutoAuth(baseUrl);
  const tag = uniqueName(opts.mode);
  const api = spawnApp('api', `${tag}-api`, env);
  await waitHttpOk(`${baseUrl}/health/live`);
  const workers: ServiceProcess[] = [];
  let n = 0;
  const startWorker = async (name?: string) => {
    const w = spawnApp('worker', name ?? `${tag}-worker-${++n}`, env);
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (opts.mode === 'queue' ? (opts.workers ?? 2) : 0); i++) await startWorker();
  return {
    baseUrl,
    emulator,
    db,
    redis,
    sqlitePath: env.SQLITE_PATH,
    env,
    api,
    workers,
    startWorker,
    post(body: unknown, key?: string) {
      return fetch(`${baseUrl}/v1/notifications`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...AUTH_HEADER,
          ...(key ? { 'idempotency-key': key } : {}),
        },
        body: JSON.stringify(body),
      });
    },
    async stop() {
      disableAutoAuth();
      await Promise.all(workers.map((w) => w.kill('SIGTERM')));
      await api.kill('SIGTERM');
      await emulator.stop();
      await db?.drop();
      await redis?.drop();
      if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
    },
  };
}

/** Counts notifications by status straight from the stack's database. */
export async function statusCounts(stack: Stack): Promise<Record<string, number>> {
  if (stack.db) {
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: stack.db.url });
    await c.connect();
    try {
      const r = await c.query<{ status: string; n: string }>(
        'SELECT status, COUNT(*) AS n FROM notifications GROUP BY status',
      );
      return Object.fromEntries(r.rows.map((row) => [row.status, Number(row.n)]));
    } finally {
      await c.end();
    }
  }
  const Database = (await import('better-sqlite3')).default;
  const d = new Database(stack.sqlitePath as string, { readonly: true, fileMustExist: true });
  try {
    const rows = d.prepare('SELECT status, COUNT(*) AS n FROM notifications GROUP BY status').all() as {
      status: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
  } finally {
    d.close();
  }
}

/** Runs one SQL statement against the stack's database (tests only). */
export async function sqlQuery<T>(stack: Stack, sql: string, params: unknown[] = []): Promise<T[]> {
  if (stack.db) {
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: stack.db.url });
    await c.connect();
    try {
      let i = 0;
      return (
        await c.query(
          sql.replace(/\?/g, () => `$${++i}`),
          params,
        )
      ).rows as T[];
    } finally {
      await c.end();
    }
  }
  const Database = (await import('better-sqlite3')).default;
  const d = new Database(stack.sqlitePath as string, { fileMustExist: true });
  try {
    const st = d.prepare(sql);
    return (st.reader ? st.all(...params) : (st.run(...params), [])) as T[];
  } finally {
    d.close();
  }
}

/** A Shanghai postal address that fits the letter window (letters, email copies of letters). */
export const ADDRESS = {
  country: 'CN',
  province: '上海市',
  city: '上海市',
  district: '浦东新区',
  street: '世纪大道 100 号 8 楼',
  postcode: '200120',
};

/** Data of the mid-stage SMS notice (`mid.sms.notice`). */
export const MID_SMS_DATA = {
  outstandingBalance: '23456.78',
  overdueAmount: '3000.00',
  dueDate: '2026-09-01',
  cardLast4: '1234',
  dpd: 60,
};

/** Data of the late-stage letter templates (total = principal + interest and fees). */
export const LETTER_DATA = {
  outstandingBalance: '23456.78',
  principal: '20000.00',
  interestAndFees: '3456.78',
  balanceAsOf: '2026-10-31',
  cardLast4: '1234',
  overdueSince: '2026-06-25',
  dpd: 128,
  repayBy: '2026-11-30',
  idNumber: '110101199001011234',
};
