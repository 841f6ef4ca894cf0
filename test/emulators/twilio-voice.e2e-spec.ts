import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import twilio from 'twilio';
import { buildTwiml, createTwilioHttpClient } from '#libs/channels';
import { ProviderError } from '#libs/core';
import type { InboundRequest, InboundResult } from '../../libs/channels/src/inbound.js';
import type { NormalisedReceipt, OutboundMessage } from '../../libs/channels/src/provider.js';
import { TwilioVoiceProvider, type TwilioVoiceSettings } from '../../libs/channels/src/voice/twilio.voice.js';
import { TwilioEmulator } from './twilio.js';

const ACCOUNT_SID = `AC${'3'.repeat(32)}`;
const AUTH_TOKEN = 'voice-e2e-auth-token';
const FROM = '+15005550006';
const ANSWERS = '+8613800138000';
const NO_ANSWER = '+8613800138001';
const BUSY = '+8613800138002';
const FAILS = '+8613800138003';
const MACHINE = '+8613800138004';
const REJECTED = '+8613800138005';
const THROTTLED = '+8613800138006';
const LOST_ANSWER = '+8613800138007';
const LOST_REQUEST = '+8613800138008';

/** Records every callback as the api's ingress would hand it to the provider. */
class Receiver {
  readonly requests: InboundRequest[] = [];
  base = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = `${this.base}${req.url ?? ''}`;
      const u = new URL(url);
      this.requests.push({
        url,
        headers: req.headers,
        query: Object.fromEntries(u.searchParams),
        body: Buffer.concat(chunks),
        contentType: String(req.headers['content-type'] ?? '')
          .split(';')[0]
          .trim()
          .toLowerCase(),
        now: new Date(),
      });
      res.writeHead(204).end();
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  forCall(sid: string): InboundRequest[] {
    return this.requests.filter((r) => new URLSearchParams(r.body.toString('utf8')).get('CallSid') === sid);
  }
}

describe('TwilioVoiceProvider (official twilio client) against the Twilio emulator', () => {
  const emulator = new TwilioEmulator({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    callbackRetryBaseMs: 5,
    callDurationSeconds: 17,
    callOutcomes: { [NO_ANSWER]: 'no-answer', [BUSY]: 'busy', [FAILS]: 'failed', [MACHINE]: 'machine' },
    rejectCall: (to) =>
      to === REJECTED
        ? { status: 400, code: 21215, message: 'Geographic permission is not enabled for this number' }
        : to === THROTTLED
          ? { status: 429, code: 20429, message: 'Too Many Requests' }
          : undefined,
    hangCall: (to) => (to === LOST_ANSWER ? 'stored' : to === LOST_REQUEST ? true : undefined),
  });
  const receiver = new Receiver();
  let settings: TwilioVoiceSettings;
  let provider: TwilioVoiceProvider;

  beforeAll(async () => {
    const apiBaseUrl = await emulator.start();
    await receiver.start();
    settings = { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, apiBaseUrl, timeoutMs: 5000 };
    provider = new TwilioVoiceProvider(settings);
  });

  afterEach(() => {
    emulator.reset();
    receiver.requests.length = 0;
  });

  afterAll(async () => {
    await emulator.stop();
    await receiver.stop();
  });

  function message(to: string, text = '您好，这里是催收通知：您的账单已逾期，请尽快处理。'): OutboundMessage {
    return {
      notificationId: randomUUID(),
      channel: 'voice',
      to,
      webhookBaseUrl: `${receiver.base}/webhooks`,
      voice: { text, locale: 'zh-CN', twiml: buildTwiml(text, 'zh-CN') },
    };
  }

  /** Places the call, waits for every callback and returns them through `receive`, in order. */
  async function callAndReceive(
    m: OutboundMessage,
    p: TwilioVoiceProvider = provider,
  ): Promise<{ sid: string; results: InboundResult[] }> {
    const sent = await p.send(m);
    await emulator.idle(5000);
    const results = await Promise.all(receiver.forCall(sent.providerMessageId).map((r) => p.receive(r)));
    return { sid: sent.providerMessageId, results };
  }

  function receipts(results: InboundResult[]): NormalisedReceipt[] {
    return results.flatMap((r) => {
      if (!r.ok) throw new Error(`refused: ${r.reason}`);
      return r.receipts;
    });
  }

  it('an answered call: the exact TwiML is said, every progress event arrives signed, ends delivered', async () => {
    const m = message(ANSWERS);
    const { sid, results } = await callAndReceive(m);
    expect(sid).toMatch(/^CA[0-9a-f]{32}$/);

    const call = emulator.call(sid);
    expect(call?.twiml).toBe(m.voice?.twiml);
    expect(call).toMatchObject({
      to: ANSWERS,
      from: FROM,
      url: null,
      statusCallback: `${receiver.base}/webhooks/twilio-voice?nid=${m.notificationId}`,
      statusCallbackEvents: ['initiated', 'ringing', 'answered', 'completed'],
      statusCallbackMethod: 'POST',
      timeout: 30,
      machineDetection: null,
      status: 'completed',
      duration: 17,
    });

    for (const r of results) expect(r).toMatchObject({ ok: true, reply: { status: 204 } });
    const rs = receipts(results);
    expect(rs.map((r) => [r.providerStatus, r.outcome])).toEqual([
      ['initiated', 'queued'],
      ['ringing', 'queued'],
      ['in-progress', 'sent'],
      ['completed', 'delivered'],
    ]);
    for (const r of rs) {
      expect(r).toMatchObject({
        provider: 'twilio-voice',
        providerMessageId: sid,
        notificationId: m.notificationId,
      });
    }
    expect(rs.map((r) => (r.raw as Record<string, string>).SequenceNumber)).toEqual(['0', '1', '2', '3']);
    expect((rs[3].raw as Record<string, string>).CallDuration).toBe('17');
    expect(new Set(rs.map((r) => r.dedupKey)).size).toBe(4);
    expect(emulator.callCreatesByTo(ANSWERS)).toBe(1);
    expect(emulator.callCreateCount).toBe(1);
  });

  it.each([
    [NO_ANSWER, 'no-answer'],
    [BUSY, 'busy'],
  ])('%s rings and ends %s: undelivered', async (to, status) => {
    const { results } = await callAndReceive(message(to));
    const rs = receipts(results);
    expect(rs.map((r) => r.providerStatus)).toEqual(['initiated', 'ringing', status]);
    expect(rs[2]).toMatchObject({ outcome: 'undelivered', errorCode: status });
    expect((rs[2].raw as Record<string, string>).CallDuration).toBe('0');
  });

  it('a call that cannot be placed ends failed without ringing', async () => {
    const { results } = await callAndReceive(message(FAILS));
    const rs = receipts(results);
    expect(rs.map((r) => [r.providerStatus, r.outcome])).toEqual([
      ['initiated', 'queued'],
      ['failed', 'failed'],
    ]);
    expect(rs[1].errorCode).toBe('failed');
  });

  it('a voicemail: undelivered with machine detection on, indistinguishable from a person without', async () => {
    const detecting = new TwilioVoiceProvider({ ...settings, machineDetection: true });
    const detected = await callAndReceive(message(MACHINE), detecting);
    expect(emulator.call(detected.sid)?.machineDetection).toBe('Enable');
    const last = receipts(detected.results).at(-1);
    expect(last).toMatchObject({ providerStatus: 'completed', outcome: 'undelivered', errorCode: 'machine' });
    expect((last?.raw as Record<string, string>).AnsweredBy).toBe('machine_end_beep');

    const human = receipts((await callAndReceive(message(ANSWERS), detecting)).results).at(-1);
    expect(human).toMatchObject({ outcome: 'delivered' });
    expect((human?.raw as Record<string, string>).AnsweredBy).toBe('human');

    const blind = receipts((await callAndReceive(message(MACHINE))).results).at(-1);
    expect(blind).toMatchObject({ outcome: 'delivered' });
  });

  it('refuses forged callbacks: changed parameter, another token, another notification id, no signature', async () => {
    const m = message(ANSWERS);
    const sent = await provider.send(m);
    await emulator.idle(5000);
    const genuine = receiver.forCall(sent.providerMessageId)[0];
    expect(await provider.receive(genuine)).toMatchObject({ ok: true });

    const params = Object.fromEntries(new URLSearchParams(genuine.body.toString('utf8')));
    const tampered = new URLSearchParams({ ...params, CallStatus: 'completed' }).toString();
    expect(await provider.receive({ ...genuine, body: Buffer.from(tampered) })).toMatchObject({
      ok: false,
      status: 403,
    });

    const otherToken = twilio.getExpectedTwilioSignature('not-our-token', genuine.url, params);
    expect(
      await provider.receive({
        ...genuine,
        headers: { ...genuine.headers, 'x-twilio-signature': otherToken },
      }),
    ).toMatchObject({ ok: false, status: 403 });

    const otherNid = genuine.url.replace(m.notificationId, randomUUID());
    expect(
      await provider.receive({
        ...genuine,
        url: otherNid,
        query: { nid: new URL(otherNid).searchParams.get('nid') ?? '' },
      }),
    ).toMatchObject({ ok: false, status: 403 });

    const { 'x-twilio-signature': _dropped, ...unsigned } = genuine.headers;
    expect(await provider.receive({ ...genuine, headers: unsigned })).toMatchObject({
      ok: false,
      status: 403,
    });

    const otherAccount = new TwilioVoiceProvider({ ...settings, authToken: 'another-account-token' });
    expect(await otherAccount.receive(genuine)).toMatchObject({ ok: false, status: 403 });
  });

  it('poll reads the call: delivered once completed, no-answer undelivered, unknown sid null', async () => {
    const answered = await provider.send(message(ANSWERS));
    const missed = await provider.send(message(NO_ANSWER));
    await emulator.idle(5000);

    const a = await provider.poll(answered.providerMessageId);
    expect(a).toMatchObject({
      provider: 'twilio-voice',
      providerMessageId: answered.providerMessageId,
      notificationId: null,
      outcome: 'delivered',
      providerStatus: 'completed',
      sandbox: false,
      raw: { polled: true, status: 'completed', duration: '17', to: ANSWERS, from: FROM },
    });
    expect(a?.dedupKey).toBeUndefined();

    expect(await provider.poll(missed.providerMessageId)).toMatchObject({
      outcome: 'undelivered',
      providerStatus: 'no-answer',
      errorCode: 'no-answer',
    });
    expect(await provider.poll(`CA${'0'.repeat(32)}`)).toBeNull();
  });

  it('findSent: the oldest call from our number to the debtor since the claim, else null', async () => {
    const m = message(ANSWERS);
    const since = new Date();
    expect(await provider.findSent(m, since)).toBeNull();

    const first = await provider.send(m);
    await emulator.idle(5000);
    const second = await provider.send(message(ANSWERS));
    await emulator.idle(5000);
    const found = await provider.findSent(m, since);
    expect(found).toMatchObject({
      providerMessageId: first.providerMessageId,
      request: { reconciledBy: 'list', to: ANSWERS, from: FROM },
    });
    expect(found?.providerMessageId).not.toBe(second.providerMessageId);

    // Claimed long after these calls: they are not ours.
    expect(await provider.findSent(m, new Date(Date.now() + 16 * 60_000))).toBeNull();
    // Another caller id (another account or number) does not see them as its own.
    const otherFrom = new TwilioVoiceProvider({ ...settings, from: '+15005550009' });
    expect(await otherFrom.findSent(m, since)).toBeNull();
    // Another debtor: nothing.
    expect(await provider.findSent(message(BUSY), since)).toBeNull();
  });

  it('a timed-out create: findSent finds the call Twilio placed, and nothing when the request was lost', async () => {
    const impatient = new TwilioVoiceProvider({ ...settings, timeoutMs: 300 });
    const m = message(LOST_ANSWER);
    const since = new Date();
    await expect(impatient.send(m)).rejects.toMatchObject({ retryable: true, extra: { httpStatus: null } });
    await emulator.idle(5000);
    const found = await provider.findSent(m, since);
    const placed = emulator.calls({ to: LOST_ANSWER });
    expect(placed).toHaveLength(1);
    expect(found?.providerMessageId).toBe(placed[0].sid);
    // Its callbacks still carry our id: the receipts match the notification all the same.
    const last = receipts(
      await Promise.all(receiver.forCall(placed[0].sid).map((r) => provider.receive(r))),
    ).at(-1);
    expect(last).toMatchObject({ notificationId: m.notificationId, outcome: 'delivered' });

    const lost = message(LOST_REQUEST);
    await expect(impatient.send(lost)).rejects.toMatchObject({ retryable: true });
    expect(emulator.callCreatesByTo(LOST_REQUEST)).toBe(1);
    expect(await provider.findSent(lost, since)).toBeNull();
  });

  it('the official client pages through the emulated Calls list and its filters', async () => {
    const sids: string[] = [];
    for (let i = 0; i < 5; i++) sids.push((await provider.send(message(ANSWERS))).providerMessageId);
    const missed = await provider.send(message(NO_ANSWER));
    await emulator.idle(5000);
    const httpClient = createTwilioHttpClient(emulator.url, { timeoutMs: 5000 });
    try {
      const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient });
      const listed = await client.calls.list({ to: ANSWERS, pageSize: 2 });
      expect(listed.map((c) => c.sid)).toEqual([...sids].reverse());
      expect(listed[0]).toMatchObject({ status: 'completed', direction: 'outbound-api', duration: '17' });
      expect(listed[0].startTime).toBeInstanceOf(Date);
      const noAnswer = await client.calls.list({ status: 'no-answer' });
      expect(noAnswer.map((c) => c.sid)).toEqual([missed.providerMessageId]);
      const later = await client.calls.list({ startTimeAfter: new Date(Date.now() + 60_000) });
      expect(later).toHaveLength(0);
      expect(await client.calls.list({ from: '+15005550009' })).toHaveLength(0);
    } finally {
      httpClient.destroy();
    }
  });

  it('maps API errors: refusals are final, throttling and lost requests retryable', async () => {
    const refused = provider.send(message(REJECTED));
    await expect(refused).rejects.toBeInstanceOf(ProviderError);
    await expect(refused).rejects.toMatchObject({
      retryable: false,
      extra: { httpStatus: 400, providerCode: 21215 },
    });
    await expect(provider.send(message(THROTTLED))).rejects.toMatchObject({
      retryable: true,
      extra: { httpStatus: 429, providerCode: 20429 },
    });
    const badAuth = new TwilioVoiceProvider({ ...settings, authToken: 'wrong' });
    await expect(badAuth.send(message(ANSWERS))).rejects.toMatchObject({
      retryable: false,
      extra: { httpStatus: 401, providerCode: 20003 },
    });
    expect(emulator.callCreatesByTo(REJECTED)).toBe(1);
    expect(emulator.calls()).toHaveLength(0);

    // Nobody listening: no answer at all.
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const lost = new TwilioVoiceProvider({
      ...settings,
      apiBaseUrl: `http://127.0.0.1:${port}`,
      timeoutMs: 1000,
    });
    await expect(lost.send(message(ANSWERS))).rejects.toMatchObject({
      retryable: true,
      extra: { httpStatus: null },
    });
  });
});
