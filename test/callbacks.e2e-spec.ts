import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyTimestamped } from '#libs/core';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { MID_SMS_DATA } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

interface Received {
  at: number;
  answered: number;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: {
    id: string;
    type: string;
    notificationId: string;
    caseId: string;
    status: string;
    data: Record<string, unknown>;
    evidence: { seq: number };
  };
}

/** A caller's callback endpoint: records every request and answers `answer()` (200 by default). */
async function receiver(answer: () => number = () => 200) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const answered = answer();
      got.push({
        at: Date.now(),
        answered,
        headers: req.headers,
        raw,
        body: JSON.parse(raw) as Received['body'],
      });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/notices`,
    got,
    /** What the caller accepted (2xx), once per event id as the docs tell callers to do. */
    accepted: () => got.filter((g) => g.answered >= 200 && g.answered < 300),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

type Receiver = Awaited<ReturnType<typeof receiver>>;

/** The documented check (docs/api.md, "Callbacks"). */
function genuine(secret: string, r: Received, now = new Date()): boolean {
  return verifyTimestamped(
    secret,
    r.headers['x-callback-timestamp'] as string,
    r.headers['x-callback-signature'] as string,
    r.raw,
    now,
  );
}

const mid = (caseId: string, phone: string, email: string, extra: Record<string, unknown> = {}) => ({
  caseId,
  channel: 'sms',
  templateKey: 'mid.sms.notice',
  recipient: { role: 'debtor', name: '张三', phone, email, timeZone: 'Asia/Shanghai' },
  data: MID_SMS_DATA,
  ...extra,
});

describe.each(['sqlite', 'postgres'] as const)('status callbacks to callers (%s)', (dialect) => {
  let api: InProcessApp;
  let endpoint: Receiver;
  let secret: string;
  let down = false;

  beforeAll(async () => {
    endpoint = await receiver(() => (down ? 503 : 200));
    api = await startInProcess({
      dialect,
      env: {
        CALLBACK_POLL_MS: '50',
        CALLBACK_RETRY_BASE_MS: '100',
        CALLBACK_RETRY_MAX_MS: '400',
        CALLBACK_RETRY_FOR_MS: '4000',
      },
    });
    const reg = await postJson(api.baseUrl, '/v1/callbacks/endpoints', { url: endpoint.url });
    expect(reg.status).toBe(201);
    secret = reg.body.secret as string;
    expect(secret).toMatch(/^cbs_[A-Za-z0-9_-]{43}$/);
    const again = await (await fetch(`${api.baseUrl}/v1/callbacks/secret`)).json();
    expect(again).toEqual({ secret });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    await endpoint?.close();
  });

  it('refuses bad callback URLs and a second registration of the same URL', async () => {
    const dup = await postJson(api.baseUrl, '/v1/callbacks/endpoints', { url: endpoint.url });
    expect(dup.status).toBe(409);
    const ftp = await postJson(api.baseUrl, '/v1/callbacks/endpoints', { url: 'ftp://example.com/x' });
    expect(ftp.status).toBe(400);
    const creds = await postJson(
      api.baseUrl,
      '/v1/notifications',
      mid('C-cb-bad', '+8613800138001', 'a@example.com', { callbackUrl: 'https://u:p@example.com/h' }),
    );
    expect(creds.status).toBe(400);
    expect(creds.body.errors).toEqual([{ path: 'callbackUrl', message: 'must not carry credentials' }]);
  });

  it('sends every status event of sms undelivered -> email delivered, signed and in order', async () => {
    const res = await postJson(
      api.baseUrl,
      '/v1/notifications',
      mid('C-cb-1', '+8613800130000', 'zhang.san@example.com'),
    );
    expect(res.status).toBe(202);
    const smsId = res.body.id as string;
    const ofCase = () => endpoint.accepted().filter((g) => g.body.caseId === 'C-cb-1');
    await waitFor(
      'the email delivered callback',
      async () =>
        ofCase().some((g) => g.body.type === 'notification.delivered' && g.body.notificationId !== smsId) ||
        undefined,
      20_000,
    );
    const got = ofCase();
    for (const g of got) {
      expect(genuine(secret, g)).toBe(true);
      expect(g.headers['x-callback-id']).toBe(g.body.id);
      expect(g.headers['content-type']).toBe('application/json');
    }
    const sms = got.filter((g) => g.body.notificationId === smsId).map((g) => g.body);
    expect(sms.map((e) => e.type)).toEqual([
      'notification.accepted',
      'notification.sent',
      'notification.undelivered',
      'escalation.started',
    ]);
    const childId = sms[3].data.childId as string;
    expect(sms[3].data).toMatchObject({ action: 'started', channel: 'email' });
    const email = got.filter((g) => g.body.notificationId === childId).map((g) => g.body);
    expect(email.map((e) => e.type)).toEqual([
      'notification.accepted',
      'notification.sent',
      'notification.delivered',
    ]);
    // Each callback names the evidence event that proves it, in evidence order per notice.
    for (const list of [sms, email]) {
      const seqs = list.map((e) => e.evidence.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    const evidence = (await (await fetch(`${api.baseUrl}/v1/cases/C-cb-1/evidence?limit=500`)).json()) as {
      events: { seq: number; type: string; payload: { to?: string } }[];
    };
    const undelivered = evidence.events.find((e) => e.seq === sms[2].evidence.seq);
    expect(undelivered).toMatchObject({ type: 'status.changed', payload: { to: 'undelivered' } });
    expect(sms[2]).toMatchObject({ status: 'undelivered', data: { cause: 'receipt', from: 'sent' } });
    // Every event exactly once; the delivery log says so too.
    expect(new Set(got.map((g) => g.body.id)).size).toBe(got.length);
    const log = (await (
      await fetch(`${api.baseUrl}/v1/callbacks/deliveries?notificationId=${smsId}`)
    ).json()) as {
      items: { status: string; attempts: number; eventId: string }[];
    };
    expect(log.items.map((d) => [d.status, d.attempts])).toEqual(sms.map(() => ['delivered', 1]));
    expect(log.items.map((d) => d.eventId)).toEqual(sms.map((e) => e.id));
  }, 40_000);

  it('keeps the order and delivers everything once when the endpoint is down for a while', async () => {
    down = true;
    const res = await postJson(
      api.baseUrl,
      '/v1/notifications',
      mid('C-cb-2', '+8613800138002', 'li.si@example.com'),
    );
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    await waitFor(
      'a refused attempt',
      async () => endpoint.got.some((g) => g.body.notificationId === id) || undefined,
      10_000,
    );
    await new Promise((r) => setTimeout(r, 1_200));
    down = false;
    await waitFor(
      'delivered callback',
      async () =>
        endpoint
          .accepted()
          .some((g) => g.body.notificationId === id && g.body.type === 'notification.delivered') || undefined,
      15_000,
    );
    const all = endpoint.got.filter((g) => g.body.notificationId === id);
    const ok = all.filter((g) => g.answered === 200).map((g) => g.body);
    expect(ok.map((e) => e.type)).toEqual([
      'notification.accepted',
      'notification.sent',
      'notification.delivered',
    ]);
    expect(new Set(ok.map((e) => e.id)).size).toBe(3);
    expect(all.filter((g) => g.answered === 503).length).toBeGreaterThan(1);
    // While the first event was refused, no later event of the notice was tried.
    const firstOk = all.findIndex((g) => g.answered === 200);
    expect(new Set(all.slice(0, firstOk).map((g) => g.body.type))).toEqual(
      new Set(['notification.accepted']),
    );
    const list = (await (
      await fetch(`${api.baseUrl}/v1/callbacks/deliveries?notificationId=${id}`)
    ).json()) as {
      items: { id: string; attempts: number }[];
    };
    const first = (await (
      await fetch(`${api.baseUrl}/v1/callbacks/deliveries/${encodeURIComponent(list.items[0].id)}`)
    ).json()) as {
      status: string;
      attemptLog: { statusCode: number }[];
    };
    expect(first.status).toBe('delivered');
    expect(first.attemptLog.map((a) => a.statusCode)).toEqual([
      ...Array(first.attemptLog.length - 1).fill(503),
      200,
    ]);
  }, 40_000);

  it('makes forgeries and replays detectable with the documented check', () => {
    const sample = endpoint.accepted()[0];
    expect(genuine(secret, sample)).toBe(true);
    expect(genuine(secret, { ...sample, raw: sample.raw.replace('"notification.', '"notificatioN.') })).toBe(
      false,
    );
    expect(genuine('cbs_someone-else', sample)).toBe(false);
    // A replay later than 5 minutes fails the timestamp; inside them the event id is a duplicate.
    expect(genuine(secret, sample, new Date(Date.now() + 6 * 60_000))).toBe(false);
  });

  it('parks a callback that keeps failing as a dead letter, and replays it on request', async () => {
    let fixed = false;
    const flaky = await receiver(() => (fixed ? 200 : 500));
    try {
      const res = await postJson(
        api.baseUrl,
        '/v1/notifications',
        mid('C-cb-3', '+8613800138003', 'wang.wu@example.com', { callbackUrl: flaky.url }),
      );
      expect(res.status).toBe(202);
      const id = res.body.id as string;
      const dead = await waitFor(
        'a dead letter',
        async () => {
          const page = (await (
            await fetch(`${api.baseUrl}/v1/callbacks/deliveries?status=dead&notificationId=${id}`)
          ).json()) as {
            items: { id: string; url: string; attempts: number; eventId: string; event: { type: string } }[];
          };
          return page.items.length > 0 ? page.items : undefined;
        },
        20_000,
      );
      expect(dead[0]).toMatchObject({ url: flaky.url, event: { type: 'notification.accepted' } });
      expect(dead[0].attempts).toBeGreaterThan(3);
      // The registered endpoint got the same notice's events meanwhile.
      expect(endpoint.accepted().some((g) => g.body.notificationId === id)).toBe(true);
      fixed = true;
      const replay = await postJson(
        api.baseUrl,
        `/v1/callbacks/deliveries/${encodeURIComponent(dead[0].id)}/replay`,
        {},
      );
      expect(replay.status).toBe(202);
      await waitFor(
        'the replayed callback',
        async () => flaky.accepted().some((g) => g.body.id === dead[0].eventId) || undefined,
        10_000,
      );
      const delivered = flaky.accepted().find((g) => g.body.id === dead[0].eventId) as Received;
      expect(genuine(secret, delivered)).toBe(true);
      const again = await postJson(
        api.baseUrl,
        `/v1/callbacks/deliveries/${encodeURIComponent(dead[0].id)}/replay`,
        {},
      );
      expect([202, 409]).toContain(again.status);
    } finally {
      await flaky.close();
    }
  }, 40_000);
});
