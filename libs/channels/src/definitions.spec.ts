import { describe, expect, it } from '@jest/globals';
import { CHANNELS, type Recipient } from '#libs/core';
import { CHANNEL_DEFINITIONS, channelDefinition } from './definitions.js';

const base: Recipient = { role: 'debtor', name: '张三', timeZone: 'Asia/Shanghai' };
const address = {
  country: 'CN',
  province: '北京市',
  city: '北京市',
  district: '朝阳区',
  street: '建国路 88 号',
  postcode: '100022',
};

describe('channel definitions', () => {
  it('describe every channel, and refuse one the service does not have', () => {
    expect(Object.keys(CHANNEL_DEFINITIONS).sort()).toEqual([...CHANNELS].sort());
    for (const c of CHANNELS) expect(channelDefinition(c).channel).toBe(c);
    expect(() => channelDefinition('fax')).toThrow(
      "unknown channel 'fax' (known: sms, email, letter, voice)",
    );
  });

  it('reach a recipient only through the channel’s own field (no fall-through to another channel)', () => {
    const phoneOnly = { ...base, phone: '+8613800138000' };
    expect(CHANNELS.filter((c) => channelDefinition(c).reachable(phoneOnly))).toEqual(['sms', 'voice']);
    expect(CHANNELS.filter((c) => channelDefinition(c).reachable({ ...base, address }))).toEqual(['letter']);
    expect(CHANNELS.filter((c) => channelDefinition(c).reachable(base))).toEqual([]);
  });

  it('take the address from the field, naming it when it is missing or not deliverable', () => {
    expect(channelDefinition('email').address({ ...base, email: 'a@example.com' })).toBe('a@example.com');
    expect(() => channelDefinition('sms').address({ ...base, email: 'a@example.com' })).toThrow(
      'An SMS needs recipient.phone',
    );
    expect(() => channelDefinition('email').address(base)).toThrow('An email needs recipient.email');
    expect(() =>
      channelDefinition('letter').address({ ...base, address: { ...address, postcode: '1' } }),
    ).toThrow('The postal address is not deliverable');
    expect(channelDefinition('letter').address({ ...base, address })).toMatch(/100022/);
  });

  it('name each channel in Chinese and English for documents', () => {
    expect(CHANNELS.map((c) => CHANNEL_DEFINITIONS[c].labels['zh-CN'])).toEqual([
      '短信',
      '电子邮件',
      '信函',
      '语音电话',
    ]);
  });
});
