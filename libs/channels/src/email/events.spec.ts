import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '#libs/core';
import { parseEmailEvents, signEmailEvent, verifyEmailEventSignature } from './events.js';

const SECRET = 'whsec_3b1f6c0e9a7d4e2f8c5b1a0d9e8f7a6b';
const NOW = new Date('2026-05-12T02:20:00Z');
const TS = String(Math.floor(NOW.getTime() / 1000) - 20);
const BODY = JSON.stringify({
  events: [
    {
      id: 'evt_1',
      type: 'delivered',
      timestamp: '2026-05-12T02:19:40Z',
      messageId: '<n-1@notices.bank.example>',
    },
  ],
});

describe('verifyEmailEventSignature', () => {
  const good = signEmailEvent(SECRET, TS, BODY);

  it('accepts a good signature, as a string or a Buffer body', () => {
    expect(verifyEmailEventSignature(SECRET, TS, good, BODY, NOW)).toBe(true);
    expect(verifyEmailEventSignature(SECRET, TS, good, Buffer.from(BODY), NOW)).toBe(true);
    expect(verifyEmailEventSignature(SECRET, TS, `v1=${good.toUpperCase()}`, BODY, NOW)).toBe(true);
  });

  it('accepts when one of several rotated signatures matches', () => {
    const old = signEmailEvent('old-secret-0123456789', TS, BODY);
    expect(verifyEmailEventSignature(SECRET, TS, `${old}, ${good}`, BODY, NOW)).toBe(true);
  });

  it('rejects a tampered body', () => {
    expect(verifyEmailEventSignature(SECRET, TS, good, BODY.replace('delivered', 'complaint'), NOW)).toBe(
      false,
    );
    expect(verifyEmailEventSignature(SECRET, TS, good, `${BODY} `, NOW)).toBe(false);
  });

  it('rejects a signature made with another secret', () => {
    expect(verifyEmailEventSignature('another-secret-value', TS, good, BODY, NOW)).toBe(false);
  });

  it('rejects a stale or future timestamp, and a timestamp that was changed', () => {
    const old = String(Number(TS) - 400);
    expect(verifyEmailEventSignature(SECRET, old, signEmailEvent(SECRET, old, BODY), BODY, NOW)).toBe(false);
    const future = String(Number(TS) + 400);
    expect(verifyEmailEventSignature(SECRET, future, signEmailEvent(SECRET, future, BODY), BODY, NOW)).toBe(
      false,
    );
    expect(verifyEmailEventSignature(SECRET, String(Number(TS) + 1), good, BODY, NOW)).toBe(false);
    // Inside a wider tolerance the stale one passes.
    expect(verifyEmailEventSignature(SECRET, old, signEmailEvent(SECRET, old, BODY), BODY, NOW, 600)).toBe(
      true,
    );
  });

  it('rejects missing or malformed headers', () => {
    expect(verifyEmailEventSignature(SECRET, undefined, good, BODY, NOW)).toBe(false);
    expect(verifyEmailEventSignature(SECRET, TS, undefined, BODY, NOW)).toBe(false);
    expect(verifyEmailEventSignature(SECRET, '2026-05-12T02:19:40Z', good, BODY, NOW)).toBe(false);
    expect(verifyEmailEventSignature(SECRET, TS, good.slice(0, 63), BODY, NOW)).toBe(false);
    expect(verifyEmailEventSignature('', TS, good, BODY, NOW)).toBe(false);
  });
});

describe('parseEmailEvents', () => {
  it('normalises delivered, hard and soft bounces, complaints and deferrals', () => {
    const receipts = parseEmailEvents({
      events: [
        {
          id: 'e1',
          type: 'delivered',
          timestamp: '2026-05-12T02:19:40Z',
          messageId: 'n-1@notices.bank.example',
        },
        {
          id: 'e2',
          type: 'bounce',
          timestamp: 1778552400,
          messageId: '<n-2@notices.bank.example>',
          recipient: 'x@example.com',
          bounce: { type: 'hard', code: '5.1.1', diagnostic: '550 5.1.1 user unknown' },
        },
        {
          id: 'e3',
          type: 'bounce',
          timestamp: 1778552400,
          notificationId: 'n-3',
          bounce: { type: 'soft', code: '4.2.2' },
        },
        {
          id: 'e4',
          type: 'complaint',
          timestamp: 1778552400,
          messageId: '<n-4@x>',
          complaint: { feedbackType: 'abuse' },
        },
        {
          id: 'e5',
          type: 'deferred',
          timestamp: 1778552400,
          messageId: '<n-5@x>',
          smtpResponse: '451 4.7.1 greylisted',
        },
      ],
    });
    expect(
      receipts.map((r) => [
        r.providerMessageId,
        r.notificationId,
        r.outcome,
        r.bounce,
        r.complaint,
        r.errorCode,
      ]),
    ).toEqual([
      ['<n-1@notices.bank.example>', null, 'delivered', undefined, undefined, undefined],
      ['<n-2@notices.bank.example>', null, 'undelivered', 'hard', undefined, '5.1.1'],
      [null, 'n-3', 'undelivered', 'soft', undefined, '4.2.2'],
      ['<n-4@x>', null, 'delivered', undefined, true, undefined],
      ['<n-5@x>', null, 'queued', 'soft', undefined, undefined],
    ]);
    expect(receipts[1].occurredAt.toISOString()).toBe('2026-05-12T02:20:00.000Z');
    expect(receipts[1].raw).toMatchObject({ eventId: 'e2', recipient: 'x@example.com' });
    expect(receipts.every((r) => r.sandbox === false && r.provider === 'email-http')).toBe(true);
  });

  it('accepts a bare array and a single event', () => {
    const e = { id: 'e1', type: 'delivered', timestamp: 1778552400, messageId: '<a@b>' };
    expect(parseEmailEvents([e, e])).toHaveLength(2);
    expect(parseEmailEvents(e)).toHaveLength(1);
  });

  it('maps an unknown event type to unknown, never to success', () => {
    const [r] = parseEmailEvents([{ id: 'e9', type: 'opened', timestamp: 1778552400, messageId: '<a@b>' }]);
    expect(r.outcome).toBe('unknown');
    expect(r.providerStatus).toBe('opened');
  });

  it.each([
    ['no events', { foo: 1 }],
    ['missing id', [{ type: 'delivered', timestamp: 1, messageId: '<a@b>' }]],
    ['bad timestamp', [{ id: 'e', type: 'delivered', timestamp: 'yesterday', messageId: '<a@b>' }]],
    ['no ids at all', [{ id: 'e', type: 'delivered', timestamp: 1 }]],
    ['bounce without type', [{ id: 'e', type: 'bounce', timestamp: 1, messageId: '<a@b>', bounce: {} }]],
  ])('rejects a malformed body: %s', (_name, body) => {
    expect(() => parseEmailEvents(body)).toThrow(ValidationError);
  });
});
