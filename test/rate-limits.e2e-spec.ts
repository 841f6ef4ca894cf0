/**
 * Rate limits count notices (issue 13, item 4): batch lines and gRPC SendBatch items take tokens,
 * answers carry the RateLimit-* headers, a 40 MB NDJSON line is refused while it streams, and in
 * queue mode two api processes share one limit per key (Redis).
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import {
  bearer,
  type InProcessApp,
  type Msg,
  noticesClient,
  sendRequest,
  startInProcess,
} from './support/app.js';
import { AUTH_HEADER, phoneFor, smsBody, TEST_ADMIN_KEY } from './support/fixtures.js';
import {
  createPgDatabase,
  createRedisPrefix,
  freePort,
  type ServiceProcess,
  spawnApp,
  type TempDatabase,
  type TempRedis,
  waitHttpOk,
} from './support/infra.js';

type Line = {
  line?: number;
  id?: string;
  error?: { code: string; status: number; retryAfter?: number };
  summary?: Record<string, number>;
};

async function createKey(baseUrl: string, name: string, rateLimit: { perSecond: number; burst: number }) {
  const res = await fetch(`${baseUrl}/v1/admin/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AUTH_HEADER },
    body: JSON.stringify({ name, scopes: ['notifications:send', 'notifications:read'], rateLimit }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

function ndjson(caseIdPrefix: string, n: number, offset: number): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      ...smsBody(`${caseIdPrefix}-${i}`, phoneFor(offset + i)),
      idempotencyKey: `${caseIdPrefix}-${i}`,
    }),
  ).join('\n');
}

async function batch(baseUrl: string, key: string, body: string) {
  const res = await fetch(`${baseUrl}/v1/notifications/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${key}` },
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    lines: text.trim()
      ? text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Line)
      : [],
  };
}

describe('rate limits per notice (standalone)', () => {
  let api: InProcessApp;
  let grpcPort: number;

  beforeAll(async () => {
    grpcPort = await freePort();
    api = await startInProcess({
      dialect: 'sqlite',
      autoAuth: false,
      env: { GRPC_PORT: String(grpcPort), RATE_LIMIT_RPS: '50', RATE_LIMIT_BURST: '1000' },
    });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
  });

  it('a batch of 300 lines takes 300 tokens: a key allowed 5 gets 5 notices, the rest rate_limited with retryAfter', async () => {
    const key = await createKey(api.baseUrl, 'rl-batch', { perSecond: 1, burst: 5 });
    const res = await batch(api.baseUrl, key, ndjson('C-rl-b', 300, 1000));
    expect(res.status).toBe(200);
    // The request itself took none: the headers still show the whole budget.
    expect(res.headers.get('ratelimit-limit')).toBe('5');
    expect(res.headers.get('ratelimit-policy')).toBe('5;w=5');
    const results = res.lines.filter((l) => l.line !== undefined);
    expect(results).toHaveLength(300);
    const ok = results.filter((l) => l.id);
    const limited = results.filter((l) => l.error?.code === 'rate_limited');
    expect(ok).toHaveLength(5);
    expect(limited).toHaveLength(295);
    expect(limited[0].error?.status).toBe(429);
    expect(limited[0].error?.retryAfter).toBeGreaterThanOrEqual(1);
    expect(res.lines.at(-1)?.summary).toMatchObject({ accepted: 5, rateLimited: 295, failed: 295 });
    // Only the 5 reached the database.
    const [row] = await api.db.rows<{ n: number }>(
      "SELECT COUNT(*) AS n FROM notifications WHERE case_id LIKE 'C-rl-b-%'",
    );
    expect(Number(row.n)).toBe(5);

    // Out of tokens: the next batch is a plain 429 before anything streams, with the headers.
    const again = await batch(api.baseUrl, key, ndjson('C-rl-b2', 3, 2000));
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(again.headers.get('ratelimit-remaining')).toBe('0');
  }, 60_000);

  it('single requests answer RateLimit-* headers; the 429 keeps Retry-After', async () => {
    const key = await createKey(api.baseUrl, 'rl-single', { perSecond: 1, burst: 2 });
    const hit = () => fetch(`${api.baseUrl}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } });
    const a = await hit();
    expect(a.status).toBe(200);
    expect(a.headers.get('ratelimit-limit')).toBe('2');
    expect(a.headers.get('ratelimit-remaining')).toBe('1');
    expect(Number(a.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    expect((await hit()).headers.get('ratelimit-remaining')).toBe('0');
    const c = await hit();
    expect(c.status).toBe(429);
    expect(c.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(Number(c.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(c.headers.get('ratelimit-remaining')).toBe('0');
    expect(((await c.json()) as { code: string }).code).toBe('rate_limited');
  });

  it('gRPC SendBatch items take tokens: 3 of 10 accepted, 7 rate_limited', async () => {
    const key = await createKey(api.baseUrl, 'rl-grpc', { perSecond: 1, burst: 3 });
    const client = noticesClient(`127.0.0.1:${grpcPort}`);
    try {
      const summary = await new Promise<Msg>((resolve, reject) => {
        const call = client.sendBatch(bearer(key), (err, res) => (err ? reject(err) : resolve(res)));
        for (let i = 0; i < 10; i++) call.write(sendRequest(`C-rl-g-${i}`, phoneFor(3000 + i), `rl-g-${i}`));
        call.end();
      });
      const results = summary.results as { errorCode: string; id: string }[];
      expect(results.filter((r) => r.id)).toHaveLength(3);
      expect(results.filter((r) => r.errorCode === 'rate_limited')).toHaveLength(7);
      expect(summary.accepted).toBe(3);
      // Out of tokens: the stream itself is refused.
      const refused = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.sendBatch(bearer(key), (err) => resolve(err));
        call.write(sendRequest('C-rl-g-x', phoneFor(3100), 'rl-g-x'));
        call.end();
      });
      expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      client.close();
    }
  });

  it('a 40 MB NDJSON line is refused while it streams (before its end arrives); the next line is accepted', async () => {
    const url = new URL(`${api.baseUrl}/v1/notifications/batch`);
    const results: Line[] = [];
    let firstResultAfterBytes = -1;
    let sent = 0;
    const done = new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TEST_ADMIN_KEY}` },
        },
        (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            buf += d;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = JSON.parse(buf.slice(0, nl)) as Line;
              buf = buf.slice(nl + 1);
              if (results.length === 0) firstResultAfterBytes = sent;
              results.push(line);
            }
          });
          res.on('end', () => resolve());
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024, 'a');
      const total = 40;
      const pump = async () => {
        req.write('{"caseId":"');
        for (let i = 0; i < total; i++) {
          // Wait after 2 MB until the refusal of line 1 has come back (or give up and go on).
          if (i === 2) {
            const until = Date.now() + 10_000;
            while (results.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
          }
          sent += chunk.length;
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.write(`"}\n${JSON.stringify(smsBody('C-rl-big-2', phoneFor(4000)))}\n`);
        req.end();
      };
      pump().catch(reject);
    });
    await done;
    expect(results[0]?.line).toBe(1);
    expect(results[0]?.error?.code).toBe('payload_too_large');
    // The refusal came back after about 2 MB of the 40, not after the whole line.
    expect(firstResultAfterBytes).toBeGreaterThan(0);
    expect(firstResultAfterBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    const second = results.find((l) => l.line === 2);
    expect(second?.id).toBeTruthy();
    expect(results.at(-1)?.summary).toMatchObject({ accepted: 1, failed: 1 });
  }, 120_000);

  it('a bare key without "Bearer" is refused with 401 and a problem that says so', async () => {
    const res = await fetch(`${api.baseUrl}/v1/auth/whoami`, { headers: { authorization: TEST_ADMIN_KEY } });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const body = (await res.json()) as { code: string; detail: string };
    expect(body.code).toBe('unauthenticated');
    expect(body.detail).toMatch(/must be "Bearer <key>"/);
    const ok = await fetch(`${api.baseUrl}/v1/auth/whoami`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    expect(ok.status).toBe(200);
    // gRPC: the same rule on the authorization metadata.
    const client = noticesClient(`127.0.0.1:${grpcPort}`);
    try {
      const md = new grpc.Metadata();
      md.set('authorization', TEST_ADMIN_KEY);
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.get({ id: '00000000-0000-4000-8000-000000000000' }, md, (e) => resolve(e)),
      );
      expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
    }
  });
});

describe('rate limits shared across api processes (queue mode, Redis)', () => {
  let db: TempDatabase;
  let redis: TempRedis;
  const apis: ServiceProcess[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    db = await createPgDatabase();
    redis = createRedisPrefix();
    for (const name of ['rl-api-a', 'rl-api-b']) {
      const port = await freePort();
      apis.push(
        spawnApp('api', name, {
          HOST: '127.0.0.1',
          PORT: String(port),
          GRPC_PORT: '0',
          DATABASE_URL: db.url,
          REDIS_URL: redis.url,
          QUEUE_PREFIX: redis.prefix,
          API_KEYS_BOOTSTRAP: TEST_ADMIN_KEY,
          API_KEY_CACHE_MS: '0',
        }),
      );
      urls.push(`http://127.0.0.1:${port}`);
      // One at a time: the second runs no migrations of its own while the first does.
      await waitHttpOk(`${urls.at(-1)}/health/ready`, 60_000);
    }
  }, 120_000);

  afterAll(async () => {
    for (const a of apis) await a.kill();
    await redis?.drop();
    await db?.drop();
  });

  it('one key, two processes: a batch on A and requests on B draw on the same 4 tokens', async () => {
    const [a, b] = urls;
    const key = await createKey(a, 'rl-shared', { perSecond: 1, burst: 4 });
    const whoami = (base: string) =>
      fetch(`${base}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } });
    const res = await batch(a, key, ndjson('C-rl-q', 3, 5000));
    expect(res.lines.at(-1)?.summary).toMatchObject({ accepted: 3, rateLimited: 0 });
    const onB = await whoami(b);
    expect(onB.status).toBe(200);
    expect(onB.headers.get('ratelimit-remaining')).toBe('0');
    // Per-process buckets would still hold 1 on A and 3 on B.
    expect((await whoami(a)).status).toBe(429);
    const limitedB = await whoami(b);
    expect(limitedB.status).toBe(429);
    expect(Number(limitedB.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('the queue board sends security headers: no framing', async () => {
    const res = await fetch(`${urls[0]}/admin/queues`, {
      headers: { authorization: `Basic ${Buffer.from(`admin:${TEST_ADMIN_KEY}`).toString('base64')}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
