import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '#libs/core';
import {
  parseVendorEvents,
  signVendorWebhook,
  verifyVendorWebhook,
  type VendorEvent,
} from './vendor-webhook.js';

const SECRET = 'whsec_test_123';
const NOW = new Date('2026-03-01T08:00:00Z');
const TS = Math.floor(NOW.getTime() / 1000);

function event(over: Partial<VendorEvent> = {}): VendorEvent {
  return {
    id: 'evt_1',
    type: 'delivered',
    letterId: 'ltr_1',
    reference: 'notif-1',
    documentId: 'DOC-1',
    occurredAt: '2026-03-01T07:59:00Z',
    trackingNumber: 'RR123456785CN',
    signer: '张三',
    ...over,
  };
}

function signed(body: string, ts = TS, secret = SECRET) {
  // Independent of signVendorWebhook: the documented scheme, computed here.
  const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  return { 'X-Vendor-Timestamp': String(ts), 'X-Vendor-Signature': `v1=${sig}` };
}

describe('verifyVendorWebhook', () => {
  it('accepts a correctly signed event and returns it', () => {
    const body = JSON.stringify(event());
    const r = verifyVendorWebhook(SECRET, signed(body), body, NOW);
    expect(r).toMatchObject({ ok: true, eventId: 'evt_1', timestamp: TS, event: { signer: '张三' } });
    expect(signVendorWebhook(SECRET, TS, body)).toBe(signed(body)['X-Vendor-Signature']);
  });

  it('rejects a tampered body, a wrong secret and missing headers', () => {
    const body = JSON.stringify(event());
    const tampered = body.replace('张三', '李四');
    expect(verifyVendorWebhook(SECRET, signed(body), tampered, NOW)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyVendorWebhook('other', signed(body), body, NOW)).toMatchObject({
      reason: 'bad_signature',
    });
    expect(verifyVendorWebhook(SECRET, {}, body, NOW)).toMatchObject({
      reason: 'missing_headers',
    });
    expect(
      verifyVendorWebhook(SECRET, { ...signed(body), 'X-Vendor-Timestamp': '12a' }, body, NOW),
    ).toMatchObject({ reason: 'bad_timestamp' });
  });

  it('enforces the 5-minute tolerance in both directions', () => {
    const body = JSON.stringify(event());
    const at = (offset: number, id: string) => {
      const b = JSON.stringify(event({ id }));
      return verifyVendorWebhook(SECRET, signed(b, TS + offset), b, NOW);
    };
    expect(at(-300, 'a')).toMatchObject({ ok: true });
    expect(at(300, 'b')).toMatchObject({ ok: true });
    expect(at(-301, 'c')).toMatchObject({ ok: false, reason: 'stale' });
    expect(at(301, 'd')).toMatchObject({ ok: false, reason: 'stale' });
    void body;
  });

  it('verifies a redelivery again (replays are refused by the receipts dedup key, not here)', () => {
    const body = JSON.stringify(event());
    expect(verifyVendorWebhook(SECRET, signed(body), body, NOW)).toMatchObject({ ok: true });
    expect(verifyVendorWebhook(SECRET, signed(body, TS + 5), body, NOW)).toMatchObject({
      ok: true,
      eventId: 'evt_1',
    });
  });

  it('accepts any of several secrets during a rotation and several v1 signatures', () => {
    const body = JSON.stringify(event());
    const r = verifyVendorWebhook(['old', SECRET], signed(body), body, NOW);
    expect(r.ok).toBe(true);
    const both = `${signVendorWebhook('new', TS, body)},${signed(body)['X-Vendor-Signature']}`;
    const r2 = verifyVendorWebhook(
      SECRET,
      { 'x-vendor-timestamp': String(TS), 'x-vendor-signature': both },
      Buffer.from(body),
      NOW,
    );
    expect(r2.ok).toBe(true);
  });

  it('rejects a signed body that is not an event', () => {
    const body = JSON.stringify({ hello: 'world' });
    const r = verifyVendorWebhook(SECRET, signed(body), body, NOW);
    expect(r).toMatchObject({ ok: false, reason: 'malformed_body' });
  });
});

describe('parseVendorEvents', () => {
  it('maps every post event to its outcome', () => {
    const types = ['printed', 'mailed', 'in_transit', 'delivered', 'failed', 'lost_in_space'];
    const receipts = parseVendorEvents({ events: types.map((type, i) => event({ id: `e${i}`, type })) });
    expect(receipts.map((r) => [r.providerStatus, r.outcome, r.postEvent ?? null])).toEqual([
      ['printed', 'queued', 'printed'],
      ['mailed', 'sent', 'mailed'],
      ['in_transit', 'sent', 'in_transit'],
      ['delivered', 'delivered', null],
      ['failed', 'failed', null],
      ['lost_in_space', 'unknown', null],
    ]);
    expect(receipts[3]).toMatchObject({
      provider: 'print-vendor',
      providerMessageId: 'ltr_1',
      notificationId: 'notif-1',
      signer: '张三',
      sandbox: false,
    });
    expect(receipts[3]?.occurredAt.toISOString()).toBe('2026-03-01T07:59:00.000Z');
    expect(receipts[0]?.signer).toBeUndefined();
  });

  it('keeps refused and unclaimed distinct and understands Chinese reasons', () => {
    const reasons = [
      'refused',
      'unclaimed',
      'bad_address',
      'moved',
      'other',
      '拒收',
      '逾期未领',
      'eaten by dog',
      null,
    ];
    const receipts = parseVendorEvents(
      reasons.map((returnReason, i) => event({ id: `r${i}`, type: 'returned', returnReason, signer: null })),
    );
    expect(receipts.map((r) => r.returnReason)).toEqual([
      'refused',
      'unclaimed',
      'bad_address',
      'moved',
      'other',
      'refused',
      'unclaimed',
      'other',
      'other',
    ]);
    expect(receipts.every((r) => r.outcome === 'undelivered' && r.postEvent === 'returned')).toBe(true);
    expect(receipts[7]?.errorCode).toBe('eaten by dog');
  });

  it('marks test-mode events sandbox and rejects malformed events with their path', () => {
    expect(parseVendorEvents(event({ livemode: false }))[0]?.sandbox).toBe(true);
    expect(() => parseVendorEvents({ events: [event(), { ...event(), occurredAt: 'yesterday' }] })).toThrow(
      ValidationError,
    );
    try {
      parseVendorEvents({ events: [event(), { ...event(), letterId: undefined }] });
    } catch (err) {
      expect((err as ValidationError).fields).toEqual([
        { path: 'events[1].letterId', message: 'is required' },
      ]);
    }
    expect.assertions(3);
  });
});
