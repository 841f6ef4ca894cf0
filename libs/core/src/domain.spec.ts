import { describe, expect, it } from '@jest/globals';
import { canAdvance, isFinal, statusForOutcome } from './domain.js';
import { maskEmail, maskPhone } from './mask.js';

describe('status model', () => {
  it('only moves forward and never out of a final state', () => {
    expect(canAdvance('sending', 'sent')).toBe(true);
    expect(canAdvance('sent', 'delivered')).toBe(true);
    expect(canAdvance('accepted', 'delivered')).toBe(true);
    expect(canAdvance('delivered', 'sent')).toBe(false);
    expect(canAdvance('delivered', 'failed')).toBe(false);
    expect(canAdvance('sent', 'sent')).toBe(false);
    expect(isFinal('cancelled')).toBe(true);
    expect(isFinal('sent')).toBe(false);
  });

  it('maps receipt outcomes; unknown and queued never change a status', () => {
    expect(statusForOutcome('delivered')).toBe('delivered');
    expect(statusForOutcome('unknown')).toBeNull();
    expect(statusForOutcome('queued')).toBeNull();
  });

  it('masks phones and emails', () => {
    expect(maskPhone('+8613800138000')).toBe('+86138****8000');
    expect(maskEmail('zhang.san@example.com')).toBe('z***@example.com');
  });
});
