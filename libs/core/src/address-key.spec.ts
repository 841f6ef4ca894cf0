import { describe, expect, it } from '@jest/globals';
import { migratedOptOutKey } from '../../persistence/src/migrations/caller-scope.js';
import { addressKey, emailKey, phoneKey, storedAddressKey } from './address-key.js';

describe('address keys (one normalisation for sends, opt-outs, refusals and unsubscribes)', () => {
  it.each([
    ['13941702736', '+8613941702736'],
    ['+86 139 3016 5666', '+8613930165666'],
    ['139-4332-1315', '+8613943321315'],
    ['(139) 4332.1315', '+8613943321315'],
    ['+1 415 555 2671', '+14155552671'],
  ])('phone %s -> %s', (raw, key) => {
    expect(phoneKey(raw)).toBe(key);
    expect(addressKey(raw)).toEqual({ ok: true, key, kind: 'phone' });
  });

  it.each(['not a phone', '12345', 'call 13941702736 now', '', '+86 139 4332 1315 ext 2'])(
    'refuses %j as a phone number',
    (raw) => {
      expect(phoneKey(raw)).toBeNull();
      expect(addressKey(raw, 'phone').ok).toBe(false);
    },
  );

  it('lower-cases email and refuses what is not one', () => {
    expect(emailKey('  Zhang.San@Example.COM ')).toBe('zhang.san@example.com');
    expect(emailKey('zhang@@example.com')).toBeNull();
    expect(addressKey('a@b.cn', 'phone')).toMatchObject({ ok: false });
    expect(addressKey('13941702736', 'email')).toMatchObject({ ok: false });
  });

  it('stored rows keep matching themselves when they do not parse', () => {
    expect(storedAddressKey('sms', '139-4332-1315')).toBe('+8613943321315');
    expect(storedAddressKey('sms', 'legacy-text')).toBe('legacy-text');
    expect(storedAddressKey('email', 'A@B.CN')).toBe('a@b.cn');
  });

  it('the migration rewrites national forms and reports what it cannot normalise', () => {
    expect(migratedOptOutKey('139-4332-1315', 'sms')).toBe('+8613943321315');
    expect(migratedOptOutKey('Zhang@Example.com', '*')).toBe('zhang@example.com');
    expect(migratedOptOutKey('not a phone', 'sms')).toBeNull();
    expect(migratedOptOutKey('not a phone', '*')).toBeNull();
  });
});
