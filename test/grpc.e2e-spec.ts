import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '#libs/core';
import {
  bearer,
  type InProcessApp,
  type Msg,
  type NoticesClient,
  noticesClient,
  sendRequest,
  startInProcess,
  unary,
} from './support/app.js';
import { ADDRESS, AUTH_HEADER, phoneFor } from './support/fixtures.js';
import { freePort, waitFor } from './support/infra.js';

/**
 * Acceptance (1): a client built from the committed .proto; send, get, cancel, hold, evidence;
 * every error code. Issue 17 (gRPC parity): automatic mode, lists paged with the REST cursors,
 * opt-outs, holds list, evidence page, instants as google.protobuf.Timestamp.
 */

const ADMIN = AUTH_HEADER.authorization.replace('Bearer ', '');

type Unary = (req: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Msg) => void) => void;
type ListMethod = 'listNotifications' | 'listHolds' | 'listEvidence' | 'addOptOut' | 'listOptOuts';
type Client = NoticesClient & Record<ListMethod, Unary>;

/** The RPCs of issue 17 (test/support/app.ts types the older ones). */
function rpc(client: Client, method: ListMethod, req: Msg, md: grpc.Metadata) {
  return new Promise<{ err: grpc.ServiceError | null; res: Msg }>((resolve) =>
    client[method](req, md, (err, res) => resolve({ err, res })),
  );
}

interface Timestamp {
  seconds: string;
  nanos: number;
}

/** A google.protobuf.Timestamp as ISO 8601 text, decoded here by hand (not with the app's code). */
function iso(ts: unknown): string | null {
  if (ts === null || ts === undefined) return null;
  const t = ts as Timestamp;
  expect(typeof t.seconds).toBe('string'); // longs: String
  expect(t.nanos % 1_000_000).toBe(0); // the service keeps milliseconds
  return new Date(Number(t.seconds) * 1000 + t.nanos / 1_000_000).toISOString();
}

function problemOf(err: grpc.ServiceError | null): {
  status: number;
  code: string;
  errors?: { path: string }[];
} {
  const raw = err?.metadata.get('problem-bin')[0];
  expect(raw).toBeDefined();
  return JSON.parse(String(raw)) as { status: number; code: string; errors?: { path: string }[] };
}

describe('gRPC (cns.v1.Notices) from the committed .proto', () => {
  let api: InProcessApp;
  let client: Client;
  // 22:30 in Beijing: the gate defers SMS to 08:00, so notices stay `scheduled` (cancellable).
  const clock = new ManualClock(new Date('2026-11-24T14:30:00.000Z'));
  const admin = bearer(ADMIN);

  async function createKey(name: string, scopes: string[], rateLimit?: { perSecond: number; burst: number }) {
    const res = await fetch(`${api.baseUrl}/v1/admin/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...AUTH_HEADER },
      body: JSON.stringify({ name, scopes, rateLimit }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string };
  }

  beforeAll(async () => {
    const port = await freePort();
    api = await startInProcess({
      dialect: 'sqlite',
      clock,
      env: { GRPC_PORT: String(port) },
      autoAuth: false,
    });
    client = noticesClient(`127.0.0.1:${port}`) as Client;
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await api?.close();
  });

  it('Send, then Get returns the same notice with its timeline; a replay is flagged', async () => {
    const req = sendRequest('C-grpc-1', phoneFor(1), 'grpc-k1');
    const sent = await unary(client, 'send', req, admin);
    expect(sent.err).toBeNull();
    expect(sent.res).toMatchObject({
      caseId: 'C-grpc-1',
      channel: 'sms',
      status: 'scheduled',
      replayed: false,
    });
    expect(sent.res.template).toMatchObject({ key: 'early.sms.reminder', version: 1 });
    const got = await unary(client, 'get', { id: sent.res.id }, admin);
    expect(got.err).toBeNull();
    expect(got.res.id).toBe(sent.res.id);
    const types = (got.res.events as { type: string }[]).map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(['notification.accepted', 'template.pinned']);
    const again = await unary(client, 'send', req, admin);
    expect(again.err).toBeNull();
    expect(again.res).toMatchObject({ id: sent.res.id, replayed: true });
  });

  it('Send with callback_url queues that notice its status callbacks, for the calling key (as REST)', async () => {
    const req = { ...sendRequest('C-grpc-cb', phoneFor(2)), callbackUrl: 'http://127.0.0.1:9/hooks/grpc' };
    const sent = await unary(client, 'send', req, admin);
    expect(sent.err).toBeNull();
    const res = await fetch(`${api.baseUrl}/v1/callbacks/deliveries?notificationId=${String(sent.res.id)}`, {
      headers: AUTH_HEADER,
    });
    const page = (await res.json()) as { items: { url: string; type: string; event: { status: string } }[] };
    expect(page.items.map((d) => [d.url, d.type, d.event.status])).toEqual([
      ['http://127.0.0.1:9/hooks/grpc', 'notification.scheduled', 'scheduled'],
    ]);
    const bad = await unary(client, 'send', { ...req, callbackUrl: 'ftp://x/y' }, admin);
    expect(bad.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(problemOf(bad.err).errors?.map((e) => e.path)).toEqual(['callbackUrl']);
  });

  it('Cancel stops a scheduled notice; a second Cancel of a sent one is FAILED_PRECONDITION', async () => {
    const sent = await unary(client, 'send', sendRequest('C-grpc-2', phoneFor(2)), admin);
    const cancelled = await unary(client, 'cancel', { id: sent.res.id, reason: 'paid in full' }, admin);
    expect(cancelled.err).toBeNull();
    expect(cancelled.res).toMatchObject({ status: 'cancelled', statusReason: 'paid in full' });

    // A daytime notice that went out cannot be cancelled any more.
    clock.set(new Date('2026-11-25T02:00:00.000Z'));
    try {
      const day = await unary(client, 'send', sendRequest('C-grpc-3', phoneFor(3)), admin);
      expect(day.err).toBeNull();
      await waitFor(
        'delivered',
        async () => (await unary(client, 'get', { id: day.res.id }, admin)).res?.status === 'delivered',
      );
      const late = await unary(client, 'cancel', { id: day.res.id, reason: '' }, admin);
      expect(late.err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    } finally {
      clock.set(new Date('2026-11-24T14:30:00.000Z'));
    }
  }, 30_000);

  it('Hold cancels pending notices and refuses new ones (FAILED_PRECONDITION); Release resumes them', async () => {
    const caseId = 'C-grpc-hold';
    const sent = await unary(client, 'send', sendRequest(caseId, phoneFor(4)), admin);
    expect(sent.res.status).toBe('scheduled');
    const held = await unary(
      client,
      'hold',
      { caseId, kind: 'dispute', until: null, reason: 'customer disputes the amount' },
      admin,
    );
    expect(held.err).toBeNull();
    expect(held.res.hold).toMatchObject({
      caseId,
      kind: 'dispute',
      createdBy: 'bootstrap-admin',
      until: null,
      releasedAt: null,
    });
    expect(iso(held.res.hold && (held.res.hold as Msg).createdAt)).toBe(clock.now().toISOString());
    expect(held.res.notificationIds).toEqual([sent.res.id]);
    expect((await unary(client, 'get', { id: sent.res.id }, admin)).res.status).toBe('cancelled');

    const refused = await unary(client, 'send', sendRequest(caseId, phoneFor(5)), admin);
    expect(refused.err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    const problem = JSON.parse(String(refused.err?.metadata.get('problem-bin')[0])) as { status: number };
    expect(problem.status).toBe(409);

    const released = await unary(client, 'release', { caseId, kind: 'dispute' }, admin);
    expect(released.err).toBeNull();
    const list = released.res.released as {
      hold: { kind: string; releasedAt: Timestamp | null };
      notificationIds: string[];
    }[];
    expect(list).toHaveLength(1);
    expect(iso(list[0].hold.releasedAt)).toBe(clock.now().toISOString());
    expect(list[0].notificationIds).toEqual([sent.res.id]);
    expect((await unary(client, 'get', { id: sent.res.id }, admin)).res.status).toBe('scheduled');
    const none = await unary(client, 'release', { caseId, kind: '' }, admin);
    expect(none.err?.code).toBe(grpc.status.NOT_FOUND);
  }, 30_000);

  it("StreamEvidence streams the case's chain in order, each event linked to the previous hash", async () => {
    const caseId = 'C-grpc-1';
    const events: Msg[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.streamEvidence({ caseId, afterSeq: 0 }, admin);
      stream.on('data', (e: Msg) => events.push(e));
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    for (let i = 1; i < events.length; i++) expect(events[i].prevHash).toBe(events[i - 1].hash);
    expect(events.every((e) => e.caseId === caseId)).toBe(true);
    const rest = await api.app.get((await import('#libs/evidence')).EvidenceService).caseEvents(caseId);
    expect(events.map((e) => e.hash)).toEqual(rest.map((e) => e.hash));

    const missing = await new Promise<grpc.ServiceError>((resolve) => {
      const stream = client.streamEvidence({ caseId: 'C-no-such-case', afterSeq: 0 }, admin);
      stream.on('data', () => undefined);
      stream.on('error', resolve);
    });
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
  });

  it('SendBatch (client streaming) accepts the good items and reports the bad ones', async () => {
    const res = await new Promise<{ err: grpc.ServiceError | null; res: Msg }>((resolve) => {
      const stream = client.sendBatch(admin, (err, r) => resolve({ err, res: r }));
      stream.write(sendRequest('C-grpc-b1', phoneFor(11), 'grpc-b1'));
      stream.write({ ...sendRequest('C-grpc-b2', '12345'), idempotencyKey: 'grpc-b2' });
      stream.write(sendRequest('C-grpc-b3', phoneFor(13), 'grpc-b3'));
      stream.write(sendRequest('C-grpc-b1', phoneFor(11), 'grpc-b1'));
      // Automatic mode in a batch, and a refused mix of both forms.
      stream.write(automatic('C-grpc-b4', phoneFor(14), { dpd: 22 }));
      stream.write({ ...sendRequest('C-grpc-b5', phoneFor(15)), stage: 'early' });
      stream.end();
    });
    expect(res.err).toBeNull();
    expect(res.res).toMatchObject({ accepted: 3, replayed: 1, failed: 2 });
    const items = res.res.results as { index: number; id: string; errorCode: string; errorDetail: string }[];
    expect(items.map((i) => i.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(items[4]).toMatchObject({ errorCode: '' });
    expect(items[4].id).not.toBe('');
    expect(items[5]).toMatchObject({ id: '', errorCode: 'validation' });
    expect(items[5].errorDetail).toContain('channel, templateKey');
    expect(items[1]).toMatchObject({ id: '', errorCode: 'validation' });
    expect(items[1].errorDetail).toContain('recipient.phone');
    expect(items[3].id).toBe(items[0].id);
  });

  async function rest(path: string, init: { method?: string; body?: unknown } = {}) {
    const res = await fetch(`${api.baseUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: { 'content-type': 'application/json', ...AUTH_HEADER },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    return { status: res.status, body: (await res.json()) as Msg };
  }

  /** A Send in automatic mode: dpd and/or stage, no channel or template key. */
  function automatic(caseId: string, phone: string, extra: Msg): Msg {
    const { channel: _c, templateKey: _t, ...rest } = sendRequest(caseId, phone);
    return { ...rest, channel: '', templateKey: '', ...extra };
  }

  /** The REST body of `automatic(caseId, phone, { dpd })`. */
  function restAutomatic(caseId: string, phone: string, dpd: number) {
    const m = automatic(caseId, phone, {});
    const body = {
      caseId,
      dpd,
      locale: m.locale,
      recipient: m.recipient,
      data: JSON.parse(m.dataJson as string) as unknown,
    };
    return rest('/v1/notifications', { method: 'POST', body });
  }

  describe('automatic mode (dpd / stage)', () => {
    it('Send with dpd picks the same stage, channel and template as REST', async () => {
      const sent = await unary(client, 'send', automatic('C-grpc-auto-1', phoneFor(30), { dpd: 22 }), admin);
      expect(sent.err).toBeNull();
      const viaRest = await restAutomatic('C-grpc-auto-2', phoneFor(31), 22);
      expect(viaRest.status).toBe(202);
      expect(sent.res).toMatchObject({
        caseId: 'C-grpc-auto-1',
        channel: viaRest.body.channel,
        status: viaRest.body.status,
        template: viaRest.body.template,
      });
      expect((sent.res.template as { key: string }).key).toMatch(/^early\./);
      // stage alone works too.
      const staged = await unary(
        client,
        'send',
        automatic('C-grpc-auto-3', phoneFor(32), { stage: 'early' }),
        admin,
      );
      expect(staged.err).toBeNull();
      expect(staged.res.template).toMatchObject({ key: (sent.res.template as { key: string }).key });
    });

    it('dpd 0 is a dpd (proto3 optional): answered as REST answers the same body', async () => {
      const grpcRes = await unary(
        client,
        'send',
        automatic('C-grpc-auto-0', phoneFor(33), { dpd: 0 }),
        admin,
      );
      const viaRest = await restAutomatic('C-grpc-auto-0r', phoneFor(34), 0);
      if (viaRest.status === 202) {
        expect(grpcRes.err).toBeNull();
        expect(grpcRes.res.template).toEqual(viaRest.body.template);
      } else {
        expect(problemOf(grpcRes.err).code).toBe(viaRest.body.code);
        // Never the "neither form" refusal: dpd 0 was seen.
        expect(problemOf(grpcRes.err).errors?.map((e) => e.path) ?? []).not.toContain('(body)');
      }
    });

    it('both forms at once, or a bad stage, is INVALID_ARGUMENT naming the fields in problem-bin', async () => {
      const both = await unary(
        client,
        'send',
        { ...sendRequest('C-grpc-auto-e', phoneFor(35)), dpd: 22 },
        admin,
      );
      expect(both.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      const p = problemOf(both.err);
      expect(p).toMatchObject({ status: 400, code: 'validation' });
      expect(p.errors?.map((e) => e.path).sort()).toEqual(['channel', 'templateKey']);
      const stage = await unary(
        client,
        'send',
        automatic('C-grpc-auto-e', phoneFor(35), { stage: 'soon' }),
        admin,
      );
      expect(stage.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(problemOf(stage.err).errors?.map((e) => e.path)).toEqual(['stage']);
      const neither = await unary(client, 'send', automatic('C-grpc-auto-e', phoneFor(35), {}), admin);
      expect(neither.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(problemOf(neither.err).errors?.map((e) => e.path)).toContain('(body)');
    });
  });

  it('ListNotifications pages a case across two pages in REST order, with the same cursors', async () => {
    const caseId = 'C-grpc-list';
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      const r = await unary(client, 'send', sendRequest(caseId, phoneFor(40 + i)), admin);
      expect(r.err).toBeNull();
      ids.push(r.res.id as string);
    }
    const first = await rpc(client, 'listNotifications', { caseId, limit: 2, cursor: '' }, admin);
    expect(first.err).toBeNull();
    const items1 = first.res.items as Msg[];
    expect(items1.map((n) => n.id)).toEqual(ids.slice(0, 2));
    expect(items1[0].events).toEqual([]);
    expect(first.res.nextCursor).not.toBe('');
    const second = await rpc(
      client,
      'listNotifications',
      { caseId, limit: 2, cursor: first.res.nextCursor },
      admin,
    );
    expect(second.err).toBeNull();
    expect((second.res.items as Msg[]).map((n) => n.id)).toEqual(ids.slice(2));
    expect(second.res.nextCursor).toBe('');

    // REST: the same order, the same cursor string; either cursor continues the other list.
    const r1 = await rest(`/v1/notifications?caseId=${caseId}&limit=2`);
    expect((r1.body.items as Msg[]).map((n) => n.id)).toEqual(ids.slice(0, 2));
    expect(r1.body.next).toBe(first.res.nextCursor);
    const r2 = await rest(`/v1/notifications?caseId=${caseId}&limit=2&cursor=${String(r1.body.next)}`);
    expect((r2.body.items as Msg[]).map((n) => n.id)).toEqual(ids.slice(2));
    expect(r2.body.next).toBeNull();
    // Timestamps decode to the instants REST prints.
    const restItems = [...(r1.body.items as Msg[]), ...(r2.body.items as Msg[])];
    const grpcItems = [...items1, ...(second.res.items as Msg[])];
    grpcItems.forEach((n, i) => {
      expect(iso(n.createdAt)).toBe(restItems[i].createdAt);
      expect(iso(n.updatedAt)).toBe(restItems[i].updatedAt);
      expect(iso(n.notBefore)).toBe(restItems[i].notBefore);
    });
    // All in one page by default.
    const all = await rpc(client, 'listNotifications', { caseId }, admin);
    expect((all.res.items as Msg[]).map((n) => n.id)).toEqual(ids);
  });

  it('list paging refusals: limit over 500, a cursor of another list, a bad case id', async () => {
    const caseId = 'C-grpc-list';
    const over = await rpc(client, 'listNotifications', { caseId, limit: 501 }, admin);
    expect(over.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(problemOf(over.err).errors?.map((e) => e.path)).toEqual(['limit']);
    const negative = await rpc(client, 'listHolds', { caseId, limit: -1 }, admin);
    expect(problemOf(negative.err).errors?.map((e) => e.path)).toEqual(['limit']);
    const evidenceCursor = (await rest('/v1/cases/C-grpc-1/evidence?limit=1')).body.next as string;
    const foreign = await rpc(client, 'listNotifications', { caseId, cursor: evidenceCursor }, admin);
    expect(foreign.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(problemOf(foreign.err).errors?.map((e) => e.path)).toEqual(['cursor']);
    const badCase = await rpc(client, 'listEvidence', { caseId: '../etc' }, admin);
    expect(problemOf(badCase.err).errors?.map((e) => e.path)).toEqual(['case_id']);
  });

  it('Notification timestamps decode to the right instant (Get and REST agree)', async () => {
    clock.set(new Date('2026-11-24T14:30:00.250Z'));
    try {
      const sent = await unary(client, 'send', sendRequest('C-grpc-ts', phoneFor(45)), admin);
      expect(sent.err).toBeNull();
      expect(sent.res.createdAt).toEqual({ seconds: '1795530600', nanos: 250_000_000 });
      const got = await unary(client, 'get', { id: sent.res.id }, admin);
      const viaRest = await rest(`/v1/notifications/${String(sent.res.id)}`);
      expect(iso(got.res.createdAt)).toBe('2026-11-24T14:30:00.250Z');
      expect(iso(got.res.notBefore)).toBe(viaRest.body.notBefore);
      // Deferred by the quiet-hours gate to the next morning in Beijing.
      expect(Date.parse(iso(got.res.notBefore) ?? '')).toBeGreaterThan(Date.parse('2026-11-24T14:30:00Z'));
      const restEvents = viaRest.body.events as { occurredAt: string; recordedAt: string }[];
      (got.res.events as Msg[]).forEach((e, i) => {
        expect(iso(e.occurredAt)).toBe(restEvents[i].occurredAt);
        expect(iso(e.recordedAt)).toBe(restEvents[i].recordedAt);
      });
    } finally {
      clock.set(new Date('2026-11-24T14:30:00.000Z'));
    }
  });

  it('ListHolds pages the holds as REST does; Hold until is a Timestamp both ways', async () => {
    const caseId = 'C-grpc-holds';
    const until = { seconds: String(Date.parse('2027-01-31T16:00:00Z') / 1000), nanos: 0 };
    const a = await unary(client, 'hold', { caseId, kind: 'paid', until, reason: 'paid' }, admin);
    expect(a.err).toBeNull();
    expect((a.res.hold as Msg).until).toEqual(until);
    clock.advance(1000);
    const b = await unary(client, 'hold', { caseId, kind: 'dispute', reason: 'disputed' }, admin);
    expect(b.err).toBeNull();
    const p1 = await rpc(client, 'listHolds', { caseId, limit: 1 }, admin);
    expect(p1.err).toBeNull();
    const h1 = p1.res.holds as Msg[];
    expect(h1.map((h) => h.kind)).toEqual(['paid']);
    expect(iso(h1[0].until)).toBe('2027-01-31T16:00:00.000Z');
    const r1 = await rest(`/v1/cases/${caseId}/holds?limit=1`);
    expect(r1.body.next).toBe(p1.res.nextCursor);
    const p2 = await rpc(client, 'listHolds', { caseId, limit: 1, cursor: p1.res.nextCursor }, admin);
    const h2 = p2.res.holds as Msg[];
    expect(h2.map((h) => h.kind)).toEqual(['dispute']);
    expect(h2[0].until).toBeNull();
    const restHolds = (await rest(`/v1/cases/${caseId}/holds`)).body.holds as Msg[];
    expect([...h1, ...h2].map((h) => h.id)).toEqual(restHolds.map((h) => h.id));
    expect([...h1, ...h2].map((h) => iso(h.createdAt))).toEqual(restHolds.map((h) => h.createdAt));
    // A Timestamp out of range, or an until in the past, is refused naming until.
    const bad = await unary(
      client,
      'hold',
      { caseId, kind: 'paid', until: { seconds: '-62135596801' } },
      admin,
    );
    expect(problemOf(bad.err).errors?.map((e) => e.path)).toEqual(['until']);
    const past = await unary(client, 'hold', { caseId, kind: 'paid', until: { seconds: '1000' } }, admin);
    expect(past.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    await unary(client, 'release', { caseId, kind: '' }, admin);
  });

  it('ListEvidence pages the chain in seq order with the REST cursors; verification on page one', async () => {
    const caseId = 'C-grpc-1';
    const events: Msg[] = [];
    let cursor = '';
    let pages = 0;
    do {
      const r = await rpc(client, 'listEvidence', { caseId, limit: 2, cursor }, admin);
      expect(r.err).toBeNull();
      const viaRest = await rest(`/v1/cases/${caseId}/evidence?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect((r.res.events as Msg[]).map((e) => e.hash)).toEqual(
        (viaRest.body.events as Msg[]).map((e) => e.hash),
      );
      expect(r.res.nextCursor).toBe(viaRest.body.next ?? '');
      if (pages === 0) {
        expect(r.res.verification).toMatchObject({ ok: true, brokenSeq: 0, failure: '' });
        expect(r.res.verification).toMatchObject({
          events: (viaRest.body.verification as Msg).events,
          headHash: (viaRest.body.verification as Msg).headHash,
        });
      } else expect(r.res.verification).toBeNull();
      (r.res.events as Msg[]).forEach((e, i) => {
        expect(iso(e.occurredAt)).toBe((viaRest.body.events as Msg[])[i].occurredAt);
      });
      events.push(...(r.res.events as Msg[]));
      cursor = r.res.nextCursor as string;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(2);
    const chain = await api.app.get((await import('#libs/evidence')).EvidenceService).caseEvents(caseId);
    expect(events.map((e) => e.seq)).toEqual(chain.map((e) => e.seq));
    expect(events.map((e) => iso(e.recordedAt))).toEqual(chain.map((e) => e.recordedAt));
  });

  it('AddOptOut stores the key sends match on, ListOptOuts shows it, and a send to it is suppressed', async () => {
    const e164 = '+8613943321315';
    const added = await rpc(client, 'addOptOut', { contact: '139-4332-1315', channel: 'sms' }, admin);
    expect(added.err).toBeNull();
    expect(added.res).toMatchObject({ address: e164, channel: 'sms', reason: 'opt_out' });
    const listed = await rpc(client, 'listOptOuts', { address: '139 4332 1315' }, admin);
    expect(listed.err).toBeNull();
    expect(listed.res.address).toBe(e164);
    const rows = listed.res.optOuts as Msg[];
    expect(rows.map((o) => [o.channel, o.reason])).toEqual([['sms', 'opt_out']]);
    expect(iso(rows[0].createdAt)).toBe(clock.now().toISOString());
    // The effect, as with REST's POST /v1/opt-outs: the notice is accepted but suppressed.
    const sent = await unary(client, 'send', sendRequest('C-grpc-optout', e164), admin);
    expect(sent.err).toBeNull();
    expect(sent.res.status).toBe('suppressed');
    const viaRest = await rest('/v1/notifications', {
      method: 'POST',
      body: {
        caseId: 'C-grpc-optout-r',
        channel: 'sms',
        templateKey: 'early.sms.reminder',
        recipient: { role: 'debtor', name: '张三', phone: e164 },
        data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
      },
    });
    expect(viaRest.body.status).toBe('suppressed');
    // Another number is not.
    expect((await unary(client, 'send', sendRequest('C-grpc-optin', phoneFor(46)), admin)).res.status).toBe(
      'scheduled',
    );
    // A letter opt-out takes a postal address (country defaults to CN, as in REST): the same key.
    const letter = await rpc(
      client,
      'addOptOut',
      { postal: { ...ADDRESS, country: '' }, channel: 'letter', reason: 'complaint' },
      admin,
    );
    expect(letter.err).toBeNull();
    expect(letter.res).toMatchObject({ channel: 'letter', reason: 'complaint' });
    const letterRest = await rest('/v1/opt-outs', {
      method: 'POST',
      body: { address: ADDRESS, channel: 'letter', reason: 'complaint' },
    });
    expect(letterRest.status).toBe(201);
    expect(letter.res.address).toBe(letterRest.body.address);
    const wrong = await rpc(
      client,
      'addOptOut',
      { postal: { street: 'x', postcode: '100022' }, channel: 'sms' },
      admin,
    );
    expect(wrong.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(problemOf(wrong.err).errors?.map((e) => e.path)).toEqual(['channel']);
    const reason = await rpc(client, 'addOptOut', { contact: e164, reason: 'bored' }, admin);
    expect(problemOf(reason.err).errors?.map((e) => e.path)).toEqual(['reason']);
  });

  describe('error codes', () => {
    it('INVALID_ARGUMENT: invalid phone, bad data_json, bad id', async () => {
      const bad = await unary(client, 'send', sendRequest('C-grpc-e1', '12345'), admin);
      expect(bad.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      const problem = JSON.parse(String(bad.err?.metadata.get('problem-bin')[0])) as {
        errors: { path: string }[];
      };
      expect(problem.errors.map((e) => e.path)).toContain('recipient.phone');
      const json = await unary(
        client,
        'send',
        { ...sendRequest('C-grpc-e1', phoneFor(20)), dataJson: '{' },
        admin,
      );
      expect(json.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect((await unary(client, 'get', { id: 'not-a-uuid' }, admin)).err?.code).toBe(
        grpc.status.INVALID_ARGUMENT,
      );
    });

    it('ALREADY_EXISTS: an idempotency key reused with a different body', async () => {
      const first = await unary(client, 'send', sendRequest('C-grpc-e2', phoneFor(21), 'grpc-dup'), admin);
      expect(first.err).toBeNull();
      const second = await unary(client, 'send', sendRequest('C-grpc-e2', phoneFor(22), 'grpc-dup'), admin);
      expect(second.err?.code).toBe(grpc.status.ALREADY_EXISTS);
    });

    it('NOT_FOUND: an unknown notification', async () => {
      const r = await unary(client, 'get', { id: '00000000-0000-4000-8000-000000000000' }, admin);
      expect(r.err?.code).toBe(grpc.status.NOT_FOUND);
    });

    it('UNAUTHENTICATED: no key, a wrong key, a revoked key', async () => {
      expect(
        (await unary(client, 'get', { id: '00000000-0000-4000-8000-000000000000' }, bearer(null))).err?.code,
      ).toBe(grpc.status.UNAUTHENTICATED);
      const wrong = `cns_0123456789abcdef_${'A'.repeat(43)}`;
      expect(
        (await unary(client, 'send', sendRequest('C-grpc-e3', phoneFor(23)), bearer(wrong))).err?.code,
      ).toBe(grpc.status.UNAUTHENTICATED);
      const k = await createKey('grpc-revoked', ['notifications:read']);
      expect(
        (await unary(client, 'get', { id: '00000000-0000-4000-8000-000000000000' }, bearer(k.key))).err?.code,
      ).toBe(grpc.status.NOT_FOUND);
      const del = await fetch(`${api.baseUrl}/v1/admin/api-keys/${k.id}`, {
        method: 'DELETE',
        headers: AUTH_HEADER,
      });
      expect(del.status).toBe(200);
      expect(
        (await unary(client, 'get', { id: '00000000-0000-4000-8000-000000000000' }, bearer(k.key))).err?.code,
      ).toBe(grpc.status.UNAUTHENTICATED);
    });

    it('PERMISSION_DENIED: a read-only key sends, holds or streams evidence', async () => {
      const k = await createKey('grpc-reader', ['notifications:read']);
      const md = bearer(k.key);
      expect((await unary(client, 'send', sendRequest('C-grpc-e4', phoneFor(24)), md)).err?.code).toBe(
        grpc.status.PERMISSION_DENIED,
      );
      expect((await unary(client, 'hold', { caseId: 'C-grpc-e4', kind: 'paid' }, md)).err?.code).toBe(
        grpc.status.PERMISSION_DENIED,
      );
      const denied = await new Promise<grpc.ServiceError>((resolve) => {
        const s = client.streamEvidence({ caseId: 'C-grpc-1' }, md);
        s.on('data', () => undefined);
        s.on('error', resolve);
      });
      expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
      // The scopes of the REST routes: reads pass, opt-outs need send, evidence needs evidence:read.
      expect((await rpc(client, 'listNotifications', { caseId: 'C-grpc-1' }, md)).err).toBeNull();
      expect((await rpc(client, 'listHolds', { caseId: 'C-grpc-1' }, md)).err).toBeNull();
      expect((await rpc(client, 'listOptOuts', { address: phoneFor(24) }, md)).err).toBeNull();
      expect((await rpc(client, 'addOptOut', { contact: phoneFor(24) }, md)).err?.code).toBe(
        grpc.status.PERMISSION_DENIED,
      );
      expect((await rpc(client, 'listEvidence', { caseId: 'C-grpc-1' }, md)).err?.code).toBe(
        grpc.status.PERMISSION_DENIED,
      );
    });

    it('RESOURCE_EXHAUSTED: over the per-key rate limit, with retry-after', async () => {
      const k = await createKey('grpc-slow', ['notifications:read'], { perSecond: 1, burst: 2 });
      const md = bearer(k.key);
      const id = { id: '00000000-0000-4000-8000-000000000000' };
      expect((await unary(client, 'get', id, md)).err?.code).toBe(grpc.status.NOT_FOUND);
      expect((await unary(client, 'get', id, md)).err?.code).toBe(grpc.status.NOT_FOUND);
      const limited = await unary(client, 'get', id, md);
      expect(limited.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(Number(limited.err?.metadata.get('retry-after')[0])).toBeGreaterThanOrEqual(1);
    });
  });
});
