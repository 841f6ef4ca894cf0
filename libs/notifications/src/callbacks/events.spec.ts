import { describe, expect, it } from '@jest/globals';
import { verifyTimestamped } from '#libs/core';
import {
  callbackBackoffMs,
  callbackBody,
  type CallbackEvent,
  callbackSignature,
  callbackTypeFor,
  parseCallbackUrl,
} from './events.js';

describe('callback events', () => {
  it('names the event of each status; sending makes none; a returned letter is returned', () => {
    expect(callbackTypeFor('accepted')).toBe('notification.accepted');
    expect(callbackTypeFor('sending')).toBeNull();
    expect(callbackTypeFor('undelivered')).toBe('notification.undelivered');
    expect(callbackTypeFor('undelivered', { returnReason: 'refused' })).toBe('notification.returned');
    expect(callbackTypeFor('delivered', { returnReason: 'refused' })).toBe('notification.delivered');
  });

  it('signs the canonical body so the documented check accepts it and nothing else', () => {
    const e: CallbackEvent = {
      type: 'notification.sent',
      id: '5b0c0000-0000-4000-8000-000000000001',
      createdAt: '2026-12-03T02:00:00.000Z',
      notificationId: '0f3a0000-0000-4000-8000-000000000002',
      caseId: 'C-1',
      status: 'sent',
      data: { to: 'sent', from: 'sending' },
      evidence: { caseId: 'C-1', seq: 4 },
    };
    const body = callbackBody(e);
    expect(body.startsWith('{"caseId":"C-1","createdAt"')).toBe(true);
    const ts = '1764727200';
    const sig = callbackSignature('cbs_secret', ts, body);
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    const at = new Date(Number(ts) * 1000 + 1000);
    expect(verifyTimestamped('cbs_secret', ts, sig, body, at)).toBe(true);
    expect(verifyTimestamped('cbs_other', ts, sig, body, at)).toBe(false);
    expect(verifyTimestamped('cbs_secret', ts, sig, body.replace('sent', 'sEnt'), at)).toBe(false);
    expect(verifyTimestamped('cbs_secret', ts, sig, body, new Date(at.getTime() + 301_000))).toBe(false);
  });

  it('backs off exponentially with bounded jitter, capped', () => {
    expect([1, 2, 3, 4].map((a) => callbackBackoffMs(a, 100, 1000, () => 0))).toEqual([100, 200, 400, 800]);
    expect(callbackBackoffMs(10, 100, 1000, () => 0)).toBe(1000);
    expect(callbackBackoffMs(1, 100, 1000, () => 1)).toBe(120);
  });

  it('takes absolute http(s) URLs without credentials or fragment; http only when allowed', () => {
    expect(parseCallbackUrl('https://crm.example.com/hooks', false)).toBe('https://crm.example.com/hooks');
    expect(() => parseCallbackUrl('http://crm.example.com/hooks', false)).toThrow('must be https');
    expect(parseCallbackUrl('http://127.0.0.1:9/h', true)).toBe('http://127.0.0.1:9/h');
    expect(() => parseCallbackUrl('ftp://x/y', true)).toThrow('must be http or https');
    expect(() => parseCallbackUrl('https://a:b@x/y', true)).toThrow('credentials');
    expect(() => parseCallbackUrl('https://x/y#f', true)).toThrow('fragment');
    expect(() => parseCallbackUrl('/relative', true)).toThrow('not an absolute URL');
    expect(() => parseCallbackUrl(42, true, 'callbackUrl')).toThrow(
      'callbackUrl is not a usable callback URL',
    );
  });
});
