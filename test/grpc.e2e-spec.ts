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
import { AUTH_HEADER, phoneFor } from './support/fixtures.js';
import { freePort, waitFor } from './support/infra.js';

/** Acceptance (1): a client built from the committed .proto; send, get, cancel, hold, evidence; every error code. */

const ADMIN = AUTH_HEADER.authorization.replace('Bearer ', '');

describe('gRPC (cns.v1.Notices) from the committed .proto', () => {
  let api: InProcessApp;
  let client: NoticesClient;
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
    client = noticesClient(`127.0.0.1:${port}`);
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
      { caseId, kind: 'dispute', until: '', reason: 'customer disputes the amount' },
      admin,
    );
    expect(held.err).toBeNull();
    expect(held.res.hold).toMatchObject({
      caseId,
      kind: 'dispute',
      createdBy: 'bootstrap-admin',
      releasedAt: '',
    });
    expect(held.res.notificationIds).toEqual([sent.res.id]);
    expect((await unary(client, 'get', { id: sent.res.id }, admin)).res.status).toBe('cancelled');

    const refused = await unary(client, 'send', sendRequest(caseId, phoneFor(5)), admin);
    expect(refused.err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    const problem = JSON.parse(String(refused.err?.metadata.get('problem-bin')[0])) as { status: number };
    expect(problem.status).toBe(409);

    const released = await unary(client, 'release', { caseId, kind: 'dispute' }, admin);
    expect(released.err).toBeNull();
    const list = released.res.released as {
      hold: { kind: string; releasedAt: string };
      notificationIds: string[];
    }[];
    expect(list).toHaveLength(1);
    expect(list[0].hold.releasedAt).not.toBe('');
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
      stream.end();
    });
    expect(res.err).toBeNull();
    expect(res.res).toMatchObject({ accepted: 2, replayed: 1, failed: 1 });
    const items = res.res.results as { index: number; id: string; errorCode: string; errorDetail: string }[];
    expect(items.map((i) => i.index)).toEqual([0, 1, 2, 3]);
    expect(items[1]).toMatchObject({ id: '', errorCode: 'validation' });
    expect(items[1].errorDetail).toContain('recipient.phone');
    expect(items[3].id).toBe(items[0].id);
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
