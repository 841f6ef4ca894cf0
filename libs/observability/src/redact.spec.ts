import { describe, expect, it } from '@jest/globals';
import { REDACTED, redactDeep, redactUrl, scrub } from './redact.js';

describe('scrub (free text)', () => {
  it.each([
    ['E.164 phone', 'call +8613800138000 now', '+8613800138000'],
    ['mainland mobile', 'mobile 13800138000.', '13800138000'],
    ['formatted phone', 'tel 138-0013-8000', '138-0013-8000'],
    ['landline', 'office (021) 6888 1234', '6888 1234'],
    ['email', 'mail zhang.san+x@example.com.cn ok', 'zhang.san+x@example.com.cn'],
    ['card number', 'card 6222 0212 3456 7890 123', '6222 0212 3456 7890 123'],
    ['card number, dashes', 'card 4111-1111-1111-1111', '4111-1111-1111-1111'],
    ['PRC ID number', '身份证号110101199003074518', '110101199003074518'],
    ['PRC ID number with X', 'id 11010119900307451X.', '11010119900307451X'],
    ['Chinese address', '住址：上海市浦东新区世纪大道100号2栋301室', '世纪大道100号'],
    ['English address', 'lives at 221B Baker Street, London', '221B Baker Street'],
  ])('%s', (_label, text, secret) => {
    const out = scrub(text);
    expect(out).not.toContain(secret);
    expect(out).toMatch(/\[(number|email|id-number|address)\]/);
  });

  it('keeps ids, dates, amounts and short numbers', () => {
    const text =
      'notification 6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11 at 2026-11-24T02:00:00.000Z due 2026-11-01: 12345.67 CNY, dpd 22, seq 1234567';
    expect(scrub(text)).toBe(text);
  });
});

describe('redactDeep (structured fields)', () => {
  it('replaces personal fields whole and scrubs every other string', () => {
    const out = redactDeep({
      recipient: { name: '张三', phone: '+8613800138000' },
      phone: '+8613800138000',
      nested: [{ email: 'a@b.cn', note: 'call 13800138000' }],
      headers: { authorization: 'Bearer cns_x', 'x-request-id': 'r1' },
      count: 3,
    }) as Record<string, unknown>;
    expect(out).toEqual({
      recipient: REDACTED,
      phone: REDACTED,
      nested: [{ email: REDACTED, note: 'call [number]' }],
      headers: { authorization: REDACTED, 'x-request-id': 'r1' },
      count: 3,
    });
  });

  it('scrubs error messages and stacks', () => {
    const out = redactDeep({ err: new Error('no such phone 13800138000') }) as {
      err: { message: string; stack: string };
    };
    expect(out.err.message).toBe('no such phone [number]');
    expect(out.err.stack).not.toContain('13800138000');
  });
});

describe('credentials', () => {
  it('redactUrl replaces unsubscribe tokens, keys and signatures in query strings', () => {
    const token = 'eyJuIjoiNmYxYyIsImEiOiJ6aGFuZ0BleGFtcGxlLmNvbSJ9.c2lnbmF0dXJlLWJ5dGVz';
    const out = redactUrl(`/webhooks/email/unsubscribe?t=${token}&lang=en&signature=abc123&api_key=k1`);
    expect(out).toBe(
      `/webhooks/email/unsubscribe?t=${REDACTED}&lang=en&signature=${REDACTED}&api_key=${REDACTED}`,
    );
    expect(redactUrl('/v1/notifications?caseId=C-1')).toBe('/v1/notifications?caseId=C-1');
  });

  it('scrub removes API keys and bearer tokens from free text', () => {
    const key = `cns_0123456789abcdef_${'A'.repeat(43)}`;
    expect(scrub(`bad key ${key} given`)).toBe(`bad key ${REDACTED} given`);
    expect(scrub('Authorization: Bearer abc.def-ghi')).toBe(`Authorization: ${REDACTED}`);
  });
});
