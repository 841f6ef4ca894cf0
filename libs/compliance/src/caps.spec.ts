import { describe, expect, it } from '@jest/globals';
import { capBuckets, counterKeys, historySince } from './caps.js';
import { cnProfile, usRegfProfile } from './profiles.js';

describe('capBuckets', () => {
  it('cn SMS: a local-day counter bucket and a 7-day rolling bucket', () => {
    const at = new Date('2026-11-24T14:30:00Z'); // 22:30 Beijing
    const b = capBuckets({ at, channel: 'sms', recipientAddress: ' +8613800138000 ' }, cnProfile());
    expect(b).toHaveLength(2);
    expect(b[0]).toMatchObject({
      ruleId: 'cn.freq.sms.day',
      kind: 'local-day',
      key: 'cap:day:sms:+8613800138000:2026-11-24',
      localDate: '2026-11-24',
      timeZone: 'Asia/Shanghai',
      interval: '[from,to)',
      limit: 2,
      action: 'defer',
    });
    expect(b[0].from.toISOString()).toBe('2026-11-23T16:00:00.000Z');
    expect(b[0].to.toISOString()).toBe('2026-11-24T16:00:00.000Z');
    expect(b[1]).toMatchObject({
      ruleId: 'cn.freq.sms.7d',
      kind: 'rolling',
      key: 'cap:rolling:sms:+8613800138000',
      interval: '(from,to]',
      limit: 6,
    });
    expect(b[1].from.toISOString()).toBe('2026-11-17T14:30:00.000Z');
    expect(b[1].to.toISOString()).toBe('2026-11-24T14:30:00.000Z');
  });

  it('the local day follows the recipient zone, including a 23-hour DST day', () => {
    const at = new Date('2026-03-08T15:00:00Z'); // 11:00 EDT on spring-forward day
    const [day] = capBuckets(
      { at, channel: 'email', recipientAddress: 'A@B.cn', timeZone: 'America/New_York' },
      usRegfProfile(),
    );
    expect(day.key).toBe('cap:day:email:a@b.cn:2026-03-08');
    expect(day.from.toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect(day.to.toISOString()).toBe('2026-03-09T04:00:00.000Z');
    expect(day.to.getTime() - day.from.getTime()).toBe(23 * 3_600_000);
  });

  it('letters only have the 7-day bucket; overrides change limits and actions', () => {
    expect(
      counterKeys(
        { at: new Date('2026-11-24T00:00:00Z'), channel: 'letter', recipientAddress: 'postal:1' },
        cnProfile(),
      ),
    ).toEqual(['cap:rolling:letter:postal:1']);
    const p = cnProfile({ caps: { letter: { perDay: 1, per7Days: 2, action: 'suppress' } } });
    const b = capBuckets(
      { at: new Date('2026-11-24T00:00:00Z'), channel: 'letter', recipientAddress: 'postal:1' },
      p,
    );
    expect(b.map((x) => [x.ruleId, x.limit, x.action])).toEqual([
      ['cn.freq.letter.day', 1, 'suppress'],
      ['cn.freq.letter.7d', 2, 'suppress'],
    ]);
  });
});

describe('historySince', () => {
  it('reaches back over the longest rolling cap or stage gap', () => {
    const now = new Date('2026-11-24T00:00:00Z');
    expect(historySince(now, cnProfile()).toISOString()).toBe('2026-11-17T00:00:00.000Z');
    expect(historySince(now, cnProfile({ stageGap: { hours: 240 } })).toISOString()).toBe(
      '2026-11-14T00:00:00.000Z',
    );
    const noRolling = cnProfile({
      caps: { sms: { per7Days: null }, letter: { per7Days: null }, voice: { per7Days: null } },
    });
    expect(historySince(now, noRolling).toISOString()).toBe('2026-11-22T00:00:00.000Z');
  });
});
