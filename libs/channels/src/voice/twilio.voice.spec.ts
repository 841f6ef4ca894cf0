import { describe, expect, it } from '@jest/globals';
import twilio from 'twilio';
import type { InboundRequest } from '../inbound.js';
import type { OutboundMessage } from '../provider.js';
import { TwilioVoiceProvider, twilioCallErrorCode, twilioCallOutcome } from './twilio.voice.js';

const AUTH_TOKEN = 'voice-unit-token';
const provider = new TwilioVoiceProvider({
  accountSid: `AC${'1'.repeat(32)}`,
  authToken: AUTH_TOKEN,
  from: '+15005550006',
  timeoutMs: 1000,
});
const URL_ = 'https://collect.example.com/webhooks/twilio-voice?nid=7d0c4a2e-0000-4000-8000-000000000001';

function params(over: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: `AC${'1'.repeat(32)}`,
    ApiVersion: '2010-04-01',
    CallSid: `CA${'a'.repeat(32)}`,
    CallStatus: 'completed',
    CallDuration: '21',
    Direction: 'outbound-api',
    From: '+15005550006',
    To: '+8613800138000',
    SequenceNumber: '3',
    Timestamp: 'Fri, 04 Dec 2026 20:00:05 +0000',
    ...over,
  };
}

function request(p: Record<string, string>, signature: string | undefined, url = URL_): InboundRequest {
  const u = new URL(url);
  return {
    url,
    headers: signature === undefined ? {} : { 'x-twilio-signature': signature },
    query: Object.fromEntries(u.searchParams),
    body: Buffer.from(new URLSearchParams(p).toString()),
    contentType: 'application/x-www-form-urlencoded',
    now: new Date('2026-12-04T20:00:06Z'),
  };
}

describe('twilioCallOutcome', () => {
  it.each([
    ['queued', 'queued'],
    ['initiated', 'queued'],
    ['ringing', 'queued'],
    ['in-progress', 'sent'],
    ['completed', 'delivered'],
    ['no-answer', 'undelivered'],
    ['busy', 'undelivered'],
    ['failed', 'failed'],
    ['canceled', 'failed'],
    ['answered', 'unknown'],
    ['', 'unknown'],
  ])('%s -> %s', (status, outcome) => {
    expect(twilioCallOutcome(status)).toBe(outcome);
  });

  it('a completed call a machine answered is undelivered, a human one delivered', () => {
    expect(twilioCallOutcome('completed', 'machine_end_beep')).toBe('undelivered');
    expect(twilioCallOutcome('completed', 'machine_start')).toBe('undelivered');
    expect(twilioCallOutcome('completed', 'human')).toBe('delivered');
    expect(twilioCallOutcome('completed', 'unknown')).toBe('delivered');
    expect(twilioCallErrorCode('completed', 'machine_end_silence')).toBe('machine');
  });

  it('error codes say why the call did not reach the debtor', () => {
    expect(twilioCallErrorCode('no-answer')).toBe('no-answer');
    expect(twilioCallErrorCode('busy')).toBe('busy');
    expect(twilioCallErrorCode('failed')).toBe('failed');
    expect(twilioCallErrorCode('failed', undefined, '13224')).toBe('13224');
    expect(twilioCallErrorCode('completed')).toBeUndefined();
    expect(twilioCallErrorCode('ringing')).toBeUndefined();
  });
});

describe('TwilioVoiceProvider.parseStatusCallback', () => {
  it('normalises a completed call with its sid, our id and the Twilio timestamp', () => {
    const r = provider.parseStatusCallback(params(), 'nid-1');
    expect(r).toMatchObject({
      provider: 'twilio-voice',
      providerMessageId: `CA${'a'.repeat(32)}`,
      notificationId: 'nid-1',
      outcome: 'delivered',
      providerStatus: 'completed',
      errorCode: undefined,
      sandbox: false,
    });
    expect(r.occurredAt.toISOString()).toBe('2026-12-04T20:00:05.000Z');
    expect(r.raw).toEqual(params());
  });

  it('no-answer and busy are undelivered with the status as code; machines too', () => {
    expect(provider.parseStatusCallback(params({ CallStatus: 'no-answer' }), null)).toMatchObject({
      outcome: 'undelivered',
      errorCode: 'no-answer',
    });
    expect(provider.parseStatusCallback(params({ CallStatus: 'busy' }), null)).toMatchObject({
      outcome: 'undelivered',
      errorCode: 'busy',
    });
    expect(provider.parseStatusCallback(params({ AnsweredBy: 'machine_end_beep' }), null)).toMatchObject({
      outcome: 'undelivered',
      errorCode: 'machine',
    });
  });

  it('falls back to the receive time without a readable Timestamp', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const p = params();
    delete p.Timestamp;
    expect(provider.parseStatusCallback(p, null, at).occurredAt).toEqual(at);
  });

  it('dedup key: same callback same key, whatever the parameter order; another event another key', () => {
    const a = provider.parseStatusCallback(params(), null);
    const reversed = Object.fromEntries(Object.entries(params()).reverse());
    expect(provider.parseStatusCallback(reversed, null).dedupKey).toBe(a.dedupKey);
    expect(a.dedupKey).toMatch(new RegExp(`^twilio-voice:CA${'a'.repeat(32)}:completed:[0-9a-f]{64}$`));
    const ringing = provider.parseStatusCallback(
      params({ CallStatus: 'ringing', SequenceNumber: '1' }),
      null,
    );
    expect(ringing.dedupKey).not.toBe(a.dedupKey);
    // Same status, another delivery of the event (Twilio's sequence number differs).
    expect(provider.parseStatusCallback(params({ SequenceNumber: '4' }), null).dedupKey).not.toBe(a.dedupKey);
  });

  it('a second account under another name keys its receipts by that name', () => {
    const other = new TwilioVoiceProvider(
      { accountSid: `AC${'2'.repeat(32)}`, authToken: 'x', from: '+15005550007', timeoutMs: 1000 },
      'twilio-voice-cn',
    );
    expect(other.webhookName).toBe('twilio-voice-cn');
    expect(other.parseStatusCallback(params(), null).dedupKey?.startsWith('twilio-voice-cn:')).toBe(true);
  });
});

describe('TwilioVoiceProvider.receive', () => {
  it('accepts a callback signed as Twilio signs it, with our id from the URL, and answers 204', async () => {
    const p = params();
    const sig = twilio.getExpectedTwilioSignature(AUTH_TOKEN, URL_, p);
    const res = await provider.receive(request(p, sig));
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.reply).toEqual({ status: 204 });
    expect(res.receipts).toHaveLength(1);
    expect(res.receipts[0]).toMatchObject({
      notificationId: '7d0c4a2e-0000-4000-8000-000000000001',
      outcome: 'delivered',
    });
  });

  it('refuses a missing signature, another token, a changed parameter or another URL', async () => {
    const p = params();
    const good = twilio.getExpectedTwilioSignature(AUTH_TOKEN, URL_, p);
    const forged = twilio.getExpectedTwilioSignature('other-token', URL_, p);
    expect(await provider.receive(request(p, undefined))).toMatchObject({ ok: false, status: 403 });
    expect(await provider.receive(request(p, forged))).toMatchObject({ ok: false, status: 403 });
    expect(await provider.receive(request({ ...p, CallStatus: 'no-answer' }, good))).toMatchObject({
      ok: false,
      status: 403,
    });
    const otherNid = URL_.replace(/nid=.*$/, 'nid=someone-else');
    expect(await provider.receive(request(p, good, otherNid))).toMatchObject({ ok: false, status: 403 });
  });

  it('a signed request that is no call status callback is malformed', async () => {
    const p = { AccountSid: `AC${'1'.repeat(32)}`, MessageSid: 'SM1', MessageStatus: 'delivered' };
    const sig = twilio.getExpectedTwilioSignature(AUTH_TOKEN, URL_, p);
    expect(await provider.receive(request(p, sig))).toMatchObject({ ok: false, status: 400 });
  });
});

describe('TwilioVoiceProvider.send', () => {
  it('refuses a message without its voice part, as not retryable', async () => {
    const m: OutboundMessage = {
      notificationId: 'n',
      channel: 'voice',
      to: '+8613800138000',
      webhookBaseUrl: 'https://x/webhooks',
    };
    await expect(provider.send(m)).rejects.toMatchObject({ retryable: false });
  });

  it('points the status callback at its own webhook with our id', () => {
    const m: OutboundMessage = {
      notificationId: 'abc',
      channel: 'voice',
      to: '+8613800138000',
      webhookBaseUrl: 'https://x/webhooks',
    };
    expect(provider.callbackUrl(m)).toBe('https://x/webhooks/twilio-voice?nid=abc');
  });
});
