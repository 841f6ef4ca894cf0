import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import {
  bearer,
  type InProcessApp,
  type Msg,
  type NoticesClient,
  noticesClient,
  sendRequest,
  startInProcess,
} from './support/app.js';
import { AUTH_HEADER, phoneFor, smsBody } from './support/fixtures.js';
import { freePort, ROOT } from './support/infra.js';
import { openApiGaps } from '../apps/api/src/observability/openapi.js';

/**
 * Acceptance (2): every REST route and gRPC method against every scope, no key, a wrong key and
 * a revoked key. The expected scopes are written here from the issue, independently of the
 * decorators; a route the table does not know fails the test. Acceptance (5): the committed
 * openapi.json is what the running service serves, and it is a valid OpenAPI document.
 */

const SCOPES = [
  'notifications:send',
  'notifications:read',
  'templates:edit',
  'templates:approve',
  'evidence:read',
  'admin',
] as const;
type Scope = (typeof SCOPES)[number];
/** 'any-key': any valid key, whatever its scopes (still 401 without one). */
type Need = Scope[] | 'public' | 'any-key';

const TEMPLATE_READ: Scope[] = ['templates:edit', 'templates:approve'];

/** "METHOD /path" (OpenAPI path syntax) -> who may call it. First match wins. */
const RULES: [RegExp, Need][] = [
  [/^(GET|POST) \/(health|webhooks)\//, 'public'],
  [/^GET \/editor(\/|$)/, 'public'],
  [/^GET \/problems\/\{code\}$/, 'public'],
  [/^(GET|POST) \/unsubscribe$/, 'public'],
  [/^POST \/v1\/notifications(\/batch)?$/, ['notifications:send']],
  [/^POST \/v1\/notifications\/\{id\}\/cancel$/, ['notifications:send']],
  [/^GET \/v1\/notifications/, ['notifications:read']],
  [/^(PUT|DELETE) \/v1\/cases\/\{caseId\}\/hold$/, ['notifications:send']],
  [/^GET \/v1\/cases\/\{caseId\}\/holds$/, ['notifications:read']],
  [/^PUT \/v1\/cases\/\{caseId\}\/facts$/, ['notifications:send']],
  [/^POST \/v1\/opt-outs$/, ['notifications:send']],
  [/^\w+ \/v1\/callbacks\//, ['notifications:send']],
  [/^GET \/v1\/cases\/\{caseId\}\/(evidence|legal-eligibility|timeline|inclusion-proof)/, ['evidence:read']],
  [/^GET \/v1\/evidence\/public-key$/, 'public'],
  [/^GET \/v1\/evidence\/log\/vkey$/, 'public'],
  [/^POST \/v1\/evidence\/checkpoints$/, ['admin']],
  [/^(GET|POST) \/v1\/evidence\//, ['evidence:read']],
  [/^POST \/v1\/templates\/.*(approve|reject|publish|rollback)$/, ['templates:approve']],
  [/^POST \/v1\/templates\/preview/, TEMPLATE_READ],
  [/^GET \/v1\/templates/, TEMPLATE_READ],
  [/^(POST|PUT|PATCH|DELETE) \/v1\/templates/, ['templates:edit']],
  [/^GET \/v1\/auth\/whoami$/, 'any-key'],
  [/^GET \/v1\/channels$/, 'any-key'],
  [/^POST \/v1\/post\/print-room\//, ['admin']],
  [/^\w+ \/v1\/admin\//, ['admin']],
  [/^GET \/metrics$/, ['admin']],
];

const GRPC: [string, Scope[]][] = [
  ['Send', ['notifications:send']],
  ['SendBatch', ['notifications:send']],
  ['Get', ['notifications:read']],
  ['Cancel', ['notifications:send']],
  ['Hold', ['notifications:send']],
  ['Release', ['notifications:send']],
  ['StreamEvidence', ['evidence:read']],
  ['ListNotifications', ['notifications:read']],
  ['ListHolds', ['notifications:read']],
  ['ListEvidence', ['evidence:read']],
  ['AddOptOut', ['notifications:send']],
  ['ListOptOuts', ['notifications:read']],
];

type Unary = (req: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => void;
/** The RPCs test/support/app.ts does not type. */
type Client = NoticesClient &
  Record<'listNotifications' | 'listHolds' | 'listEvidence' | 'addOptOut' | 'listOptOuts', Unary>;

function needOf(op: string): Need {
  const rule = RULES.find(([re]) => re.test(op));
  if (!rule) throw new Error(`no expectation for ${op}: add it to RULES`);
  return rule[1];
}

type Cred = { label: string; key: string | null; scopes: Scope[] | 'invalid' };

const PROBLEM_KEYS = new Set([
  'type',
  'title',
  'status',
  'detail',
  'instance',
  'code',
  'requiredScopes',
  'retryAfter',
]);

describe('authorization matrix (REST + gRPC) and the OpenAPI document', () => {
  let api: InProcessApp;
  let client: Client;
  let doc: {
    paths: Record<
      string,
      Record<string, { security?: unknown; responses: Record<string, { content?: Record<string, unknown> }> }>
    >;
  };
  const creds: Cred[] = [];
  const caseId = 'C-authz-1';
  const phone = phoneFor(31);
  let notificationId = '';
  let victimKeyId = '';

  const admin = AUTH_HEADER;
  async function createKey(name: string, scopes: Scope[]) {
    const res = await fetch(`${api.baseUrl}/v1/admin/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ name, scopes }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string };
  }

  beforeAll(async () => {
    const port = await freePort();
    api = await startInProcess({ dialect: 'sqlite', env: { GRPC_PORT: String(port) }, autoAuth: false });
    client = noticesClient(`127.0.0.1:${port}`) as Client;
    creds.push({ label: 'no key', key: null, scopes: 'invalid' });
    creds.push({ label: 'wrong key', key: `cns_0123456789abcdef_${'x'.repeat(43)}`, scopes: 'invalid' });
    for (const s of SCOPES)
      creds.push({ label: s, key: (await createKey(`k-${s.replace(':', '-')}`, [s])).key, scopes: [s] });
    const revoked = await createKey('k-revoked', ['admin']);
    const del = await fetch(`${api.baseUrl}/v1/admin/api-keys/${revoked.id}`, {
      method: 'DELETE',
      headers: admin,
    });
    expect(del.status).toBe(200);
    creds.push({ label: 'revoked admin key', key: revoked.key, scopes: 'invalid' });
    victimKeyId = (await createKey('k-victim', ['notifications:read'])).id;
    const res = await fetch(`${api.baseUrl}/v1/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify(smsBody(caseId, phone)),
    });
    expect(res.status).toBe(202);
    notificationId = ((await res.json()) as { id: string }).id;
    doc = (await (await fetch(`${api.baseUrl}/docs/openapi.json`)).json()) as typeof doc;
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await api?.close();
  });

  function urlFor(path: string): string {
    return path
      .replace(
        '{id}',
        path.startsWith('/v1/admin/api-keys')
          ? victimKeyId
          : path.startsWith('/v1/notifications')
            ? notificationId
            : '00000000-0000-4000-8000-000000000000',
      )
      .replace('{caseId}', caseId)
      .replace('{key}', 'early.sms.reminder')
      .replace('{locale}', 'zh-CN')
      .replace('{version}', '1')
      .replace(/\{[^}]+\}/g, 'x');
  }

  function allowed(c: Cred, need: Need): boolean {
    if (need === 'public') return true;
    if (c.scopes === 'invalid') return false;
    if (need === 'any-key') return true;
    return c.scopes.includes('admin') || need.some((s) => (c.scopes as Scope[]).includes(s));
  }

  it('REST: exactly the expected answer for every route x credential, and denials leak nothing', async () => {
    const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((m) => ({ method: m.toUpperCase(), path })),
    );
    expect(ops.length).toBeGreaterThanOrEqual(15);
    const failures: string[] = [];
    let checked = 0;
    for (const { method, path } of ops) {
      const need = needOf(`${method} ${path}`);
      for (const c of creds) {
        const res = await fetch(`${api.baseUrl}${urlFor(path)}`, {
          method,
          headers: {
            ...(c.key ? { authorization: `Bearer ${c.key}` } : {}),
            ...(method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
          },
          body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
        });
        const text = await res.text();
        checked++;
        const label = `${method} ${path} as ${c.label}: ${res.status}`;
        if (need === 'public') {
          if (res.status === 401) failures.push(`${label} (public route asked for a key)`);
          continue;
        }
        const expected = c.scopes === 'invalid' ? 401 : allowed(c, need) ? 'pass' : 403;
        if (expected === 'pass') {
          if (res.status === 401 || res.status === 403 || res.status === 429)
            failures.push(`${label}, expected to pass`);
          continue;
        }
        if (res.status !== expected) {
          failures.push(`${label}, expected ${expected}`);
          continue;
        }
        const body = JSON.parse(text) as Record<string, unknown>;
        if (!res.headers.get('content-type')?.startsWith('application/problem+json'))
          failures.push(`${label}: not problem+json`);
        if (body.code !== (expected === 401 ? 'unauthenticated' : 'forbidden'))
          failures.push(`${label}: code ${String(body.code)}`);
        const extra = Object.keys(body).filter((k) => !PROBLEM_KEYS.has(k));
        if (extra.length) failures.push(`${label}: leaks ${extra.join(', ')}`);
        if (text.includes(phone) || text.includes('张三') || text.includes('amountDue'))
          failures.push(`${label}: leaks data`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(ops.length * creds.length);
  }, 60_000);

  it('the admin key works, a revoked or wrong key never does, and the authenticated key is the actor', async () => {
    const hold = await fetch(`${api.baseUrl}/v1/cases/C-authz-actor/hold`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${creds.find((c) => c.label === 'notifications:send')?.key}`,
      },
      body: JSON.stringify({ kind: 'dispute', reason: 'actor check' }),
    });
    expect(hold.status).toBe(200);
    expect(((await hold.json()) as { hold: { createdBy: string } }).hold.createdBy).toBe(
      'k-notifications-send',
    );
    const list = (await (await fetch(`${api.baseUrl}/v1/admin/api-keys`, { headers: admin })).json()) as {
      items: { name: string; revokedAt: string | null; key?: string; secret_sha256?: string }[];
    };
    expect(list.items.find((k) => k.name === 'k-revoked')?.revokedAt).not.toBeNull();
    expect(list.items.every((k) => k.key === undefined && k.secret_sha256 === undefined)).toBe(true);
  });

  function grpcCall(method: string, md: grpc.Metadata): Promise<number> {
    const bad = { ...sendRequest('C-authz-grpc', '12345') };
    return new Promise((resolve) => {
      const done = (err: grpc.ServiceError | null) => resolve(err ? err.code : grpc.status.OK);
      switch (method) {
        case 'Send':
          return client.send(bad, md, done);
        case 'Get':
          return client.get({ id: '00000000-0000-4000-8000-000000000000' }, md, done);
        case 'Cancel':
          return client.cancel({ id: '00000000-0000-4000-8000-000000000000' }, md, done);
        case 'Hold':
          return client.hold({ caseId: 'C-authz-grpc', kind: 'no-such-kind' }, md, done);
        case 'Release':
          return client.release({ caseId: 'C-authz-grpc', kind: '' }, md, done);
        case 'ListNotifications':
          return client.listNotifications({ caseId }, md, done);
        case 'ListHolds':
          return client.listHolds({ caseId }, md, done);
        case 'ListEvidence':
          return client.listEvidence({ caseId }, md, done);
        case 'AddOptOut':
          return client.addOptOut({ contact: 'not-an-address' }, md, done);
        case 'ListOptOuts':
          return client.listOptOuts({ address: '+8613800138000' }, md, done);
        case 'SendBatch': {
          const s = client.sendBatch(md, done);
          s.write(bad as Msg);
          s.end();
          return;
        }
        case 'StreamEvidence': {
          const s = client.streamEvidence({ caseId }, md);
          s.on('data', () => undefined);
          s.on('error', (e: grpc.ServiceError) => resolve(e.code));
          s.on('end', () => resolve(grpc.status.OK));
          return;
        }
      }
    });
  }

  it('gRPC: exactly the expected status for every method x credential', async () => {
    const failures: string[] = [];
    for (const [method, need] of GRPC) {
      for (const c of creds) {
        const code = await grpcCall(method, bearer(c.key));
        const expected =
          c.scopes === 'invalid'
            ? grpc.status.UNAUTHENTICATED
            : allowed(c, need)
              ? 'pass'
              : grpc.status.PERMISSION_DENIED;
        if (expected === 'pass') {
          if (
            (
              [
                grpc.status.UNAUTHENTICATED,
                grpc.status.PERMISSION_DENIED,
                grpc.status.RESOURCE_EXHAUSTED,
              ] as number[]
            ).includes(code)
          ) {
            failures.push(`${method} as ${c.label}: ${code}, expected to pass`);
          }
        } else if (code !== expected) failures.push(`${method} as ${c.label}: ${code}, expected ${expected}`);
      }
    }
    expect(failures).toEqual([]);
  }, 30_000);

  it('the committed openapi.json is what the service serves, and it validates', async () => {
    const committed = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as unknown;
    expect(doc).toEqual(committed);
    const result = await new Validator().validate(committed as Parameters<Validator['validate']>[0]);
    expect(result).toMatchObject({ valid: true });
    // Every operation types its success answer and its request body (or says it reads none).
    expect(openApiGaps(committed)).toEqual([]);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const need = needOf(`${method.toUpperCase()} ${path}`);
        if (need !== 'public') {
          expect([`${method} ${path}`, op.security]).toEqual([`${method} ${path}`, [{ apiKey: [] }]]);
        }
        for (const [status, res] of Object.entries(op.responses)) {
          // /health/ready answers 503 with the terminus report (JSON), on purpose; the
          // unsubscribe page (a person's browser) says "invalid link" in HTML.
          if (
            Number(status) >= 400 &&
            path !== '/health/ready' &&
            !(path === '/unsubscribe' && status === '400')
          )
            expect([path, status, Object.keys(res.content ?? {})]).toEqual([
              path,
              status,
              ['application/problem+json'],
            ]);
        }
      }
    }
    const ui = await fetch(`${api.baseUrl}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
  });

  it('415 is documented exactly where a non-JSON body is refused, and Idempotency-Key is caller-scoped', async () => {
    const mismatches: string[] = [];
    let documented = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!['post', 'put', 'patch'].includes(method)) continue;
        const res = await fetch(`${api.baseUrl}${urlFor(path)}`, {
          method: method.toUpperCase(),
          headers: { 'content-type': 'text/plain', ...admin },
          body: 'caseId=1',
        });
        await res.arrayBuffer();
        const says = '415' in op.responses;
        if (says) documented++;
        if ((res.status === 415) !== says)
          mismatches.push(`${method} ${path}: ${res.status}, documented ${says}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(documented).toBeGreaterThanOrEqual(10);
    const create = doc.paths['/v1/notifications'].post as unknown as {
      parameters: { name: string; description: string }[];
      responses: Record<string, { headers?: Record<string, unknown> }>;
    };
    const header = create.parameters.find((p) => p.name === 'Idempotency-Key');
    expect(header?.description).toMatch(/Scoped to the caller/);
    expect(Object.keys(create.responses['202'].headers ?? {})).toEqual(
      expect.arrayContaining(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Location']),
    );
  });
});
