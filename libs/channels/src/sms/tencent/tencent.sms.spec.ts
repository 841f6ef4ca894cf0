import { canonicalJson, parseShanghaiTime, tokenMatches } from '../mainland-report.js';
import { describe, expect, it } from '@jest/globals';
import type { InboundRequest } from '../../inbound.js';
import {
  parseStatusReport,
  tencentCodeRetryable,
  tencentError,
  tencentOutcome,
  tencentStatusError,
  TencentSmsProvider,
} from './tencent.sms.js';

const provider = new TencentSmsProvider(
  {
    secretId: 'AKIDx',
    secretKey: 'key',
    sdkAppId: '1400000000',
    callbackToken: 'tok-123',
    timeoutMs: 1000,
  },
  'tencent-secondary',
);

const NOW = new Date('2026-12-04T12:00:00Z');

function inbound(body: unknown, query: Record<string, string> = { token: 'tok-123' }): InboundRequest {
  return {
    url: 'https://api.example/webhooks/tencent-secondary',
    headers: {},
    query,
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    contentType: 'application/json',
    now: NOW,
  };
}

const item = {
  user_receive_time: '2026-12-04 20:03:04',
  nationcode: '86',
  mobile: '13800000001',
  report_status: 'SUCCESS',
  errmsg: 'DELIVRD',
  description: '用户短信送达成功',
  sid: '2028:123',
};

describe('tencentOutcome', () => {
  it('maps SUCCESS and FAIL, and nothing else to a final outcome', () => {
    expect(tencentOutcome('SUCCESS')).toBe('delivered');
    expect(tencentOutcome('FAIL')).toBe('undelivered');
    expect(tencentOutcome('success')).toBe('unknown');
    expect(tencentOutcome(undefined)).toBe('unknown');
  });
});

describe('error mapping', () => {
  it('throttling, limits and internal errors are retryable; request faults are not', () => {
    for (const c of [
      'RequestLimitExceeded',
      'RequestLimitExceeded.PhoneNumberDailyLimit',
      'LimitExceeded.PhoneNumberThirtySecondLimit',
      'InternalError.Timeout',
      'InternalError',
    ]) {
      expect([c, tencentCodeRetryable(c)]).toEqual([c, true]);
    }
    for (const c of [
      'FailedOperation.TemplateIncorrectOrUnapproved',
      'FailedOperation.SignatureIncorrectOrUnapproved',
      'InvalidParameterValue.TemplateParameterLengthLimit',
      'InvalidParameterValue.ProhibitedUseUrlInTemplateParameter',
      'InvalidParameterValue.IncorrectPhoneNumber',
      'InvalidParameterValue.TemplateParameterFormatError',
      'AuthFailure.SignatureFailure',
      'AuthFailure.SecretIdNotFound',
      'SomethingNew',
    ]) {
      expect([c, tencentCodeRetryable(c)]).toEqual([c, false]);
    }
  });

  it('an API error in the body keeps its code and HTTP 200', () => {
    const e = tencentError(
      { message: 'sig', code: 'AuthFailure.SignatureFailure', requestId: 'r1' },
      { a: 1 },
    );
    expect(e.retryable).toBe(false);
    expect(e.extra).toEqual({
      httpStatus: 200,
      providerCode: 'AuthFailure.SignatureFailure',
      requestId: 'r1',
      request: { a: 1 },
    });
    const t = tencentError({ message: 'slow down', code: 'RequestLimitExceeded' }, null);
    expect([t.retryable, t.extra.httpStatus]).toEqual([true, 200]);
  });

  it('a non-200 answer keeps its status; 5xx and 429 are retryable, other 4xx not', () => {
    expect(
      [tencentError({ message: 'Bad Gateway', httpCode: 502 }, null)].map((e) => [
        e.retryable,
        e.extra.httpStatus,
      ]),
    ).toEqual([[true, 502]]);
    expect(tencentError({ message: 'Too Many', httpCode: 429 }, null).retryable).toBe(true);
    const e = tencentError({ message: 'Not Found', httpCode: 404 }, null);
    expect([e.retryable, e.extra.httpStatus]).toEqual([false, 404]);
  });

  it('a refused connection is surely not sent (0); a timeout or reset is ambiguous (null)', () => {
    const refused = tencentError(
      { message: 'request to http://127.0.0.1:1/ failed, reason: connect ECONNREFUSED 127.0.0.1:1' },
      null,
    );
    expect([refused.retryable, refused.extra.httpStatus, refused.extra.providerCode]).toEqual([
      true,
      0,
      'ECONNREFUSED',
    ]);
    const dns = tencentError(
      { message: 'request to https://x/ failed, reason: getaddrinfo ENOTFOUND x' },
      null,
    );
    expect(dns.extra.httpStatus).toBe(0);
    const timeout = tencentError({ message: 'network timeout at: http://127.0.0.1:5/' }, null);
    expect([timeout.retryable, timeout.extra.httpStatus, timeout.extra.providerCode]).toEqual([
      true,
      null,
      'timeout',
    ]);
    const reset = tencentError({ message: 'request to http://x/ failed, reason: socket hang up' }, null);
    expect([reset.retryable, reset.extra.httpStatus]).toEqual([true, null]);
  });

  it('a per-number status other than Ok is an answered refusal (HTTP 200)', () => {
    const e = tencentStatusError(
      { Code: 'LimitExceeded.PhoneNumberThirtySecondLimit', Message: 'too many', SerialNo: '' },
      null,
    );
    expect([e.retryable, e.extra.httpStatus, e.extra.providerCode]).toEqual([
      true,
      200,
      'LimitExceeded.PhoneNumberThirtySecondLimit',
    ]);
    expect(
      tencentStatusError({ Code: 'FailedOperation.TemplateIncorrectOrUnapproved' }, null).retryable,
    ).toBe(false);
  });
});

describe('parsing', () => {
  it('reads Shanghai local time as UTC+8', () => {
    expect(parseShanghaiTime('2026-12-04 20:03:04')?.toISOString()).toBe('2026-12-04T12:03:04.000Z');
    expect(parseShanghaiTime('2026-12-04T20:03:04')).toBeNull();
    expect(parseShanghaiTime('2026-13-40 20:03:04')).toBeNull();
    expect(parseShanghaiTime(undefined)).toBeNull();
  });

  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}',
    );
  });

  it('accepts an array of objects with sid, refuses anything else', () => {
    expect(parseStatusReport(Buffer.from(JSON.stringify([item])))).toEqual({ ok: true, items: [item] });
    expect(parseStatusReport(Buffer.from('[]'))).toEqual({ ok: true, items: [] });
    expect(parseStatusReport(Buffer.from('not json')).ok).toBe(false);
    expect(parseStatusReport(Buffer.from(JSON.stringify(item))).ok).toBe(false);
    expect(parseStatusReport(Buffer.from('[1]')).ok).toBe(false);
    expect(parseStatusReport(Buffer.from(JSON.stringify([{ ...item, sid: '' }]))).ok).toBe(false);
    expect(parseStatusReport(Buffer.from(JSON.stringify([{ ...item, sid: 5 }]))).ok).toBe(false);
  });

  it('compares tokens exactly', () => {
    expect(tokenMatches('tok-123', 'tok-123')).toBe(true);
    expect(tokenMatches('tok-12', 'tok-123')).toBe(false);
    expect(tokenMatches(undefined, 'tok-123')).toBe(false);
    expect(tokenMatches('', '')).toBe(false);
  });
});

describe('receive', () => {
  it('normalises each report item and answers {result: 0}', async () => {
    const fail = { ...item, sid: '2028:124', report_status: 'FAIL', errmsg: 'MK:0001', description: '空号' };
    const r = await provider.receive(inbound([item, fail]));
    if (!r.ok) throw new Error(r.reason);
    expect(r.reply).toEqual({ status: 200, body: { result: 0, errmsg: 'OK' } });
    expect(r.verification).toEqual({ verified: true, via: 'webhook', check: 'callback-token' });
    expect(r.receipts[0]).toMatchObject({
      provider: 'tencent-secondary',
      providerMessageId: '2028:123',
      notificationId: null,
      outcome: 'delivered',
      providerStatus: 'SUCCESS DELIVRD',
      errorCode: undefined,
      occurredAt: new Date('2026-12-04T12:03:04Z'),
      sandbox: false,
      raw: item,
    });
    expect(r.receipts[1]).toMatchObject({
      outcome: 'undelivered',
      errorCode: 'MK:0001',
      providerStatus: 'FAIL MK:0001',
    });
  });

  it('gives the same item the same dedup key whatever its key order, another item another key', async () => {
    const reordered = Object.fromEntries(Object.entries(item).reverse());
    const [a, b, c] = await Promise.all([
      provider.receive(inbound([item])),
      provider.receive(inbound([reordered])),
      provider.receive(inbound([{ ...item, user_receive_time: '2026-12-04 20:03:05' }])),
    ]);
    if (!a.ok || !b.ok || !c.ok) throw new Error('refused');
    expect(a.receipts[0].dedupKey).toMatch(/^tencent-secondary:2028:123:[0-9a-f]{64}$/);
    expect(b.receipts[0].dedupKey).toBe(a.receipts[0].dedupKey);
    expect(c.receipts[0].dedupKey).not.toBe(a.receipts[0].dedupKey);
  });

  it('a malformed receive time falls back to the arrival time', async () => {
    const r = await provider.receive(inbound([{ ...item, user_receive_time: 'yesterday' }]));
    expect(r.ok && r.receipts[0].occurredAt).toEqual(NOW);
  });

  it('refuses a missing or wrong token with 401 before reading the body', async () => {
    expect(await provider.receive(inbound([item], {}))).toMatchObject({ ok: false, status: 401 });
    expect(await provider.receive(inbound([item], { token: 'tok-1234' }))).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(await provider.receive(inbound('garbage', {}))).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses malformed bodies with 400', async () => {
    for (const body of ['garbage', item, [{ ...item, sid: undefined }], [null]]) {
      expect(await provider.receive(inbound(body))).toMatchObject({ ok: false, status: 400 });
    }
  });
});

describe('send without a registration', () => {
  it('is refused, not retryable, before any request', async () => {
    await expect(
      provider.send({
        notificationId: 'n1',
        channel: 'sms',
        to: '+8613800000001',
        webhookBaseUrl: '',
        sms: { body: 'free text', registered: { aliyun: undefined } },
      }),
    ).rejects.toMatchObject({ retryable: false, extra: { providerCode: 'registration_missing' } });
  });
});
