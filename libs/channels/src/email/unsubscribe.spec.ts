import { describe, expect, it } from '@jest/globals';
import { listUnsubscribeHeaders, unsubscribeToken, verifyUnsubscribeToken } from './unsubscribe.js';

const SECRET = 'unsub-secret-5f1e2d3c4b5a69788796a5b4';
const SUBJECT = {
  address: 'wang.fang@example.com',
  notificationId: '3f1c9a52-7d4e-4b1a-9c2f-5e8d6a0b1c23',
  channel: 'email' as const,
};

describe('unsubscribe tokens', () => {
  it('round-trips, is URL-safe and does not show the address', () => {
    const issuedAt = new Date('2026-05-12T02:15:00Z');
    const token = unsubscribeToken(SECRET, SUBJECT, issuedAt);
    expect(token).toMatch(/^u1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(encodeURIComponent(token)).toBe(token);
    expect(token).not.toContain('wang');
    expect(Buffer.from(token.split('.')[1], 'base64url').toString('latin1')).not.toContain('wang.fang');
    expect(verifyUnsubscribeToken(SECRET, token)).toEqual({ ...SUBJECT, issuedAt });
  });

  it('is the same token for the same subject and time (a re-rendered email is the same bytes)', () => {
    const at = new Date('2026-05-12T02:15:00Z');
    expect(unsubscribeToken(SECRET, SUBJECT, at)).toBe(unsubscribeToken(SECRET, SUBJECT, at));
    const other = unsubscribeToken(SECRET, { ...SUBJECT, notificationId: 'n-2' }, at);
    expect(other).not.toBe(unsubscribeToken(SECRET, SUBJECT, at));
    // Different payloads never share the IV (the first 12 bytes of `sealed`).
    const iv = (t: string) => Buffer.from(t.split('.')[1], 'base64url').subarray(0, 12).toString('hex');
    expect(iv(other)).not.toBe(iv(unsubscribeToken(SECRET, SUBJECT, at)));
    expect(iv(unsubscribeToken(SECRET, SUBJECT, new Date(at.getTime() + 1000)))).not.toBe(
      iv(unsubscribeToken(SECRET, SUBJECT, at)),
    );
  });

  it('rejects a token with any character changed', () => {
    const token = unsubscribeToken(SECRET, SUBJECT);
    for (const i of [3, 10, Math.floor(token.length / 2), token.length - 2]) {
      const c = token[i] === 'A' ? 'B' : 'A';
      const tampered = token.slice(0, i) + c + token.slice(i + 1);
      expect(verifyUnsubscribeToken(SECRET, tampered)).toBeNull();
    }
  });

  it('rejects a token made with another secret, and garbage', () => {
    const token = unsubscribeToken(SECRET, SUBJECT);
    expect(verifyUnsubscribeToken('another-secret-0123456789', token)).toBeNull();
    expect(verifyUnsubscribeToken(SECRET, '')).toBeNull();
    expect(verifyUnsubscribeToken(SECRET, 'u1.abc')).toBeNull();
    expect(verifyUnsubscribeToken(SECRET, `u2.${token.slice(3)}`)).toBeNull();
  });

  it('rejects a too short secret', () => {
    expect(() => unsubscribeToken('short', SUBJECT)).toThrow(/16 bytes/);
  });
});

describe('listUnsubscribeHeaders', () => {
  it('gives the RFC 8058 pair, with an optional mailto fallback', () => {
    expect(listUnsubscribeHeaders('https://notices.bank.example/u/abc')).toEqual({
      'List-Unsubscribe': '<https://notices.bank.example/u/abc>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
    expect(
      listUnsubscribeHeaders('https://notices.bank.example/u/abc', 'unsub@notices.bank.example')[
        'List-Unsubscribe'
      ],
    ).toBe('<https://notices.bank.example/u/abc>, <mailto:unsub@notices.bank.example>');
  });

  it('refuses a plain http URL except on loopback', () => {
    expect(() => listUnsubscribeHeaders('http://notices.bank.example/u/abc')).toThrow(/https/);
    expect(listUnsubscribeHeaders('http://127.0.0.1:3000/u/abc')['List-Unsubscribe']).toBe(
      '<http://127.0.0.1:3000/u/abc>',
    );
  });
});
