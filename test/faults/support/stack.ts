/**
 * The stack the fault suites break: api + workers (built apps as child processes, queue mode),
 * the Twilio emulator in this process, PostgreSQL and Redis (private servers or a private
 * database / key prefix on the shared ones), and the ledger check every suite ends with.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import twilio from 'twilio';
import { type EmulatedMessage, TwilioEmulator, type TwilioEmulatorOptions } from '../../emulators/twilio.js';
import { ACCOUNT_SID, AUTH_TOKEN, DAYTIME } from '../../support/fixtures.js';
import {
  createPgDatabase,
  createRedisPrefix,
  freePort,
  type ServiceProcess,
  spawnApp,
  uniqueName,
  waitFor,
  waitHttpOk,
} from '../../support/infra.js';

export { ACCOUNT_SID, AUTH_TOKEN, DAYTIME };

/** Admin key installed at start (API_KEYS_BOOTSTRAP); sent with every request. */
export const API_KEY = `cns_0123456789abcdef_${'f'.repeat(43)}`;

export const FINAL = new Set(['delivered', 'undelivered', 'failed', 'suppressed', 'cancelled']);

export interface FaultStack {
  baseUrl: string;
  emulator: TwilioEmulator;
  pgUrl: string;
  redisUrl: string;
  env: Record<string, string>;
  api: ServiceProcess;
  workers: ServiceProcess[];
  startWorker(extraEnv?: Record<string, string>): ServiceProcess;
  /** POSTs one notice; retries (same Idempotency-Key) on 5xx and connection errors until `deadlineMs`. */
  accept(body: unknown, key: string, deadlineMs?: number): Promise<string>;
  query<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

export async function startFaultStack(opts: {
  pgUrl?: string;
  redisUrl?: string;
  workers?: number;
  emulator?: Partial<TwilioEmulatorOptions>;
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
}): Promise<FaultStack> {
  const emulator = new TwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, ...opts.emulator });
  const emulatorUrl = await emulator.start();
  const db = opts.pgUrl ? undefined : await createPgDatabase();
  const redis = opts.redisUrl ? undefined : createRedisPrefix();
  const pgUrl = opts.pgUrl ?? (db as { url: string }).url;
  const redisUrl = opts.redisUrl ?? (redis as { url: string }).url;
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: baseUrl,
    DATABASE_URL: pgUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: redis?.prefix ?? uniqueName('cnsf'),
    SMS_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_FROM: '+15005550006',
    TWILIO_API_BASE_URL: emulatorUrl,
    TWILIO_TIMEOUT_MS: '2000',
    NODE_ENV: 'test',
    CLOCK_START: DAYTIME,
    SWEEP_INTERVAL_MS: '500',
    STUCK_AFTER_MS: '2000',
    SENDING_GRACE_MS: '3000',
    WORKER_CONCURRENCY: '16',
    DISPATCH_MAX_ATTEMPTS: '8',
    GRPC_PORT: '0',
    API_KEYS_BOOTSTRAP: API_KEY,
    RATE_LIMIT_RPS: '0',
    ...opts.env,
  };
  const tag = uniqueName('fault');
  const api = spawnApp('api', `${tag}-api`, env);
  await waitHttpOk(`${baseUrl}/health/live`, 60_000);
  const workers: ServiceProcess[] = [];
  let n = 0;
  const startWorker = (extraEnv: Record<string, string> = {}): ServiceProcess => {
    const w = spawnApp('worker', `${tag}-worker-${++n}`, { ...env, ...opts.workerEnv, ...extraEnv });
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (opts.workers ?? 2); i++) startWorker();

  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  };

  return {
    baseUrl,
    emulator,
    pgUrl,
    redisUrl,
    env,
    api,
    workers,
    startWorker,
    query,
    async accept(body: unknown, key: string, deadlineMs = 60_000): Promise<string> {
      const deadline = Date.now() + deadlineMs;
      let last = '';
      while (Date.now() < deadline) {
        try {
          const res = await fetch(`${baseUrl}/v1/notifications`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${API_KEY}`,
              'idempotency-key': key,
            },
            body: JSON.stringify(body),
          });
          const text = await res.text();
          if (res.status === 202) return (JSON.parse(text) as { id: string }).id;
          last = `${res.status} ${text.slice(0, 200)}`;
          if (res.status < 500) throw new Error(`accept ${key}: ${last}`);
        } catch (err) {
          if (err instanceof Error && err.message.startsWith('accept ')) throw err;
          last = String(err);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`accept ${key} never succeeded: ${last}`);
    },
    async stop() {
      await Promise.all(workers.map((w) => w.kill('SIGTERM')));
      await api.kill('SIGTERM');
      await emulator.stop();
      await db?.drop().catch(() => undefined);
      await redis?.drop().catch(() => undefined);
    },
  };
}

export interface NoticeRow {
  id: string;
  case_id: string;
  status: string;
  provider_message_id: string | null;
  recipient_address: string;
  attempts: number;
}

export interface LedgerReport {
  rows: number;
  counts: Record<string, number>;
  /** Accepted ids missing from the database. */
  lost: string[];
  /** Rows not in a final state. */
  nonFinal: string[];
  /** Notifications with more than one message stored at the provider. */
  sentTwice: string[];
  /** Delivered/undelivered rows without exactly one provider message, or with another sid. */
  mismatched: string[];
  /** Provider messages whose notification id is unknown. */
  orphans: string[];
  /** Provider messages (accepted creates) in total. */
  providerMessages: number;
}

/** The notification id a message was sent for (our id travels in its StatusCallback URL). */
export function nidOf(m: EmulatedMessage): string | null {
  if (!m.statusCallback) return null;
  return new URL(m.statusCallback).searchParams.get('nid');
}

/** Compares the emulator's ledger with the database: what every fault suite ends with. */
export async function ledger(stack: FaultStack, acceptedIds: string[]): Promise<LedgerReport> {
  const rows = await stack.query<NoticeRow>(
    'SELECT id, case_id, status, provider_message_id, recipient_address, attempts FROM notifications',
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const messages = stack.emulator.messages();
  const byNid = new Map<string, EmulatedMessage[]>();
  const orphans: string[] = [];
  for (const m of messages) {
    const nid = nidOf(m);
    if (!nid || !byId.has(nid)) {
      orphans.push(m.sid);
      continue;
    }
    const list = byNid.get(nid) ?? [];
    list.push(m);
    byNid.set(nid, list);
  }
  const counts: Record<string, number> = {};
  const nonFinal: string[] = [];
  const sentTwice: string[] = [];
  const mismatched: string[] = [];
  for (const r of rows) {
    counts[r.status] = (counts[r.status] ?? 0) + 1;
    if (!FINAL.has(r.status)) nonFinal.push(`${r.id}:${r.status}`);
    const sent = byNid.get(r.id) ?? [];
    if (sent.length > 1) sentTwice.push(`${r.id}:${sent.length}`);
    if (r.status === 'delivered' || r.status === 'undelivered') {
      if (sent.length !== 1 || sent[0]?.sid !== r.provider_message_id) mismatched.push(r.id);
    } else if (sent.length === 1 && r.provider_message_id !== sent[0]?.sid) {
      mismatched.push(r.id);
    }
  }
  if (sentTwice.length > 0 || mismatched.length > 0) {
    // Diagnose: the notification's evidence and what the provider holds for it.
    for (const entry of [...sentTwice, ...mismatched].slice(0, 5)) {
      const id = entry.split(':')[0] as string;
      const ev = await stack.query<{ seq: number; type: string; recorded_at: string; payload: string }>(
        'SELECT seq, type, recorded_at, payload FROM evidence_events WHERE notification_id = $1 ORDER BY seq',
        [id],
      );
      const sent = (byNid.get(id) ?? []).map((m) => ({
        sid: m.sid,
        created: m.dateCreated,
        status: m.status,
      }));
      console.error(
        `ledger: ${entry}\n  provider: ${JSON.stringify(sent)}\n  evidence:\n${ev
          .map((e) => `    ${e.seq} ${e.recorded_at} ${e.type} ${e.payload.slice(0, 300)}`)
          .join('\n')}`,
      );
    }
  }
  return {
    rows: rows.length,
    counts,
    lost: acceptedIds.filter((id) => !byId.has(id)),
    nonFinal,
    sentTwice,
    mismatched,
    orphans,
    providerMessages: messages.length,
  };
}

/**
 * Waits until every notification row is final and every failure has its escalation decision (or
 * the timeout passes); returns the status counts.
 */
export async function waitAllFinal(
  stack: FaultStack,
  expectedRows: number,
  timeoutMs = 180_000,
): Promise<Record<string, number>> {
  return waitFor(
    `${expectedRows} notifications final`,
    async () => {
      const r = await stack.query<{ status: string; n: string }>(
        'SELECT status, COUNT(*) AS n FROM notifications GROUP BY status',
      );
      const counts = Object.fromEntries(r.map((x) => [x.status, Number(x.n)]));
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      const open = Object.entries(counts)
        .filter(([s]) => !FINAL.has(s))
        .reduce((a, [, v]) => a + v, 0);
      if (total !== expectedRows || open !== 0) return undefined;
      // A failure's escalation decision is written after the failing commit (by the process that
      // saw the failure): the pipeline is quiet only once every failure has its decision.
      const [{ n: undecided }] = await stack.query<{ n: string }>(
        `SELECT COUNT(*) AS n FROM notifications n
         WHERE n.status IN ('undelivered', 'failed')
           AND NOT EXISTS (SELECT 1 FROM evidence_events e WHERE e.notification_id = n.id
                           AND e.type IN ('escalation.started', 'escalation.ended'))`,
      );
      return Number(undecided) === 0 ? counts : undefined;
    },
    timeoutMs,
    250,
  );
}

/** The status callbacks the emulator posted, rebuilt and signed exactly as it signed them. */
export function recordedCallbacks(
  messages: EmulatedMessage[],
): { url: string; params: Record<string, string>; signature: string }[] {
  const out: { url: string; params: Record<string, string>; signature: string }[] = [];
  for (const m of messages) {
    if (!m.statusCallback) continue;
    for (const c of m.callbacks) {
      const params: Record<string, string> = {
        AccountSid: m.accountSid,
        ApiVersion: '2010-04-01',
        From: m.from ?? '',
        MessageSid: m.sid,
        MessageStatus: c.status,
        SmsSid: m.sid,
        SmsStatus: c.status,
        To: m.to,
      };
      if (m.messagingServiceSid) params.MessagingServiceSid = m.messagingServiceSid;
      if ((c.status === 'undelivered' || c.status === 'failed') && m.errorCode !== null) {
        params.ErrorCode = String(m.errorCode);
      }
      out.push({
        url: m.statusCallback,
        params,
        signature: twilio.getExpectedTwilioSignature(AUTH_TOKEN, m.statusCallback, params),
      });
    }
  }
  return out;
}

/** Deterministic PRNG (mulberry32) so fault patterns repeat from run to run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

export const runId = (): string => randomUUID().slice(0, 8);
