/** Boots the api in this process (for tests that need direct access to its database). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { INestApplication } from '@nestjs/common';
import { startApi } from '../../apps/api/src/bootstrap.js';
import { loadConfig } from '#libs/config';
import { type Clock, OffsetClock } from '#libs/core';
import { Db } from '#libs/persistence';
import { AUTH_HEADER, enableAutoAuth, TEST_AUTH_ENV } from './fixtures.js';
import { createPgDatabase, freePort, ROOT, type TempDatabase } from './infra.js';
import { checkWatchedAnswers, watchAnswers } from './openapi-validate.js';

export interface InProcessApp {
  app: INestApplication;
  baseUrl: string;
  db: Db;
  close(): Promise<void>;
}

export async function startInProcess(opts: {
  dialect: 'sqlite' | 'postgres';
  env?: Record<string, string>;
  clock?: Clock;
  /** false: no automatic Authorization header on fetch calls to this app. */
  autoAuth?: boolean;
  /** postgres: use this database (the caller owns and drops it) instead of a fresh one. */
  databaseUrl?: string;
}): Promise<InProcessApp> {
  const port = await freePort();
  let pg: TempDatabase | undefined;
  let dir: string | undefined;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    SANDBOX_RECEIPT_DELAY_MS: '20',
    LOG_LEVEL: 'warn',
    ...TEST_AUTH_ENV,
    ...opts.env,
  };
  if (opts.dialect === 'postgres' && opts.databaseUrl) {
    env.DATABASE_URL = opts.databaseUrl;
  } else if (opts.dialect === 'postgres') {
    pg = await createPgDatabase();
    env.DATABASE_URL = pg.url;
  } else {
    dir = mkdtempSync(join(tmpdir(), 'cns-app-'));
    env.SQLITE_PATH = join(dir, 'notices.db');
  }
  const clock = opts.clock ?? new OffsetClock(new Date('2026-11-24T02:00:00.000Z')); // 10:00 Beijing
  const { app } = await startApi({ config: loadConfig(env), clock });
  const baseUrl = `http://127.0.0.1:${port}`;
  const disableAutoAuth = opts.autoAuth === false ? () => false : enableAutoAuth(baseUrl);
  const unwatch = watchAnswers(baseUrl);
  return {
    app,
    baseUrl,
    db: app.get(Db),
    async close() {
      disableAutoAuth();
      unwatch();
      await app.close();
      await pg?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
      await checkWatchedAnswers();
    },
  };
}

export async function postJson(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AUTH_HEADER, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/* gRPC: a client built from the committed .proto (libs/contracts/proto/notices.proto). */

export type Msg = Record<string, unknown>;
type Unary = (req: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Msg) => void) => void;
export interface NoticesClient extends grpc.Client {
  send: Unary;
  get: Unary;
  cancel: Unary;
  hold: Unary;
  release: Unary;
  sendBatch(
    md: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res: Msg) => void,
  ): grpc.ClientWritableStream<Msg>;
  streamEvidence(req: Msg, md: grpc.Metadata): grpc.ClientReadableStream<Msg>;
}

export function noticesClient(address: string): NoticesClient {
  const def = protoLoader.loadSync(join(ROOT, 'libs', 'contracts', 'proto', 'notices.proto'), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    cns: { v1: { Notices: new (addr: string, creds: grpc.ChannelCredentials) => NoticesClient } };
  };
  return new pkg.cns.v1.Notices(address, grpc.credentials.createInsecure());
}

export function bearer(key: string | null): grpc.Metadata {
  const md = new grpc.Metadata();
  if (key) md.set('authorization', `Bearer ${key}`);
  return md;
}

export function unary(
  client: NoticesClient,
  method: 'send' | 'get' | 'cancel' | 'hold' | 'release',
  req: Msg,
  md: grpc.Metadata,
) {
  return new Promise<{ err: grpc.ServiceError | null; res: Msg }>((resolve) =>
    client[method](req, md, (err, res) => resolve({ err, res })),
  );
}

export function sendRequest(caseId: string, phone: string, key = ''): Msg {
  return {
    idempotencyKey: key,
    caseId,
    channel: 'sms',
    templateKey: 'early.sms.reminder',
    locale: 'zh-CN',
    recipient: { role: 'debtor', name: '张三', phone, timeZone: 'Asia/Shanghai' },
    dataJson: JSON.stringify({ amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 }),
  };
}
