import { canonicalJson, parseShanghaiTime, shanghaiDay } from '../mainland-report.js';
import { describe, expect, it } from '@jest/globals';
import { ClientError, ServerError, ThrottlingError } from '@alicloud/openapi-core';
import { ProviderError } from '#libs/core';
import type { InboundRequest } from '../../inbound.js';
import type { OutboundMessage } from '../../provider.js';
import {
  ALIYUN_PERMANENT_CODES,
  AliyunSmsProvider,
  aliyunOutcome,
  aliyunRetryable,
  aliyunSdkError,
  normaliseSmsReport,
  parseSmsReport,
  toAliyunPhone,
} from './aliyun.sms.js';

const NID = '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11';
const ITEM = {
  phone_number: '13800000001',
  send_time: '2026-12-04 09:59:58',
  report_time: '2026-12-04 10:00:05',
  success: true,
  err_code: 'DELIVERED',
  err_msg: '用户接收成功',
  sms_size: '1',
  biz_id: '900619746936498440^0',
  out_id: NID,
};

const provider = new AliyunSmsProvider({
  accessKeyId: 'ak',
  accessKeySecret: 'secret',
  // Nothing listens here: every test below must be decided before any network call.
  endpoint: '127.0.0.1:9',
  protocol: 'http',
  callbackToken: 'tok-123',
  timeoutMs: 200,
});

function inbound(query: Record<string, string>, body: string | Buffer): InboundRequest {
  return {
    url: 'https://svc.example/webhooks/aliyun',
    headers: {},
    query,
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    contentType: 'application/json',
    now: new Date('2026-12-04T03:00:00Z'),
  };
}

describe('toAliyunPhone', () => {
  it('sends mainland numbers as 11 national digits and others as 00<cc><number>', () => {
    expect(toAliyunPhone('+8613800000001')).toBe('13800000001');
    expect(toAliyunPhone('+85291234567')).toBe('0085291234567');
    expect(toAliyunPhone('+14155550100')).toBe('0014155550100');
    // A +86 number that is not an 11-digit mobile keeps the international form.
    expect(toAliyunPhone('+861012345678')).toBe('00861012345678');
  });

  it('throws on anything that is not E.164', () => {
    for (const bad of ['13800000001', '+0123456789', '+86 138', '']) {
      expect(() => toAliyunPhone(bad)).toThrow('not an E.164 number');
    }
  });
});

describe('Asia/Shanghai dates', () => {
  it('files a UTC instant under its Shanghai day (UTC+8)', () => {
    expect(shanghaiDay(new Date('2026-12-04T15:59:59Z'))).toBe('20261204');
    expect(shanghaiDay(new Date('2026-12-04T16:00:00Z'))).toBe('20261205');
  });

  it('parses Aliyun times as Shanghai local time', () => {
    expect(parseShanghaiTime('2026-12-05 00:00:01')?.toISOString()).toBe('2026-12-04T16:00:01.000Z');
    expect(parseShanghaiTime('2026-12-05T00:00:01')).toBeNull();
    expect(parseShanghaiTime('')).toBeNull();
  });
});

describe('outcome and retry mapping', () => {
  it('maps SendStatus 1/2/3 and nothing else', () => {
    expect(aliyunOutcome(1)).toBe('sent');
    expect(aliyunOutcome(2)).toBe('undelivered');
    expect(aliyunOutcome(3)).toBe('delivered');
    expect(aliyunOutcome(0)).toBeNull();
    expect(aliyunOutcome(Number.NaN)).toBeNull();
  });

  it('retries flow control, quotas and server failures, never request errors', () => {
    for (const code of [
      'isv.BUSINESS_LIMIT_CONTROL',
      'isv.DAY_LIMIT_CONTROL',
      'Throttling.User',
      'Throttling',
      'ServiceUnavailable',
    ]) {
      expect([code, aliyunRetryable(code, 200)]).toEqual([code, true]);
    }
    expect(aliyunRetryable('InternalError', 500)).toBe(true);
    expect(aliyunRetryable('SomethingNew', 502)).toBe(true);
    expect(aliyunRetryable('SomethingNew', 429)).toBe(true);
    for (const code of ALIYUN_PERMANENT_CODES) {
      expect([code, aliyunRetryable(code, 200), aliyunRetryable(code, 400)]).toEqual([code, false, false]);
    }
    expect(aliyunRetryable('isv.SMS_TEMPLATE_ILLEGAL', 200)).toBe(false);
  });
});

describe('aliyunSdkError', () => {
  const req = { templateCode: 'SMS_1' };

  it('keeps the HTTP status and code of an answered error (the SDK exception classes)', () => {
    const sig = aliyunSdkError(
      'aliyun',
      new ClientError({ statusCode: 400, code: 'SignatureDoesNotMatch', message: 'code: 400, mismatch' }),
      req,
    );
    expect(sig).toBeInstanceOf(ProviderError);
    expect(sig.retryable).toBe(false);
    expect(sig.extra).toEqual({ httpStatus: 400, providerCode: 'SignatureDoesNotMatch', request: req });

    const key = aliyunSdkError(
      'aliyun',
      new ClientError({ statusCode: 404, code: 'InvalidAccessKeyId.NotFound', message: 'x' }),
      req,
    );
    expect([key.retryable, key.extra.httpStatus]).toEqual([false, 404]);

    const thr = aliyunSdkError(
      'aliyun',
      new ThrottlingError({ statusCode: 400, code: 'Throttling.User', message: 'x' }),
      req,
    );
    expect([thr.retryable, thr.extra.httpStatus, thr.extra.providerCode]).toEqual([
      true,
      400,
      'Throttling.User',
    ]);

    const srv = aliyunSdkError(
      'aliyun',
      new ServerError({ statusCode: 503, code: 'ServiceUnavailable', message: 'x' }),
      req,
    );
    expect([srv.retryable, srv.extra.httpStatus]).toEqual([true, 503]);

    // A 5xx without a parsable body: the SDK's code is the string "undefined".
    const bare = aliyunSdkError(
      'aliyun',
      new ServerError({ statusCode: 502, code: 'undefined', message: 'x' }),
      req,
    );
    expect([bare.retryable, bare.extra.providerCode]).toEqual([true, 'http_502']);
  });

  it('marks a refused connection surely not sent (0) and a timeout or reset ambiguous (null)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(aliyunSdkError('aliyun', refused, req).extra).toMatchObject({
      httpStatus: 0,
      providerCode: 'ECONNREFUSED',
    });
    expect(aliyunSdkError('aliyun', refused, req).retryable).toBe(true);

    // httpx names its read timeout `RequestTimeout` + the original name, its connect timeout `RequestTimeoutError`.
    for (const name of ['RequestTimeoutError', 'RequestTimeoutError2']) {
      const t = Object.assign(new Error('ReadTimeout(200)'), { name });
      expect(aliyunSdkError('aliyun', t, req).extra).toMatchObject({
        httpStatus: null,
        providerCode: 'timeout',
      });
    }
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const r = aliyunSdkError('aliyun', reset, req);
    expect([r.retryable, r.extra.httpStatus, r.extra.providerCode]).toEqual([true, null, 'ECONNRESET']);
  });
});

describe('parseSmsReport', () => {
  it('parses a batch and fills defaults', () => {
    const r = parseSmsReport(JSON.stringify([ITEM, { biz_id: '1^0', success: false }]));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.items[0]).toEqual(ITEM);
    // raw is what was pushed, before the defaults.
    expect(r.raw[1]).toEqual({ biz_id: '1^0', success: false });
    expect(r.items[1]).toMatchObject({
      biz_id: '1^0',
      success: false,
      err_code: '',
      out_id: '',
      report_time: '',
    });
  });

  it.each([
    ['not JSON', '{', 'not JSON'],
    ['an object', '{"biz_id":"1"}', 'not a JSON array'],
    ['a non-object item', '[1]', 'not an object'],
    ['an item without biz_id', JSON.stringify([{ ...ITEM, biz_id: '' }]), 'has no biz_id'],
  ])('refuses %s', (_, body, reason) => {
    const r = parseSmsReport(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });
});

describe('normaliseSmsReport', () => {
  const now = new Date('2026-12-04T03:00:00Z');

  it('normalises a delivered report', () => {
    const r = normaliseSmsReport(ITEM, ITEM, 'aliyun', now);
    expect(r).toMatchObject({
      provider: 'aliyun',
      providerMessageId: ITEM.biz_id,
      notificationId: NID,
      outcome: 'delivered',
      providerStatus: 'DELIVERED',
      sandbox: false,
      raw: ITEM,
    });
    expect(r.errorCode).toBeUndefined();
    expect(r.occurredAt.toISOString()).toBe('2026-12-04T02:00:05.000Z');
  });

  it('normalises a failed report, and ignores an out_id that is not ours', () => {
    const item = { ...ITEM, success: false, err_code: 'MK:0001', out_id: 'order-77', report_time: 'garbage' };
    const r = normaliseSmsReport(item, item, 'aliyun-b', now);
    expect(r).toMatchObject({
      provider: 'aliyun-b',
      outcome: 'undelivered',
      errorCode: 'MK:0001',
      providerStatus: 'MK:0001',
    });
    expect(r.notificationId).toBeNull();
    expect(r.occurredAt).toEqual(now);
  });

  it('keys a redelivered item the same (whatever the key order) and a different item differently', () => {
    const reordered = Object.fromEntries(Object.entries(ITEM).reverse()) as typeof ITEM;
    const a = normaliseSmsReport(ITEM, ITEM, 'aliyun', now).dedupKey;
    expect(a).toMatch(/^aliyun:900619746936498440\^0:[0-9a-f]{64}$/);
    expect(normaliseSmsReport(reordered, reordered, 'aliyun', now).dedupKey).toBe(a);
    const later = { ...ITEM, report_time: '2026-12-04 10:00:06' };
    expect(normaliseSmsReport(later, later, 'aliyun', now).dedupKey).not.toBe(a);
  });

  it('canonicalJson sorts keys at every level', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });
});

describe('AliyunSmsProvider.receive', () => {
  const body = JSON.stringify([ITEM]);

  it('accepts a push with the right token and answers {code:0}', async () => {
    const r = await provider.receive(inbound({ token: 'tok-123' }, body));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.reply).toEqual({ status: 200, body: { code: 0, msg: '接收成功' } });
    expect(r.verification).toEqual({ verified: true, via: 'webhook', check: 'callback-token' });
    expect(r.receipts).toHaveLength(1);
    expect(r.receipts[0]).toMatchObject({ providerMessageId: ITEM.biz_id, notificationId: NID, raw: ITEM });
  });

  it('refuses a missing or wrong token with 401, before reading the body', async () => {
    const queries: Record<string, string>[] = [{}, { token: '' }, { token: 'tok-12' }, { token: 'tok-1234' }];
    for (const q of queries) {
      await expect(provider.receive(inbound(q, 'not json'))).resolves.toMatchObject({
        ok: false,
        status: 401,
      });
    }
  });

  it('refuses malformed bodies with 400', async () => {
    for (const b of ['nope', '{}', '[{"success":true}]']) {
      await expect(provider.receive(inbound({ token: 'tok-123' }, b))).resolves.toMatchObject({
        ok: false,
        status: 400,
      });
    }
  });

  it('answers 404 when no callback token is configured (never accepts an empty token)', async () => {
    const p = new AliyunSmsProvider({
      accessKeyId: 'a',
      accessKeySecret: 'b',
      callbackToken: '',
      timeoutMs: 100,
    });
    await expect(p.receive(inbound({ token: '' }, body))).resolves.toMatchObject({ ok: false, status: 404 });
    expect(p.webhookName).toBe('aliyun');
  });
});

describe('AliyunSmsProvider.send preconditions', () => {
  const base: OutboundMessage = {
    notificationId: NID,
    channel: 'sms',
    to: '+8613800000001',
    webhookBaseUrl: '',
    sms: { body: 'x' },
  };

  it('refuses a message without an Aliyun registration (not retryable)', async () => {
    for (const m of [
      base,
      {
        ...base,
        sms: {
          body: 'x',
          registered: {
            tencent: { kind: 'tencent', templateCode: '1', signName: 's', params: [], text: '' },
          },
        },
      },
    ]) {
      const err = await provider.send(m).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).retryable).toBe(false);
      expect((err as ProviderError).extra).toMatchObject({
        providerCode: 'registration_missing',
        httpStatus: null,
      });
    }
  });

  it('refuses a number that is not E.164 (not retryable)', async () => {
    const m: OutboundMessage = {
      ...base,
      to: '13800000001',
      sms: {
        body: 'x',
        registered: {
          aliyun: { kind: 'aliyun', templateCode: 'SMS_1', signName: 's', params: [], text: '' },
        },
      },
    };
    const err = (await provider.send(m).catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect([err.retryable, err.extra.providerCode]).toEqual([false, 'invalid_number']);
  });

  it('uses its name for the webhook', () => {
    expect(
      new AliyunSmsProvider(
        { accessKeyId: 'a', accessKeySecret: 'b', callbackToken: 't', timeoutMs: 1 },
        'aliyun-b',
      ).webhookName,
    ).toBe('aliyun-b');
  });
});
