import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import twilio from 'twilio';
import { createTwilioHttpClient, rewriteTwilioUrl, type TwilioHttpClient } from '#libs/channels';
import { smsSegments, TwilioEmulator } from './twilio.js';

const ACCOUNT_SID = `AC${'1'.repeat(32)}`;
const AUTH_TOKEN = 'test-auth-token-123';
const FROM = '+15005550006';

interface ReceivedCallback {
  url: string;
  signature: string;
  idempotencyToken: string;
  params: Record<string, string>;
}

/** A local webhook receiver that records status callbacks; `failFirst` answers 500 to the first N requests. */
class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  failFirst = 0;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.failFirst > 0) {
        this.failFirst--;
        res.writeHead(500).end();
        return;
      }
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      this.received.push({
        url: `${this.base}${req.url ?? ''}`,
        signature: String(req.headers['x-twilio-signature'] ?? ''),
        idempotencyToken: String(req.headers['i-twilio-idempotency-token'] ?? ''),
        params,
      });
      res.writeHead(204).end();
    });
  });
  base = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  for(sid: string): ReceivedCallback[] {
    return this.received.filter((c) => c.params.MessageSid === sid);
  }
}

describe('TwilioEmulator with the official twilio client', () => {
  const emulator = new TwilioEmulator({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    failNumbers: { '+15550000001': 'undelivered', '+15550000002': 'failed' },
    callbackRetryBaseMs: 5,
    rejectCreate: (to) =>
      to === '+15559999999'
        ? { status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' }
        : undefined,
  });
  const receiver = new CallbackReceiver();
  let baseUrl = '';
  let httpClient: TwilioHttpClient;
  let client: twilio.Twilio;

  beforeAll(async () => {
    baseUrl = await emulator.start();
    await receiver.start();
    httpClient = createTwilioHttpClient(baseUrl, { timeoutMs: 5000 });
    client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient });
  });

  afterEach(async () => {
    await emulator.idle(10_000);
  });

  afterAll(async () => {
    httpClient.destroy();
    await emulator.stop();
    await receiver.stop();
  });

  it('creates, fetches and lists a message through the rewritten host', async () => {
    const to = '+15551230001';
    const created = await client.messages.create({ to, from: FROM, body: 'Payment reminder: 120.50 due' });
    expect(created.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(created.status).toBe('queued');
    expect(created.accountSid).toBe(ACCOUNT_SID);
    expect(created.to).toBe(to);
    expect(created.from).toBe(FROM);
    expect(created.dateCreated).toBeInstanceOf(Date);
    expect(Math.abs(created.dateCreated.getTime() - Date.now())).toBeLessThan(5000);
    expect(created.numSegments).toBe('1');
    expect(created.direction).toBe('outbound-api');

    await emulator.idle(5000);
    const fetched = await client.messages(created.sid).fetch();
    expect(fetched.sid).toBe(created.sid);
    expect(fetched.body).toBe('Payment reminder: 120.50 due');
    expect(fetched.status).toBe('delivered');
    expect(fetched.dateSent).toBeInstanceOf(Date);
    expect(fetched.errorCode).toBeNull();

    const listed = await client.messages.list({ to });
    expect(listed.map((m) => m.sid)).toEqual([created.sid]);
    expect(await client.messages.list({ to: '+15551230999' })).toEqual([]);
    expect(emulator.createsByTo(to)).toBe(1);
  });

  it('answers 404 with a RestException for an unknown message sid', async () => {
    await expect(client.messages(`SM${'0'.repeat(32)}`).fetch()).rejects.toMatchObject({
      status: 404,
      code: 20404,
    });
  });

  it('pages a list newest first and honours DateSent>', async () => {
    const to = '+15551230002';
    const sids: string[] = [];
    for (let i = 0; i < 5; i++) {
      sids.push((await client.messages.create({ to, from: FROM, body: `n${i}` })).sid);
    }
    await emulator.idle(5000);
    const page = await client.messages.page({ to, pageSize: 2 });
    expect(page.instances.map((m) => m.sid)).toEqual([sids[4], sids[3]]);
    expect(page.nextPageUrl).toMatch(
      /^https:\/\/api\.twilio\.com\/2010-04-01\/Accounts\/AC1+\/Messages\.json\?/,
    );
    const page2 = await page.nextPage();
    expect(page2?.instances.map((m) => m.sid)).toEqual([sids[2], sids[1]]);

    const all = await client.messages.list({ to, pageSize: 2 });
    expect(all.map((m) => m.sid)).toEqual([...sids].reverse());

    const past = await client.messages.list({ to, dateSentAfter: new Date(Date.now() - 60_000) });
    expect(past).toHaveLength(5);
    const future = await client.messages.list({ to, dateSentAfter: new Date(Date.now() + 60_000) });
    expect(future).toHaveLength(0);
  });

  it('posts queued, sent, delivered callbacks in order with valid Twilio signatures', async () => {
    const callbackUrl = `${receiver.base}/webhooks/twilio/status?tenant=bank-a`;
    const msg = await client.messages.create({
      to: '+15551230003',
      from: FROM,
      body: '您的账户已逾期，请尽快还款。',
      statusCallback: callbackUrl,
    });
    expect(msg.numSegments).toBe('1');
    await emulator.idle(5000);

    const cbs = receiver.for(msg.sid);
    expect(cbs.map((c) => c.params.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
    for (const cb of cbs) {
      expect(cb.url).toBe(callbackUrl);
      expect(cb.params).toMatchObject({
        MessageSid: msg.sid,
        SmsSid: msg.sid,
        SmsStatus: cb.params.MessageStatus,
        AccountSid: ACCOUNT_SID,
        From: FROM,
        To: '+15551230003',
        ApiVersion: '2010-04-01',
      });
      expect(cb.params.ErrorCode).toBeUndefined();
      expect(twilio.validateRequest(AUTH_TOKEN, cb.signature, cb.url, cb.params)).toBe(true);
      expect(twilio.validateRequest('another-token', cb.signature, cb.url, cb.params)).toBe(false);
      expect(
        twilio.validateRequest(AUTH_TOKEN, cb.signature, cb.url, { ...cb.params, MessageStatus: 'failed' }),
      ).toBe(false);
      expect(
        twilio.validateRequest(AUTH_TOKEN, cb.signature, cb.url.replace('bank-a', 'bank-b'), cb.params),
      ).toBe(false);
    }
    expect(new Set(cbs.map((c) => c.idempotencyToken)).size).toBe(3);
    expect(emulator.message(msg.sid)?.callbacks.map((c) => [c.status, c.httpStatus, c.ok])).toEqual([
      ['queued', 204, true],
      ['sent', 204, true],
      ['delivered', 204, true],
    ]);
  });

  it('ends configured numbers undelivered (30003) or failed (30006)', async () => {
    const statusCallback = `${receiver.base}/cb`;
    const und = await client.messages.create({ to: '+15550000001', from: FROM, body: 'x', statusCallback });
    const fail = await client.messages.create({ to: '+15550000002', from: FROM, body: 'y', statusCallback });
    await emulator.idle(5000);

    const undCbs = receiver.for(und.sid);
    expect(undCbs.map((c) => c.params.MessageStatus)).toEqual(['queued', 'sent', 'undelivered']);
    expect(undCbs.map((c) => c.params.ErrorCode)).toEqual([undefined, undefined, '30003']);
    const failCbs = receiver.for(fail.sid);
    expect(failCbs.map((c) => c.params.MessageStatus)).toEqual(['queued', 'failed']);
    expect(failCbs[1].params.ErrorCode).toBe('30006');
    for (const cb of [...undCbs, ...failCbs]) {
      expect(twilio.validateRequest(AUTH_TOKEN, cb.signature, cb.url, cb.params)).toBe(true);
    }

    const fetched = await client.messages(und.sid).fetch();
    expect(fetched.status).toBe('undelivered');
    expect(fetched.errorCode).toBe(30003);
    expect((await client.messages(fail.sid).fetch()).errorCode).toBe(30006);
  });

  it('retries a callback answered with 5xx and keeps the order', async () => {
    receiver.failFirst = 2;
    const before = emulator.stats().callbackRetries;
    const msg = await client.messages.create({
      to: '+15551230004',
      from: FROM,
      body: 'retry me',
      statusCallback: `${receiver.base}/cb`,
    });
    await emulator.idle(5000);
    expect(receiver.for(msg.sid).map((c) => c.params.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
    expect(emulator.stats().callbackRetries - before).toBe(2);
    expect(emulator.message(msg.sid)?.callbacks[0]).toMatchObject({
      status: 'queued',
      attempts: 3,
      ok: true,
    });
  });

  it('gives up on an unreachable callback URL after the retries and still reaches the final status', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const msg = await client.messages.create({
      to: '+15551230005',
      from: FROM,
      body: 'nobody listens',
      statusCallback: `http://127.0.0.1:${port}/cb`,
    });
    await emulator.idle(5000);
    const stored = emulator.message(msg.sid);
    expect(stored?.status).toBe('delivered');
    expect(stored?.callbacks).toHaveLength(3);
    expect(stored?.callbacks.every((c) => !c.ok && c.attempts === 4 && c.httpStatus === undefined)).toBe(
      true,
    );
  });

  it('rejects wrong credentials with a 401 RestException and counts the attempt', async () => {
    const before = { created: emulator.createCount, rejected: emulator.rejectedCount };
    const bad = twilio(ACCOUNT_SID, 'wrong-token', { httpClient });
    const err = await bad.messages
      .create({ to: '+15551230006', from: FROM, body: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(twilio.RestException);
    expect(err).toMatchObject({ status: 401, code: 20003 });
    expect(emulator.createCount).toBe(before.created + 1);
    expect(emulator.rejectedCount).toBe(before.rejected + 1);
    expect(emulator.messages({ to: '+15551230006' })).toHaveLength(0);
  });

  it('answers 400 with Twilio error codes for a missing Body or To, and for rejectCreate', async () => {
    await expect(client.messages.create({ to: '+15551230007', from: FROM })).rejects.toMatchObject({
      status: 400,
      code: 21602,
      moreInfo: 'https://www.twilio.com/docs/errors/21602',
    });
    await expect(client.messages.create({ to: '+15559999999', from: FROM, body: 'x' })).rejects.toMatchObject(
      {
        status: 400,
        code: 21610,
      },
    );
    // The SDK refuses a missing To itself, so post the raw form.
    const res = await fetch(`${baseUrl}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ From: FROM, Body: 'hello' }).toString(),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 21604, status: 400 });
    expect(emulator.createsByTo('+15559999999')).toBe(1);
    expect(emulator.messages({ to: '+15559999999' })).toHaveLength(0);
  });

  it('uses MessagingServiceSid without From', async () => {
    const serviceSid = `MG${'a'.repeat(32)}`;
    const msg = await client.messages.create({
      to: '+15551230008',
      messagingServiceSid: serviceSid,
      body: 'via service',
      statusCallback: `${receiver.base}/cb`,
    });
    expect(msg.status).toBe('accepted');
    expect(msg.messagingServiceSid).toBe(serviceSid);
    await emulator.idle(5000);
    const cbs = receiver.for(msg.sid);
    expect(cbs.map((c) => c.params.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
    expect(cbs[0].params.MessagingServiceSid).toBe(serviceSid);
    expect(cbs[0].params.From).toMatch(/^\+\d+$/);
    expect(twilio.validateRequest(AUTH_TOKEN, cbs[0].signature, cbs[0].url, cbs[0].params)).toBe(true);
  });

  it('counts creates exactly under 200 concurrent requests', async () => {
    const before = emulator.createCount;
    const accepted = emulator.acceptedCount;
    const tos = Array.from({ length: 200 }, (_, i) => `+1555400${String(i).padStart(4, '0')}`);
    const results = await Promise.all(
      tos.map((to) =>
        client.messages.create({
          to,
          from: FROM,
          body: `bulk ${to}`,
          statusCallback: `${receiver.base}/bulk`,
        }),
      ),
    );
    expect(emulator.createCount - before).toBe(200);
    expect(emulator.acceptedCount - accepted).toBe(200);
    expect(new Set(results.map((m) => m.sid)).size).toBe(200);
    expect(tos.every((to) => emulator.createsByTo(to) === 1)).toBe(true);
    await emulator.idle(10_000);
    expect(emulator.callbacksPending()).toBe(0);
    const bulk = receiver.received.filter((c) => c.url.endsWith('/bulk'));
    expect(bulk).toHaveLength(600);
    for (const m of results) {
      expect(receiver.for(m.sid).map((c) => c.params.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
    }
  });

  it('reports stats on the control endpoint for other processes', async () => {
    const res = await fetch(`${baseUrl}/__emulator/idle?timeoutMs=2000`);
    expect(res.status).toBe(200);
    const stats = (await res.json()) as { createCount: number; callbacksPending: number };
    expect(stats.createCount).toBe(emulator.createCount);
    expect(stats.callbacksPending).toBe(0);
  });
});

describe('TwilioEmulator callback timing', () => {
  it('spaces the transitions by callbackDelayMs and exposes the current status', async () => {
    const emulator = new TwilioEmulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      callbackDelayMs: 150,
    });
    const baseUrl = await emulator.start();
    const httpClient = createTwilioHttpClient(baseUrl);
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient });
    try {
      const msg = await client.messages.create({ to: '+15551230009', from: FROM, body: 'slow' });
      expect(emulator.callbacksPending()).toBeGreaterThan(0);
      expect((await client.messages(msg.sid).fetch()).status).toBe('queued');
      await emulator.idle(5000);
      expect((await client.messages(msg.sid).fetch()).status).toBe('delivered');
      expect(emulator.callbacksPending()).toBe(0);
    } finally {
      httpClient.destroy();
      await emulator.stop();
    }
  });
});

describe('TwilioEmulator callbackStatuses', () => {
  it('posts only the selected statuses but still moves the message to its final status', async () => {
    const receiver = new CallbackReceiver();
    await receiver.start();
    const emulator = new TwilioEmulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      failNumbers: { '+15550000001': 'undelivered' },
      callbackStatuses: ['delivered', 'undelivered', 'failed'],
    });
    const httpClient = createTwilioHttpClient(await emulator.start());
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient });
    try {
      const statusCallback = `${receiver.base}/cb`;
      const ok = await client.messages.create({ to: '+15551230012', from: FROM, body: 'a', statusCallback });
      const bad = await client.messages.create({ to: '+15550000001', from: FROM, body: 'b', statusCallback });
      await emulator.idle(5000);
      expect(receiver.for(ok.sid).map((c) => c.params.MessageStatus)).toEqual(['delivered']);
      expect(receiver.for(bad.sid).map((c) => [c.params.MessageStatus, c.params.ErrorCode])).toEqual([
        ['undelivered', '30003'],
      ]);
      expect(emulator.message(ok.sid)?.status).toBe('delivered');
    } finally {
      httpClient.destroy();
      await emulator.stop();
      await receiver.stop();
    }
  });
});

describe('twilio http client transport', () => {
  it('reuses keep-alive connections for sequential requests', async () => {
    const emulator = new TwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    const httpClient = createTwilioHttpClient(await emulator.start());
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient });
    try {
      for (let i = 0; i < 20; i++)
        await client.messages.create({ to: '+15551230010', from: FROM, body: `k${i}` });
      expect(emulator.createsByTo('+15551230010')).toBe(20);
      expect(emulator.stats().connectionsAccepted).toBe(1);
    } finally {
      httpClient.destroy();
      await emulator.stop();
    }
  });

  it('fails a request after timeoutMs when the server never answers', async () => {
    const hanging = http.createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    const httpClient = createTwilioHttpClient(`http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, {
      timeoutMs: 200,
    });
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient });
    try {
      const t0 = Date.now();
      const err = await client.messages
        .create({ to: '+15551230011', from: FROM, body: 'x' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(twilio.RestException);
      expect(String((err as Error).message)).toMatch(/timeout/i);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      httpClient.destroy();
      hanging.closeAllConnections();
      await new Promise<void>((r) => hanging.close(() => r()));
    }
  });
});

describe('twilio http client URL rewriting', () => {
  it('rewrites *.twilio.com onto the base URL and leaves other hosts alone', () => {
    const base = 'http://127.0.0.1:4010';
    expect(
      rewriteTwilioUrl('https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B1', base),
    ).toBe('http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages.json?To=%2B1');
    expect(rewriteTwilioUrl('https://messaging.twilio.com/v1/Services', `${base}/prefix/`)).toBe(
      'http://127.0.0.1:4010/prefix/v1/Services',
    );
    expect(rewriteTwilioUrl('https://example.com/twilio.com/x', base)).toBe(
      'https://example.com/twilio.com/x',
    );
    expect(rewriteTwilioUrl('https://eviltwilio.com/x', base)).toBe('https://eviltwilio.com/x');
  });

  it('counts GSM-7 and UCS-2 segments like Twilio', () => {
    expect(smsSegments('a'.repeat(160))).toBe(1);
    expect(smsSegments('a'.repeat(161))).toBe(2);
    expect(smsSegments('€'.repeat(80))).toBe(1);
    expect(smsSegments('€'.repeat(81))).toBe(2);
    expect(smsSegments('逾'.repeat(70))).toBe(1);
    expect(smsSegments('逾'.repeat(71))).toBe(2);
  });
});
