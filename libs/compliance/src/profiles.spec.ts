import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '#libs/core';
import { cnProfile, complianceProfile, resolveProfileParams, usRegfProfile } from './profiles.js';

const HOLDS = [
  'hold.paid',
  'hold.repayment_plan',
  'hold.dispute',
  'hold.complaint',
  'hold.deceased',
  'hold.bankruptcy',
  'hold.legal_hold',
];

describe('profiles', () => {
  it('cn: rule ids in evaluation order', () => {
    expect(cnProfile().rules.map((r) => r.id)).toEqual([
      ...HOLDS,
      'optout.sms',
      'optout.email',
      'optout.voice',
      'audience.third-party-template',
      'audience.contact-refused',
      'cn.contact-window',
      'cn.freq.sms.day',
      'cn.freq.sms.7d',
      'cn.freq.email.day',
      'cn.freq.letter.7d',
      'cn.freq.voice.7d',
      'cn.stage-gap',
    ]);
  });

  it('us-regf: rule ids in evaluation order', () => {
    expect(usRegfProfile().rules.map((r) => r.id)).toEqual([
      ...HOLDS,
      'optout.sms',
      'optout.email',
      'optout.voice',
      'audience.third-party-template',
      'audience.contact-refused',
      'us-regf.contact-limit',
      'us-regf.contact-window',
      'us-regf.freq.sms.day',
      'us-regf.freq.sms.7d',
      'us-regf.freq.email.day',
      'us-regf.freq.letter.7d',
      'us-regf.freq.voice.7d',
      'us-regf.stage-gap',
    ]);
  });

  it('defaults: windows, caps, zone', () => {
    const cn = resolveProfileParams('cn');
    expect(cn.contactWindow).toEqual({ start: '08:00', end: '22:00', channels: ['sms', 'email', 'voice'] });
    expect(cn.caps).toEqual({
      sms: { perDay: 2, per7Days: 6, action: 'defer' },
      email: { perDay: 1, per7Days: null, action: 'defer' },
      letter: { perDay: null, per7Days: 1, action: 'defer' },
      voice: { perDay: null, per7Days: 7, action: 'defer' },
    });
    expect(resolveProfileParams('us-regf').caps.voice.per7Days).toBe(7);
    expect(cn.defaultTimeZone).toBe('Asia/Shanghai');
    expect(resolveProfileParams('us-regf').contactWindow.end).toBe('21:00');
    expect(complianceProfile().name).toBe('cn');
    for (const r of usRegfProfile().rules) expect(r.source.length).toBeGreaterThan(10);
  });

  it('overrides merge per section and do not leak into the defaults', () => {
    const p = resolveProfileParams('cn', { caps: { sms: { perDay: 3 } }, contactWindow: { end: '21:00' } });
    expect(p.caps.sms).toEqual({ perDay: 3, per7Days: 6, action: 'defer' });
    expect(p.contactWindow).toEqual({ start: '08:00', end: '21:00', channels: ['sms', 'email', 'voice'] });
    expect(resolveProfileParams('cn').caps.sms.perDay).toBe(2);
    expect(resolveProfileParams('us-regf', { contactLimit: null }).contactLimit).toBeNull();
    expect(usRegfProfile({ contactLimit: null }).rules.map((r) => r.id)).not.toContain(
      'us-regf.contact-limit',
    );
  });

  it.each([
    ['negative cap', { caps: { sms: { perDay: -1 } } }],
    ['fractional cap', { caps: { email: { per7Days: 1.5 } } }],
    ['bad action', { caps: { sms: { action: 'drop' as 'defer' } } }],
    ['bad window', { contactWindow: { start: '8am' } }],
    ['empty window', { contactWindow: { start: '22:00', end: '22:00' } }],
    ['unknown hold', { holds: ['vacation' as 'paid'] }],
    ['negative gap', { stageGap: { hours: -1 } }],
    ['bad gap scope', { stageGap: { scope: 'sometimes' as 'any-stage' } }],
    ['bad channel', { optOutChannels: ['fax' as 'sms'] }],
  ])('rejects %s', (_name, overrides) => {
    expect(() => resolveProfileParams('cn', overrides)).toThrow(RangeError);
  });

  it('rejects an unknown default zone and an unknown profile', () => {
    expect(() => resolveProfileParams('cn', { defaultTimeZone: 'Nowhere/City' })).toThrow(ValidationError);
    expect(() => resolveProfileParams('eu' as 'cn')).toThrow(/Unknown compliance profile/);
  });
});
