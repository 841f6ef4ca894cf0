/**
 * Property-based test over the gRPC methods: GRPC_PROPERTY_REQUESTS (default 10,000) generated
 * calls of every method of cns.v1.Notices (Send, SendBatch, Get, Cancel, Hold, Release,
 * StreamEvidence, ListNotifications, ListHolds, ListEvidence, AddOptOut, ListOptOuts), with
 * valid-ish and garbage fields and credentials. No answer may be an
 * INTERNAL / UNKNOWN status, and every refusal carries its problem in the `problem-bin` trailer;
 * an INVALID_ARGUMENT problem names the field.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  bearer,
  type InProcessApp,
  type Msg,
  type NoticesClient,
  noticesClient,
  startInProcess,
} from '../support/app.js';
import { freePort } from '../support/infra.js';

const TOTAL = Number(process.env.GRPC_PROPERTY_REQUESTS ?? 10_000);
const PER_RUN = 25;
const API_KEY = `cns_0123456789abcdef_${'g'.repeat(43)}`;

type Unary = (req: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => void;
const LISTS = ['listNotifications', 'listHolds', 'listEvidence', 'addOptOut', 'listOptOuts'] as const;
type Client = NoticesClient & Record<(typeof LISTS)[number], Unary>;
type Method =
  'send' | 'sendBatch' | 'get' | 'cancel' | 'hold' | 'release' | 'streamEvidence' | (typeof LISTS)[number];

interface Call {
  method: Method;
  auth: string | null;
  msg: Msg;
  batch: Msg[];
}

interface Outcome {
  code: grpc.status;
  problem: string | null;
}

const text = (max: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: max }) },
    { weight: 1, arbitrary: fc.constantFrom('', '\u0000', 'a\u0000b', '𠮷', ' ', 'null', '%00') },
    { weight: 1, arbitrary: fc.string({ maxLength: 2000 }) },
  );

const idArb = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  text(40),
);
const caseIdArb = fc.oneof(fc.constant('C-grpc-prop'), fc.stringMatching(/^C-[0-9]{1,8}$/), text(80));
/** google.protobuf.Timestamp: unset, in range, past, out of range, nanos out of 0..999,999,999. */
const instantArb = fc.oneof(
  fc.constant(null),
  fc.date({ noInvalidDate: true }).map((d) => ({
    seconds: String(Math.floor(d.getTime() / 1000)),
    nanos: (d.getTime() % 1000) * 1e6,
  })),
  fc.record({
    seconds: fc.bigInt({ min: -(10n ** 13n), max: 10n ** 13n }).map(String),
    nanos: fc.integer({ min: -5, max: 2_000_000_000 }),
  }),
);
const dataJsonArb = fc.oneof(
  fc.constant(JSON.stringify({ amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('', '{', '[]', 'null', '{"a":"\\u0000"}', '['.repeat(5000) + ']'.repeat(5000)),
  text(100),
);

const sendArb: fc.Arbitrary<Msg> = fc.record({
  idempotencyKey: fc.oneof(fc.constant(''), fc.uuid(), text(300)),
  caseId: caseIdArb,
  channel: fc.oneof(fc.constantFrom('sms', 'email', 'letter', ''), text(10)),
  templateKey: fc.oneof(fc.constantFrom('early.sms.reminder', 'late.letter.demand', ''), text(40)),
  locale: fc.oneof(fc.constantFrom('zh-CN', 'en', ''), text(10)),
  recipient: fc.record({
    role: fc.oneof(fc.constantFrom('debtor', 'guarantor', 'contact', ''), text(10)),
    name: fc.oneof(fc.constant('张三'), text(80)),
    phone: fc.oneof(
      fc.integer({ min: 0, max: 99_999_999 }).map((i) => `+86138${String(i).padStart(8, '0')}`),
      fc.constantFrom('', '13800138000', '+1'),
      text(20),
    ),
    email: fc.oneof(fc.constant(''), fc.emailAddress(), text(40)),
    timeZone: fc.oneof(fc.constantFrom('Asia/Shanghai', '', 'Mars/Base'), text(20)),
  }),
  dataJson: dataJsonArb,
  dpd: fc.option(fc.integer({ min: -40_000, max: 40_000 }), { nil: undefined }),
  stage: fc.oneof(fc.constantFrom('', 'early', 'late', 'legal'), text(10)),
});

const callArb: fc.Arbitrary<Call> = fc.record({
  method: fc.constantFrom<Method>(
    'send',
    'send',
    'send',
    'sendBatch',
    'get',
    'cancel',
    'hold',
    'hold',
    'release',
    'streamEvidence',
    ...LISTS,
  ),
  auth: fc.oneof(
    { weight: 8, arbitrary: fc.constant(API_KEY) },
    { weight: 1, arbitrary: fc.constantFrom(null, '', 'x', `${API_KEY}x`) },
  ),
  msg: fc.oneof(
    sendArb,
    fc.record({ id: idArb, reason: text(600) }),
    fc.record({
      caseId: caseIdArb,
      kind: fc.oneof(fc.constantFrom('dispute', 'paid', ''), text(20)),
      until: instantArb,
      reason: text(600),
    }),
    fc.record({ caseId: caseIdArb, afterSeq: fc.integer({ min: -5, max: 100 }) }),
    fc.record({
      caseId: caseIdArb,
      limit: fc.integer({ min: -5, max: 600 }),
      // A REST-shaped cursor of some list with a key of any shape, or garbage.
      cursor: fc.oneof(
        fc.constant(''),
        fc
          .record({
            k: fc.constantFrom('notifications.byCase', 'holds.byCase', 'evidence.events'),
            v: fc.jsonValue(),
          })
          .map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
        text(60),
      ),
    }),
    fc.record({
      contact: fc.oneof(fc.constantFrom('+8613800138000', '139-4332-1315', 'a@example.com'), text(40)),
      channel: fc.oneof(fc.constantFrom('', '*', 'sms', 'email', 'letter'), text(8)),
      reason: fc.oneof(fc.constantFrom('', 'opt_out', 'complaint', 'contact_refused'), text(12)),
    }),
    fc.record({
      postal: fc.record({
        street: text(40),
        postcode: fc.oneof(fc.constant('200120'), text(14)),
        country: text(3),
      }),
      channel: fc.constantFrom('', 'letter', 'sms'),
      reason: fc.constant(''),
    }),
    fc.record({ address: fc.oneof(fc.constant('+8613800138000'), text(400)) }),
  ),
  batch: fc.array(sendArb, { maxLength: 3 }),
});

function metadataFor(auth: string | null): grpc.Metadata {
  if (auth === null) return new grpc.Metadata();
  return auth === API_KEY
    ? bearer(auth)
    : (() => {
        const md = new grpc.Metadata();
        md.set('authorization', auth);
        return md;
      })();
}

function outcome(err: grpc.ServiceError | null): Outcome {
  if (!err) return { code: grpc.status.OK, problem: null };
  const raw = err.metadata?.get('problem-bin')[0];
  return { code: err.code, problem: raw === undefined ? null : String(raw) };
}

function call(client: Client, c: Call): Promise<Outcome> {
  const md = metadataFor(c.auth);
  return new Promise((resolve) => {
    switch (c.method) {
      case 'sendBatch': {
        const stream = client.sendBatch(md, (err) => resolve(outcome(err)));
        for (const m of c.batch) stream.write(m);
        stream.end();
        return;
      }
      case 'streamEvidence': {
        const stream = client.streamEvidence(c.msg, md);
        stream.on('data', () => undefined);
        stream.on('error', (err: grpc.ServiceError) => resolve(outcome(err)));
        stream.on('end', () => resolve(outcome(null)));
        return;
      }
      default:
        client[c.method](c.msg, md, (err) => resolve(outcome(err)));
    }
  });
}

/** Why an outcome breaks the contract, or null when it is fine. */
function violation(o: Outcome): string | null {
  if (o.code === grpc.status.OK) return null;
  if (
    [grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS, grpc.status.UNIMPLEMENTED].includes(
      o.code,
    )
  ) {
    return `status ${grpc.status[o.code]}`;
  }
  if (o.problem === null) return `${grpc.status[o.code]} without a problem-bin trailer`;
  let p: { status?: unknown; title?: unknown; errors?: unknown };
  try {
    p = JSON.parse(o.problem) as typeof p;
  } catch {
    return 'problem-bin is not JSON';
  }
  if (typeof p.status !== 'number' || typeof p.title !== 'string') return 'problem without status/title';
  if (o.code === grpc.status.INVALID_ARGUMENT && !(Array.isArray(p.errors) && p.errors.length > 0)) {
    return 'INVALID_ARGUMENT names no field';
  }
  return null;
}

describe('gRPC inputs (property-based)', () => {
  let app: InProcessApp;
  let client: Client;

  beforeAll(async () => {
    const port = await freePort();
    // PostgreSQL: it refuses U+0000 in text, so a NUL that slipped through would be a 500 here.
    app = await startInProcess({
      dialect: 'postgres',
      env: { API_KEYS_BOOTSTRAP: API_KEY, RATE_LIMIT_RPS: '0', GRPC_PORT: String(port), LOG_LEVEL: 'fatal' },
    });
    client = noticesClient(`127.0.0.1:${port}`) as Client;
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await app?.close();
  }, 30_000);

  it(`${TOTAL} generated calls over every method: no INTERNAL, every refusal a problem naming its field`, async () => {
    let sent = 0;
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(callArb, { minLength: PER_RUN, maxLength: PER_RUN }), async (calls) => {
        const outcomes = await Promise.all(calls.map((c) => call(client, c)));
        sent += calls.length;
        for (const o of outcomes) codes.set(grpc.status[o.code], (codes.get(grpc.status[o.code]) ?? 0) + 1);
        const bad = outcomes
          .map((o, i) => ({ why: violation(o), call: calls[i], problem: o.problem?.slice(0, 300) }))
          .filter((x) => x.why !== null);
        if (bad.length) console.log(JSON.stringify(bad.slice(0, 3), null, 1).slice(0, 4000));
        expect(bad).toEqual([]);
      }),
      {
        numRuns: Math.ceil(TOTAL / PER_RUN),
        seed: Number(process.env.PROPERTY_SEED ?? 20261202),
        endOnFailure: true,
      },
    );
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    console.log(`codes: ${JSON.stringify(Object.fromEntries([...codes].sort()))}`);
    // The generator reached the interesting answers.
    expect(codes.get('OK') ?? 0).toBeGreaterThan(0);
    expect(codes.get('INVALID_ARGUMENT') ?? 0).toBeGreaterThan(0);
    expect(codes.get('UNAUTHENTICATED') ?? 0).toBeGreaterThan(0);
  }, 240_000);
});
