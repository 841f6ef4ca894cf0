/**
 * Property-based test over the REST inputs: PROPERTY_REQUESTS (default 10,000) generated requests,
 * valid-ish and garbage bodies, headers and ids in paths, against an in-process api (SQLite,
 * sandbox providers). No answer may be a 5xx, and every 4xx must be an RFC 9457 problem+json.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { type InProcessApp, startInProcess } from '../support/app.js';

const TOTAL = Number(process.env.PROPERTY_REQUESTS ?? 10_000);
const PER_RUN = 25;
const API_KEY = `cns_0123456789abcdef_${'p'.repeat(43)}`;

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

const ascii = (min: number, max: number) =>
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: min,
    maxLength: max,
  });

/** Ids in paths: uuids, near-uuids, garbage, percent-encoded junk, long strings. */
const idArb = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.uuid().map((u) => u.slice(0, 35)),
  fc.webSegment(),
  ascii(0, 40).map((s) => encodeURIComponent(s)),
  fc.constantFrom('%', '%zz', '%00', '..', '.', '%2e%2e', 'null', '-1', '1e309', 'a'.repeat(300)),
  fc.string({ maxLength: 20 }).map((s) => encodeURIComponent(s)),
);

const caseIdArb = fc.oneof(
  fc.constant('C-2026-000123'),
  fc.stringMatching(/^C-[0-9]{1,10}$/),
  fc.webSegment(),
  ascii(0, 300).map((s) => encodeURIComponent(s)),
);

const phoneArb = fc.oneof(
  fc.integer({ min: 0, max: 99_999_999 }).map((i) => `+86138${String(i).padStart(8, '0')}`),
  fc.constantFrom('+8613800000000', '13800138000', '+1', '', '+86 138 0013 8000', '+999999999999999999'),
  ascii(0, 20),
);

/** Mostly the shape of a notification request, each field valid, missing or replaced by junk. */
const maybe = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 6, arbitrary: valid.map((v) => ({ v })) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => ({ v })) },
  );

const notificationArb = fc
  .record({
    caseId: maybe(caseIdArb),
    channel: maybe(fc.constantFrom('sms', 'email', 'letter', 'fax')),
    templateKey: maybe(
      fc.constantFrom('early.sms.reminder', 'early.email.reminder', 'mid.letter.notice', 'x.y.z', ''),
    ),
    locale: maybe(fc.constantFrom('zh-CN', 'en', 'fr', '')),
    dpd: maybe(fc.integer({ min: -10, max: 400 })),
    stage: maybe(fc.constantFrom('reminder', 'early', 'mid', 'late', 'legal', 'later')),
    recipient: maybe(
      fc.record({
        role: maybe(fc.constantFrom('debtor', 'guarantor', 'contact', 'boss')),
        name: maybe(fc.oneof(fc.constant('张三'), fc.string({ maxLength: 30 }))),
        phone: maybe(phoneArb),
        email: maybe(fc.oneof(fc.emailAddress(), ascii(0, 20))),
        timeZone: maybe(fc.constantFrom('Asia/Shanghai', 'UTC', 'Mars/Base', '')),
      }),
    ),
    data: maybe(
      fc.record({
        amountDue: maybe(fc.oneof(fc.constant('12345.67'), fc.double().map(String), ascii(0, 12))),
        dueDate: maybe(
          fc.oneof(
            fc.constant('2026-11-01'),
            fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString())),
            ascii(0, 12),
          ),
        ),
        cardLast4: maybe(fc.oneof(fc.constant('1234'), ascii(0, 6))),
        dpd: maybe(fc.integer({ min: -5, max: 400 })),
      }),
    ),
  })
  .map((rec) => {
    const unwrap = (o: Record<string, { v: unknown } | undefined>): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const [k, w] of Object.entries(o)) {
        if (w === undefined) continue;
        const v = w.v;
        out[k] =
          v &&
          typeof v === 'object' &&
          !Array.isArray(v) &&
          Object.values(v).every((x) => x === undefined || (typeof x === 'object' && x !== null && 'v' in x))
            ? unwrap(v as Record<string, { v: unknown } | undefined>)
            : v;
      }
      return out;
    };
    return unwrap(rec as unknown as Record<string, { v: unknown } | undefined>);
  });

/** A fully valid explicit SMS request (a new case and number each time). */
const validArb = fc
  .record({ i: fc.integer({ min: 0, max: 99_999_999 }), locale: fc.constantFrom('zh-CN', 'en') })
  .map(({ i, locale }) =>
    JSON.stringify({
      caseId: `C-P-${i}`,
      channel: 'sms',
      templateKey: 'early.sms.reminder',
      locale,
      recipient: {
        role: 'debtor',
        name: '张三',
        phone: `+86139${String(i).padStart(8, '0')}`,
        timeZone: 'Asia/Shanghai',
      },
      data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
    }),
  );

const bodyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 3, arbitrary: validArb },
  { weight: 5, arbitrary: notificationArb.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{',
      '[',
      '{"a":',
      'null',
      '"x"',
      '{"__proto__":{"x":1}}',
      '{"caseId":"C-1","constructor":{"prototype":{}}}',
      '\u0000',
      '[]'.repeat(1000),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(notificationArb, { maxLength: 3 })
      .map((xs) => xs.map((x) => JSON.stringify(x)).join('\n')),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const pathArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant('/v1/notifications') },
  { weight: 2, arbitrary: idArb.map((id) => `/v1/notifications/${id}`) },
  { weight: 1, arbitrary: idArb.map((id) => `/v1/notifications/${id}/cancel`) },
  { weight: 1, arbitrary: caseIdArb.map((c) => `/v1/notifications?caseId=${c}`) },
  { weight: 1, arbitrary: fc.constant('/v1/notifications?caseId=') },
  { weight: 1, arbitrary: caseIdArb.map((c) => `/v1/cases/${c}/evidence`) },
  { weight: 1, arbitrary: fc.constant('/v1/evidence/verify') },
  { weight: 1, arbitrary: fc.constant('/v1/notifications/batch') },
  { weight: 1, arbitrary: idArb.map((id) => `/webhooks/twilio/status?nid=${id}`) },
  { weight: 1, arbitrary: caseIdArb.map((c) => `/v1/cases/${c}/hold`) },
  // Every other POST/PUT route (issue 13: the input policy holds on all of them).
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '/v1/opt-outs',
      '/v1/templates/drafts',
      '/v1/templates/preview',
      '/v1/templates/preview/pdf',
      '/v1/templates/early.sms.reminder/zh-CN/rollback',
      '/v1/admin/api-keys',
      '/v1/evidence/checkpoints',
      '/v1/post/print-room/batches/close',
      '/v1/post/print-room/tracking',
      '/webhooks/email/events',
      '/webhooks/post/events',
      '/unsubscribe',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(idArb, fc.constantFrom('', '/submit', '/approve', '/reject', '/withdraw', '/publish'))
      .map(([id, action]) => `/v1/templates/drafts/${id}${action}`),
  },
  { weight: 1, arbitrary: fc.array(fc.webSegment(), { maxLength: 4 }).map((s) => `/${s.join('/')}`) },
);

const requestArb: fc.Arbitrary<Req> = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH'),
    path: pathArb,
    contentType: fc.oneof(
      { weight: 6, arbitrary: fc.constant('application/json') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'application/json; charset=latin1',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/x-ndjson',
          'multipart/form-data',
          'application/problem+json',
        ),
      },
      { weight: 1, arbitrary: ascii(0, 30) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    auth: fc.oneof(
      { weight: 8, arbitrary: fc.constant(`Bearer ${API_KEY}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '',
          'Bearer',
          'Bearer x',
          `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}`,
          `bearer ${API_KEY}x`,
        ),
      },
      { weight: 1, arbitrary: ascii(0, 60) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    idempotencyKey: fc.option(fc.oneof(ascii(0, 300), fc.uuid()), { nil: undefined }),
    body: bodyArb,
  })
  .map(({ method, path, contentType, auth, idempotencyKey, body }) => {
    const headers: Record<string, string> = {};
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (auth !== undefined) headers.authorization = auth;
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    return { method, path, headers, body: method === 'GET' ? undefined : body };
  });

function send(baseUrl: string, r: Req): Promise<Answer> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method: r.method,
        path: r.path,
        headers: {
          ...r.headers,
          ...(r.body !== undefined ? { 'content-length': Buffer.byteLength(r.body) } : {}),
        },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: PER_RUN });

/** Why an answer breaks the contract, or null when it is fine. */
function violation(a: Answer, r: Req): string | null {
  if (a.status >= 500) return `status ${a.status}`;
  if (a.status < 400) return null;
  // The one-click unsubscribe page answers a person's browser in HTML (RFC 8058 POSTs get JSON).
  if (r.path.startsWith('/unsubscribe') && r.method === 'GET' && a.type.startsWith('text/html')) return null;
  if (!a.type.startsWith('application/problem+json')) return `4xx with content-type "${a.type}"`;
  let p: { status?: unknown; title?: unknown; type?: unknown };
  try {
    p = JSON.parse(a.body) as typeof p;
  } catch {
    return '4xx problem body is not JSON';
  }
  if (p.status !== a.status) return `problem.status ${String(p.status)} != ${a.status}`;
  if (typeof p.title !== 'string' || typeof p.type !== 'string') return 'problem without title/type';
  // A refusal of the input names the field (or `(body)`) it is about.
  const errors = (p as { errors?: unknown }).errors;
  if ((a.status === 400 || a.status === 422) && !(Array.isArray(errors) && errors.length > 0)) {
    return `${a.status} problem names no field`;
  }
  if (Array.isArray(errors) && errors.some((e) => typeof (e as { path?: unknown }).path !== 'string')) {
    return 'problem field without a path';
  }
  return null;
}

describe('REST inputs (property-based)', () => {
  let app: InProcessApp;

  beforeAll(async () => {
    app = await startInProcess({
      dialect: 'sqlite',
      env: { API_KEYS_BOOTSTRAP: API_KEY, RATE_LIMIT_RPS: '0', GRPC_PORT: '0', LOG_LEVEL: 'fatal' },
    });
  }, 60_000);

  afterAll(async () => {
    agent.destroy();
    await app?.close();
  }, 30_000);

  it(`${TOTAL} generated requests: no 5xx, every 4xx a problem+json`, async () => {
    let sent = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { minLength: PER_RUN, maxLength: PER_RUN }), async (reqs) => {
        const answers = await Promise.all(reqs.map((r) => send(app.baseUrl, r)));
        sent += reqs.length;
        for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        const bad = answers
          .map((a, i) => ({ why: violation(a, reqs[i]), req: reqs[i], body: a.body.slice(0, 300) }))
          .filter((x) => x.why !== null);
        if (bad.length) console.log(JSON.stringify(bad.slice(0, 5), null, 1));
        expect(bad).toEqual([]);
      }),
      {
        numRuns: Math.ceil(TOTAL / PER_RUN),
        seed: Number(process.env.PROPERTY_SEED ?? 20261125),
        endOnFailure: true,
      },
    );
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    console.log(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    // The generator reached the interesting answers: accepted, validation errors, auth errors, not found.
    expect(statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? statuses.get(422) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(401) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(404) ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
