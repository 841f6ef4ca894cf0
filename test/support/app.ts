/** Boots the api in this process (for tests that need direct access to its database). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { startApi } from '../../apps/api/src/bootstrap.js';
import { loadConfig } from '#libs/config';
import { type Clock, OffsetClock } from '#libs/core';
import { Db } from '#libs/persistence';
import { createPgDatabase, freePort, type TempDatabase } from './infra.js';

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
    ...opts.env,
  };
  if (opts.dialect === 'postgres') {
    pg = await createPgDatabase();
    env.DATABASE_URL = pg.url;
  } else {
    dir = mkdtempSync(join(tmpdir(), 'cns-app-'));
    env.SQLITE_PATH = join(dir, 'notices.db');
  }
  const clock = opts.clock ?? new OffsetClock(new Date('2026-11-24T02:00:00.000Z')); // 10:00 Beijing
  const { app } = await startApi({ config: loadConfig(env), clock });
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    db: app.get(Db),
    async close() {
      await app.close();
      await pg?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
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
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}
