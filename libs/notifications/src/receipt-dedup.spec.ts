import { describe, expect, it } from '@jest/globals';
import type { NormalisedReceipt } from '#libs/channels';
import { dedupExpiresAt, dedupKeyOf, MIN_DEDUP_RETENTION_MS } from './receipt-dedup.js';

const DAY = 86_400_000;
const base: NormalisedReceipt = {
  provider: 'print-room',
  providerMessageId: 'B-1/DOC-1',
  notificationId: '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11',
  outcome: 'delivered',
  providerStatus: 'delivered',
  occurredAt: new Date('2026-11-02T03:00:00Z'),
  sandbox: false,
  raw: { source: 'tracking_csv', line: 3, tracking_number: 'RR473124829CN' },
};

describe('dedupKeyOf', () => {
  it("keeps a provider's own key", () => {
    expect(dedupKeyOf({ ...base, dedupKey: 'twilio:SM1:delivered:ab' }, 'webhook')).toBe(
      'twilio:SM1:delivered:ab',
    );
  });

  it('derives one from the content: the same row at another line is the same event', () => {
    const a = dedupKeyOf(base, 'print-room-tracking');
    const b = dedupKeyOf({ ...base, raw: { ...(base.raw as object), line: 9 } }, 'print-room-tracking');
    expect(a).toMatch(/^print-room:print-room-tracking:[0-9a-f]{64}$/);
    expect(b).toBe(a);
  });

  it('tells different events apart (status, time, message, raw fields)', () => {
    const a = dedupKeyOf(base, 'dsn');
    expect(dedupKeyOf({ ...base, providerStatus: 'returned' }, 'dsn')).not.toBe(a);
    expect(dedupKeyOf({ ...base, occurredAt: new Date('2026-11-02T03:00:01Z') }, 'dsn')).not.toBe(a);
    expect(dedupKeyOf({ ...base, providerMessageId: 'B-1/DOC-2' }, 'dsn')).not.toBe(a);
    expect(dedupKeyOf({ ...base, raw: { source: 'dsn', action: 'failed' } }, 'dsn')).not.toBe(a);
    expect(dedupKeyOf(base, 'sandbox')).not.toBe(a);
  });

  it('gives polled receipts none (each poll is an observation of ours)', () => {
    expect(dedupKeyOf(base, 'poll')).toBeNull();
  });
});

describe('dedupExpiresAt', () => {
  it('releases timestamp-signed keys after max(retry window, retention), others never', () => {
    expect(MIN_DEDUP_RETENTION_MS).toBe(3 * DAY);
    expect(dedupExpiresAt('email-events', 1000, 7 * DAY)).toBe(1000 + 7 * DAY);
    expect(dedupExpiresAt('vendor-webhook', 1000, 1 * DAY)).toBe(1000 + 3 * DAY);
    expect(dedupExpiresAt('dsn', 0, 3 * DAY)).toBe(3 * DAY);
    for (const via of ['webhook', 'print-room-tracking', 'sandbox', '']) {
      expect(dedupExpiresAt(via, 1000, 7 * DAY)).toBeNull();
    }
  });
});
