import { describe, expect, it } from '@jest/globals';
import type { Channel, RecipientRole, Stage } from '#libs/core';
import { evaluateGate } from './gate.js';
import { cnProfile, usRegfProfile, type ProfileOverrides } from './profiles.js';
import type {
  Audience,
  CaseHold,
  ComplianceProfile,
  ContactState,
  DeferDecision,
  GateDecision,
  GateInput,
  GatePhase,
  HoldKind,
  OptOut,
  ProfileName,
  SendRecord,
  SuppressDecision,
} from './types.js';

const BJ = 'Asia/Shanghai';
const NY = 'America/New_York';
const PHONE = '+8613800138000';
const EMAIL = 'debtor@example.com';

interface Over {
  now?: string;
  phase?: GatePhase;
  id?: string;
  caseId?: string;
  channel?: Channel;
  audience?: Audience;
  stage?: Stage;
  role?: RecipientRole;
  timeZone?: string;
  address?: string;
  history?: SendRecord[];
  holds?: CaseHold[];
  optOuts?: OptOut[];
  contact?: ContactState;
}

function mk(o: Over = {}): GateInput {
  const channel = o.channel ?? 'sms';
  return {
    now: new Date(o.now ?? '2026-11-24T02:00:00Z'), // 10:00 Beijing
    phase: o.phase ?? 'accept',
    notification: {
      id: o.id ?? 'n-1',
      caseId: o.caseId ?? 'case-1',
      channel,
      audience: o.audience ?? 'debtor',
      ...(o.stage ? { stage: o.stage } : {}),
    },
    recipient: {
      role: o.role ?? 'debtor',
      timeZone: 'timeZone' in o ? o.timeZone : BJ,
      address: o.address ?? (channel === 'email' ? EMAIL : PHONE),
    },
    history: o.history ?? [],
    holds: o.holds ?? [],
    optOuts: o.optOuts ?? [],
    ...(o.contact ? { contact: o.contact } : {}),
  };
}

function sent(at: string, extra: Partial<SendRecord> = {}): SendRecord {
  const channel = extra.channel ?? 'sms';
  return {
    sentAt: new Date(at),
    channel,
    recipientAddress: channel === 'email' ? EMAIL : PHONE,
    caseId: 'case-1',
    ...extra,
  };
}

const profiles: Record<ProfileName, (o?: ProfileOverrides) => ComplianceProfile> = {
  cn: cnProfile,
  'us-regf': usRegfProfile,
};
const BOTH: ProfileName[] = ['cn', 'us-regf'];

function asDefer(d: GateDecision): DeferDecision {
  if (d.outcome !== 'defer') throw new Error(`expected defer, got ${d.outcome}: ${JSON.stringify(d)}`);
  return d;
}
function asSuppress(d: GateDecision): SuppressDecision {
  if (d.outcome !== 'suppress') throw new Error(`expected suppress, got ${d.outcome}: ${JSON.stringify(d)}`);
  return d;
}

describe('contact window', () => {
  it.each<[string, ProfileName, Over, string | null, string]>([
    // [case, profile, input, expected until (null = allow), rule]
    [
      'cn: 22:30 Beijing -> 08:00 next morning',
      'cn',
      { now: '2026-11-24T14:30:00Z' },
      '2026-11-25T00:00:00.000Z',
      'cn.contact-window',
    ],
    ['cn: 21:30 Beijing is open', 'cn', { now: '2026-11-24T13:30:00Z' }, null, 'cn.contact-window'],
    [
      'cn: 22:00 Beijing is closed',
      'cn',
      { now: '2026-11-24T14:00:00Z' },
      '2026-11-25T00:00:00.000Z',
      'cn.contact-window',
    ],
    [
      'cn: 07:00 Beijing -> 08:00',
      'cn',
      { now: '2026-11-24T23:00:00Z' },
      '2026-11-25T00:00:00.000Z',
      'cn.contact-window',
    ],
    [
      'cn: no zone -> Asia/Shanghai default',
      'cn',
      { now: '2026-11-24T14:30:00Z', timeZone: undefined },
      '2026-11-25T00:00:00.000Z',
      'cn.contact-window',
    ],
    [
      'cn: email is windowed too',
      'cn',
      { now: '2026-11-24T14:30:00Z', channel: 'email' },
      '2026-11-25T00:00:00.000Z',
      'cn.contact-window',
    ],
    [
      'cn: letters are not windowed',
      'cn',
      { now: '2026-11-24T14:30:00Z', channel: 'letter', address: 'postal:1' },
      null,
      '',
    ],
    ['cn: 21:30 New York is open under cn', 'cn', { now: '2026-03-08T02:30:00Z', timeZone: NY }, null, ''],
    [
      'us-regf: 21:30 Beijing is closed',
      'us-regf',
      { now: '2026-11-24T13:30:00Z' },
      '2026-11-25T00:00:00.000Z',
      'us-regf.contact-window',
    ],
    ['us-regf: 20:59 New York is open', 'us-regf', { now: '2026-07-02T00:59:00Z', timeZone: NY }, null, ''],
    [
      'us-regf: 21:00 New York is closed',
      'us-regf',
      { now: '2026-07-02T01:00:00Z', timeZone: NY },
      '2026-07-02T12:00:00.000Z',
      'us-regf.contact-window',
    ],
    [
      'us-regf: 07:30 New York -> 08:00',
      'us-regf',
      { now: '2026-07-02T11:30:00Z', timeZone: NY },
      '2026-07-02T12:00:00.000Z',
      'us-regf.contact-window',
    ],
    // Spring forward 2026-03-08: 21:30 EST on 03-07 -> 08:00 EDT on 03-08 (12:00Z, not 13:00Z)
    [
      'us-regf: 21:30 NY before spring-forward',
      'us-regf',
      { now: '2026-03-08T02:30:00Z', timeZone: NY },
      '2026-03-08T12:00:00.000Z',
      'us-regf.contact-window',
    ],
    // Fall back 2026-11-01: 21:30 EDT on 10-31 -> 08:00 EST on 11-01 (13:00Z, not 12:00Z)
    [
      'us-regf: 21:30 NY before fall-back',
      'us-regf',
      { now: '2026-11-01T01:30:00Z', timeZone: NY },
      '2026-11-01T13:00:00.000Z',
      'us-regf.contact-window',
    ],
    [
      'cn: 23:30 NY before spring-forward',
      'cn',
      { now: '2026-03-08T04:30:00Z', timeZone: NY },
      '2026-03-08T12:00:00.000Z',
      'cn.contact-window',
    ],
    [
      'cn: 23:30 NY before fall-back',
      'cn',
      { now: '2026-11-01T03:30:00Z', timeZone: NY },
      '2026-11-01T13:00:00.000Z',
      'cn.contact-window',
    ],
  ])('%s', (_name, profile, over, until, ruleId) => {
    const d = evaluateGate(mk(over), profiles[profile]());
    if (until === null) {
      expect(d.outcome).toBe('allow');
    } else {
      const def = asDefer(d);
      expect(def.until.toISOString()).toBe(until);
      expect(def.ruleId).toBe(ruleId);
      expect(def.ruleIds).toEqual([ruleId]);
      expect(def.inputs.until).toBe(until);
    }
  });

  it('records the local time and window in the defer inputs', () => {
    const d = asDefer(evaluateGate(mk({ now: '2026-11-24T14:30:00Z' }), cnProfile()));
    expect(d.inputs.nowLocal).toBe('2026-11-24T22:30:00.000+08:00');
    expect(d.inputs.untilLocal).toBe('2026-11-25T08:00:00.000+08:00');
    expect(d.reason).toContain('08:00-22:00');
    const step = (d.inputs.steps as { rules: { ruleId: string; window: string }[] }[])[0];
    expect(step.rules[0]).toMatchObject({ ruleId: 'cn.contact-window', window: '08:00-22:00', timeZone: BJ });
  });

  it('honours an overridden window and channel list', () => {
    const p = cnProfile({
      contactWindow: { start: '09:00', end: '20:00', channels: ['sms', 'email', 'letter'] },
    });
    const d = asDefer(evaluateGate(mk({ now: '2026-11-24T12:30:00Z', channel: 'letter', address: 'p' }), p)); // 20:30
    expect(d.until.toISOString()).toBe('2026-11-25T01:00:00.000Z');
  });
});

describe('frequency caps', () => {
  // Beijing 2026-11-24; now 10:00 local = 02:00Z
  const today = (h: number) => new Date(Date.UTC(2026, 10, 24, h - 8)).toISOString();

  it.each(BOTH)('%s: 2nd SMS of the local day is allowed, 3rd deferred to next day 08:00', (name) => {
    const p = profiles[name]();
    const one = evaluateGate(mk({ history: [sent(today(9))] }), p);
    expect(one.outcome).toBe('allow');
    const checks = (one.inputs.checks as Record<string, { count: number; limit: number }>)[
      `${name}.freq.sms.day`
    ];
    expect(checks).toMatchObject({ count: 1, limit: 2 });

    const two = asDefer(evaluateGate(mk({ history: [sent(today(8)), sent(today(9))] }), p));
    expect(two.until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(two.ruleId).toBe(`${name}.freq.sms.day`);
    expect(two.ruleIds).toEqual([`${name}.freq.sms.day`, `${name}.contact-window`]);
  });

  it.each(BOTH)('%s: 2nd email of the day deferred to next day 08:00', (name) => {
    const d = asDefer(
      evaluateGate(
        mk({ channel: 'email', history: [sent(today(9), { channel: 'email' })] }),
        profiles[name](),
      ),
    );
    expect(d.ruleId).toBe(`${name}.freq.email.day`);
    expect(d.until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
  });

  it('counts per address and channel only, and skips the notification itself', () => {
    const history = [
      sent(today(8), { recipientAddress: '+8613900000000' }),
      sent(today(9), { channel: 'email' }),
      sent(today(9), { notificationId: 'n-1' }),
      sent(today(9), { caseId: 'other-case' }), // other case, same address: counts
    ];
    const d = evaluateGate(mk({ history }), cnProfile());
    expect(d.outcome).toBe('allow');
    expect((d.inputs.checks as Record<string, { count: number }>)['cn.freq.sms.day'].count).toBe(1);
  });

  it('compares addresses trimmed and case-insensitively', () => {
    const history = [sent(today(8), { channel: 'email', recipientAddress: ' Debtor@Example.COM ' })];
    const d = evaluateGate(mk({ channel: 'email', history }), cnProfile());
    expect(asDefer(d).ruleId).toBe('cn.freq.email.day');
  });

  it('uses the recipient local day, not the UTC day', () => {
    // New York: now 10:00 EST on 03-07 (15:00Z). 00:10 and 09:00 EST on 03-07 are today.
    const history = [sent('2026-03-07T05:10:00Z'), sent('2026-03-07T14:00:00Z')];
    expect(
      evaluateGate(mk({ now: '2026-03-07T15:00:00Z', timeZone: NY, history }), cnProfile()).outcome,
    ).toBe('defer');
    const yesterday = [sent('2026-03-07T04:30:00Z'), sent('2026-03-07T04:50:00Z')];
    expect(
      evaluateGate(mk({ now: '2026-03-07T15:00:00Z', timeZone: NY, history: yesterday }), cnProfile())
        .outcome,
    ).toBe('allow');
  });

  it('7-day rolling: 7th SMS waits until the oldest counted send leaves the window', () => {
    // One SMS a day at 10:00 Beijing on 11-18..11-23; now 11-24 12:00 with none today.
    const history = [18, 19, 20, 21, 22, 23].map((d) =>
      sent(new Date(Date.UTC(2026, 10, d, 2)).toISOString()),
    );
    const d = asDefer(evaluateGate(mk({ now: '2026-11-24T04:00:00Z', history }), cnProfile()));
    expect(d.ruleId).toBe('cn.freq.sms.7d');
    expect(d.until.toISOString()).toBe('2026-11-25T02:00:00.000Z'); // 11-18 10:00 + 7 d
  });

  it('7-day rolling: a send exactly 7 days old no longer counts', () => {
    const history = [18, 19, 20, 21, 22, 23].map((d) =>
      sent(new Date(Date.UTC(2026, 10, d, 2)).toISOString()),
    );
    expect(evaluateGate(mk({ now: '2026-11-25T02:00:00Z', history }), cnProfile()).outcome).toBe('allow');
    expect(evaluateGate(mk({ now: '2026-11-25T01:59:59Z', history }), cnProfile()).outcome).toBe('defer');
  });

  it('7-day rolling: with more sends than the cap, waits for enough of them to leave', () => {
    // 7 sends (e.g. reserved ones) with limit 6: the 2nd oldest must leave.
    const history = [18, 19, 20, 21, 22, 23].map((d) =>
      sent(new Date(Date.UTC(2026, 10, d, 2)).toISOString()),
    );
    history.push(sent('2026-11-18T03:00:00Z'));
    const d = asDefer(evaluateGate(mk({ now: '2026-11-24T04:00:00Z', history }), cnProfile()));
    expect(d.until.toISOString()).toBe('2026-11-25T03:00:00.000Z');
  });

  it('7-day rolling then window: room at 23:00 local moves to 08:00 next day', () => {
    // Oldest send at 23:00 Beijing 11-17 (allowed only if it was sent then; it is history) leaves at 23:00 on 11-24.
    const history = [
      '2026-11-17T15:00:00Z',
      ...[19, 20, 21, 22, 23].map((d) => new Date(Date.UTC(2026, 10, d, 2)).toISOString()),
    ].map((s) => sent(s));
    const d = asDefer(evaluateGate(mk({ now: '2026-11-24T04:00:00Z', history }), cnProfile()));
    expect(d.until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(d.ruleId).toBe('cn.freq.sms.7d');
    expect(d.ruleIds).toEqual(['cn.freq.sms.7d', 'cn.contact-window']);
    expect((d.inputs.steps as unknown[]).length).toBe(2);
  });

  it.each(BOTH)('%s: letters are capped at 1 per 7 days, without a window', (name) => {
    const history = [sent('2026-11-21T03:17:00Z', { channel: 'letter', recipientAddress: 'postal:abc' })];
    const d = asDefer(
      evaluateGate(mk({ channel: 'letter', address: 'postal:abc', history }), profiles[name]()),
    );
    expect(d.ruleId).toBe(`${name}.freq.letter.7d`);
    expect(d.until.toISOString()).toBe('2026-11-28T03:17:00.000Z');
  });

  it('action suppress: the 3rd SMS of the day is suppressed', () => {
    const p = cnProfile({ caps: { sms: { action: 'suppress' } } });
    const d = asSuppress(evaluateGate(mk({ history: [sent(today(8)), sent(today(9))] }), p));
    expect(d.ruleId).toBe('cn.freq.sms.day');
    expect(d.inputs).toMatchObject({ count: 2, limit: 2, action: 'suppress', localDate: '2026-11-24' });
  });

  it('action suppress: judged at the window-adjusted instant, so a full day before 22:00 still defers to tomorrow', () => {
    const p = cnProfile({ caps: { sms: { action: 'suppress' } } });
    const d = evaluateGate(mk({ now: '2026-11-24T14:30:00Z', history: [sent(today(8)), sent(today(9))] }), p);
    expect(asDefer(d).until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
  });

  it('a cap of 0 suppresses even with action defer', () => {
    const d = asSuppress(evaluateGate(mk(), cnProfile({ caps: { sms: { perDay: 0 } } })));
    expect(d.ruleId).toBe('cn.freq.sms.day');
  });

  it('a disabled cap (null) is not evaluated', () => {
    const p = cnProfile({ caps: { sms: { perDay: null } } });
    const d = evaluateGate(mk({ history: [sent(today(8)), sent(today(9))] }), p);
    expect(d.outcome).toBe('allow');
    if (d.outcome === 'allow') expect(d.ruleIds).not.toContain('cn.freq.sms.day');
  });
});

describe('stage gap', () => {
  it.each(BOTH)('%s: a new stage within 24 h of the previous stage notice is deferred', (name) => {
    const history = [sent('2026-11-24T00:30:00Z', { stage: 'early', channel: 'email' })];
    const d = asDefer(evaluateGate(mk({ stage: 'mid', history }), profiles[name]()));
    expect(d.ruleId).toBe(`${name}.stage-gap`);
    expect(d.until.toISOString()).toBe('2026-11-25T00:30:00.000Z');
    const rules = (d.inputs.steps as { rules: Record<string, unknown>[] }[])[0].rules;
    expect(rules[0]).toMatchObject({ previousStage: 'early', hours: 24 });
  });

  it('same-stage notices (fan-out, escalation) are not held back by default', () => {
    const history = [sent('2026-11-24T00:30:00Z', { stage: 'mid', channel: 'email' })];
    expect(evaluateGate(mk({ stage: 'mid', history }), cnProfile()).outcome).toBe('allow');
  });

  it('scope any-stage also spaces notices of the same stage', () => {
    const history = [sent('2026-11-24T00:30:00Z', { stage: 'mid', channel: 'email' })];
    const p = cnProfile({ stageGap: { scope: 'any-stage', hours: 6 } });
    expect(asDefer(evaluateGate(mk({ stage: 'mid', history }), p)).until.toISOString()).toBe(
      '2026-11-24T06:30:00.000Z',
    );
  });

  it('ignores other cases, notices without a stage, and old notices', () => {
    const history = [
      sent('2026-11-24T00:30:00Z', { stage: 'early', caseId: 'case-2' }),
      sent('2026-11-24T00:40:00Z', { channel: 'email' }),
      sent('2026-11-22T00:30:00Z', { stage: 'early', channel: 'email' }),
    ];
    expect(evaluateGate(mk({ stage: 'mid', history }), cnProfile()).outcome).toBe('allow');
  });

  it('can be disabled', () => {
    const history = [sent('2026-11-24T00:30:00Z', { stage: 'early', channel: 'email' })];
    const d = evaluateGate(mk({ stage: 'mid', history }), cnProfile({ stageGap: null }));
    expect(d.outcome).toBe('allow');
  });
});

describe('combined defers', () => {
  const today = (h: number) => new Date(Date.UTC(2026, 10, 24, h - 8)).toISOString();

  it('cn: 22:30 with the daily cap exhausted -> next day 08:00, window is the primary rule', () => {
    const d = asDefer(
      evaluateGate(
        mk({ now: '2026-11-24T14:30:00Z', history: [sent(today(8)), sent(today(9))] }),
        cnProfile(),
      ),
    );
    expect(d.until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(d.ruleId).toBe('cn.contact-window');
    expect(d.ruleIds).toEqual(['cn.contact-window', 'cn.freq.sms.day']);
  });

  it('daily cap and 7-day cap both full: the later of the two wins', () => {
    const history = [
      sent('2026-11-19T01:00:00Z'), // 09:00 on 11-19, leaves 11-26 09:00
      sent('2026-11-19T01:30:00Z'),
      sent('2026-11-20T02:00:00Z'),
      sent('2026-11-21T02:00:00Z'),
      sent(today(8)),
      sent(today(9)),
    ];
    const d = asDefer(evaluateGate(mk({ history }), cnProfile()));
    expect(d.until.toISOString()).toBe('2026-11-26T01:00:00.000Z');
    expect(d.ruleId).toBe('cn.freq.sms.7d');
    expect(d.ruleIds).toEqual(['cn.freq.sms.day', 'cn.freq.sms.7d']);
  });

  it('7-day room this afternoon, daily cap full: next local day, then the window', () => {
    const history = [
      sent('2026-11-17T07:00:00Z'), // 15:00 on 11-17, leaves 11-24 15:00
      sent('2026-11-19T02:00:00Z'),
      sent('2026-11-20T02:00:00Z'),
      sent('2026-11-21T02:00:00Z'),
      sent(today(8)),
      sent(today(9)),
    ];
    const d = asDefer(evaluateGate(mk({ history }), cnProfile()));
    expect(d.until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(d.ruleId).toBe('cn.freq.sms.day');
    expect(d.ruleIds).toEqual(['cn.freq.sms.day', 'cn.freq.sms.7d', 'cn.contact-window']);
    const steps = d.inputs.steps as { from: string; to: string }[];
    expect(steps.map((x) => x.to)).toEqual(['2026-11-24T16:00:00.000Z', '2026-11-25T00:00:00.000Z']);
  });

  it('stage gap ending at 21:00 local: open under cn, closed under us-regf', () => {
    // previous `early` notice at 21:00 Beijing 11-23 (13:00Z); now 10:00 on 11-24.
    const history = [sent('2026-11-23T13:00:00Z', { stage: 'early', channel: 'email' })];
    const cn = asDefer(evaluateGate(mk({ stage: 'mid', history }), cnProfile()));
    expect(cn.until.toISOString()).toBe('2026-11-24T13:00:00.000Z');
    expect(cn.ruleIds).toEqual(['cn.stage-gap']);
    const us = asDefer(evaluateGate(mk({ stage: 'mid', history }), usRegfProfile()));
    expect(us.until.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(us.ruleId).toBe('us-regf.stage-gap');
    expect(us.ruleIds).toEqual(['us-regf.stage-gap', 'us-regf.contact-window']);
  });

  it('the deferred instant satisfies every rule when evaluated again', () => {
    const history = [
      sent('2026-11-19T01:00:00Z'),
      sent('2026-11-19T01:30:00Z'),
      sent('2026-11-20T02:00:00Z'),
      sent('2026-11-21T02:00:00Z'),
      sent(today(8)),
      sent(today(9), { stage: 'early' }),
    ];
    for (const p of [cnProfile(), usRegfProfile()]) {
      const first = asDefer(evaluateGate(mk({ stage: 'mid', history, now: '2026-11-24T13:30:00Z' }), p));
      const again = evaluateGate(
        mk({ stage: 'mid', history, now: first.until.toISOString(), phase: 'send' }),
        p,
      );
      expect(again.outcome).toBe('allow');
      const before = evaluateGate(
        mk({ stage: 'mid', history, now: new Date(first.until.getTime() - 1000).toISOString() }),
        p,
      );
      expect(before.outcome).toBe('defer');
    }
  });
});

describe('case holds', () => {
  const kinds: HoldKind[] = [
    'paid',
    'repayment_plan',
    'dispute',
    'complaint',
    'deceased',
    'bankruptcy',
    'legal_hold',
  ];
  it.each(BOTH.flatMap((p) => kinds.map((k) => [p, k] as const)))('%s: hold %s suppresses', (name, kind) => {
    const d = asSuppress(evaluateGate(mk({ holds: [{ kind }] }), profiles[name]()));
    expect(d.ruleId).toBe(`hold.${kind}`);
    expect(d.inputs.hold).toMatchObject({ kind });
  });

  it.each<[string, CaseHold, GateDecision['outcome']]>([
    ['plan in force', { kind: 'repayment_plan', until: new Date('2027-01-01T00:00:00Z') }, 'suppress'],
    ['plan ended', { kind: 'repayment_plan', until: new Date('2026-11-24T01:59:59Z') }, 'allow'],
    ['plan ends exactly now', { kind: 'repayment_plan', until: new Date('2026-11-24T02:00:00Z') }, 'allow'],
    [
      'plan breached',
      { kind: 'repayment_plan', until: new Date('2027-01-01T00:00:00Z'), breached: true },
      'allow',
    ],
    ['breached flag does not release a dispute', { kind: 'dispute', breached: true }, 'suppress'],
    ['dispute review ended', { kind: 'dispute', until: new Date('2026-11-01T00:00:00Z') }, 'allow'],
  ])('%s -> %s', (_name, hold, outcome) => {
    expect(evaluateGate(mk({ holds: [hold] }), cnProfile()).outcome).toBe(outcome);
  });

  it('a hold wins over a closed window (suppress before defer)', () => {
    const d = asSuppress(
      evaluateGate(mk({ now: '2026-11-24T14:30:00Z', holds: [{ kind: 'complaint' }] }), cnProfile()),
    );
    expect(d.ruleId).toBe('hold.complaint');
    expect(d.inputs).toMatchObject({ caseId: 'case-1', nowLocal: '2026-11-24T22:30:00.000+08:00' });
  });

  it('holds can be narrowed by config', () => {
    expect(evaluateGate(mk({ holds: [{ kind: 'complaint' }] }), cnProfile({ holds: ['paid'] })).outcome).toBe(
      'allow',
    );
  });
});

describe('opt-outs', () => {
  it.each(BOTH)('%s: SMS opt-out for this number suppresses with optout.sms', (name) => {
    const d = asSuppress(
      evaluateGate(mk({ optOuts: [{ channel: 'sms', address: ` ${PHONE} ` }] }), profiles[name]()),
    );
    expect(d.ruleId).toBe('optout.sms');
    expect(d.inputs.optOut).toEqual({ channel: 'sms', address: PHONE });
  });

  it.each(BOTH)('%s: email opt-out suppresses email with optout.email', (name) => {
    const d = asSuppress(
      evaluateGate(
        mk({ channel: 'email', optOuts: [{ channel: 'email', address: 'DEBTOR@example.com' }] }),
        profiles[name](),
      ),
    );
    expect(d.ruleId).toBe('optout.email');
  });

  it('opt-outs are per channel and per address', () => {
    const optOuts: OptOut[] = [
      { channel: 'email', address: PHONE },
      { channel: 'sms', address: '+8613900000000' },
    ];
    expect(evaluateGate(mk({ optOuts }), usRegfProfile()).outcome).toBe('allow');
  });

  it('letters have no opt-out rule by default', () => {
    const d = evaluateGate(
      mk({ channel: 'letter', address: 'postal:1', optOuts: [{ channel: 'letter', address: 'postal:1' }] }),
      cnProfile(),
    );
    expect(d.outcome).toBe('allow');
  });

  it('an opt-out wins over a closed window', () => {
    const d = evaluateGate(
      mk({ now: '2026-11-24T14:30:00Z', optOuts: [{ channel: 'sms', address: PHONE }] }),
      usRegfProfile(),
    );
    expect(asSuppress(d).ruleId).toBe('optout.sms');
  });
});

describe('audience and contacts', () => {
  const contact = (c: Partial<ContactState> = {}): ContactState => ({
    refused: false,
    previousContacts: 0,
    askedToBeContacted: false,
    ...c,
  });

  it.each<[string, ProfileName, Over, string | null]>([
    [
      'cn: contact + debtor template',
      'cn',
      { role: 'contact', audience: 'debtor' },
      'audience.third-party-template',
    ],
    [
      'us-regf: contact + debtor template',
      'us-regf',
      { role: 'contact', audience: 'debtor' },
      'audience.third-party-template',
    ],
    [
      'cn: contact + third_party template',
      'cn',
      { role: 'contact', audience: 'third_party', contact: contact() },
      null,
    ],
    [
      'us-regf: first contact',
      'us-regf',
      { role: 'contact', audience: 'third_party', contact: contact() },
      null,
    ],
    [
      'cn: refused contact',
      'cn',
      { role: 'contact', audience: 'third_party', contact: contact({ refused: true }) },
      'audience.contact-refused',
    ],
    [
      'us-regf: refused contact who had asked',
      'us-regf',
      {
        role: 'contact',
        audience: 'third_party',
        contact: contact({ refused: true, askedToBeContacted: true }),
      },
      'audience.contact-refused',
    ],
    [
      'cn: contact reached 3 times before',
      'cn',
      { role: 'contact', audience: 'third_party', contact: contact({ previousContacts: 3 }) },
      null,
    ],
    [
      'us-regf: contact reached once before',
      'us-regf',
      { role: 'contact', audience: 'third_party', contact: contact({ previousContacts: 1 }) },
      'us-regf.contact-limit',
    ],
    [
      'us-regf: contact reached before but asked',
      'us-regf',
      {
        role: 'contact',
        audience: 'third_party',
        contact: contact({ previousContacts: 1, askedToBeContacted: true }),
      },
      null,
    ],
    [
      'us-regf: contact reached per history',
      'us-regf',
      { role: 'contact', audience: 'third_party', history: [sent('2026-10-01T02:00:00Z')] },
      'us-regf.contact-limit',
    ],
    [
      'us-regf: history on another case',
      'us-regf',
      {
        role: 'contact',
        audience: 'third_party',
        history: [sent('2026-10-01T02:00:00Z', { caseId: 'c-9' })],
      },
      null,
    ],
    [
      'debtor with debtor template',
      'cn',
      { role: 'debtor', contact: contact({ refused: true, previousContacts: 9 }) },
      null,
    ],
    [
      'guarantor is not a third party',
      'us-regf',
      { role: 'guarantor', contact: contact({ previousContacts: 9 }) },
      null,
    ],
  ])('%s', (_name, profile, over, ruleId) => {
    const d = evaluateGate(mk(over), profiles[profile]());
    if (ruleId === null) expect(d.outcome).toBe('allow');
    else expect(asSuppress(d).ruleId).toBe(ruleId);
  });

  it('cn can enable a contact limit by config', () => {
    const p = cnProfile({ contactLimit: 2 });
    const over: Over = {
      role: 'contact',
      audience: 'third_party',
      contact: contact({ previousContacts: 2 }),
    };
    const d = asSuppress(evaluateGate(mk(over), p));
    expect(d.ruleId).toBe('cn.contact-limit');
    expect(d.inputs).toMatchObject({ previousContacts: 2, maxContacts: 2 });
  });
});

describe('decision shape', () => {
  it('allow lists every evaluated rule in profile order and JSON-safe inputs', () => {
    const d = evaluateGate(mk({ phase: 'send' }), cnProfile());
    expect(d.outcome).toBe('allow');
    if (d.outcome !== 'allow') return;
    expect(d.ruleIds[0]).toBe('hold.paid');
    expect(d.ruleIds).toContain('optout.sms');
    expect(d.ruleIds).toContain('cn.contact-window');
    expect(d.ruleIds).toContain('cn.freq.sms.7d');
    expect(d.inputs).toMatchObject({ profile: 'cn', phase: 'send', notificationId: 'n-1', channel: 'sms' });
    expect(JSON.parse(JSON.stringify(d.inputs))).toEqual(d.inputs);
  });

  it('defer and suppress inputs are JSON-safe too', () => {
    const defer = evaluateGate(mk({ now: '2026-11-24T14:30:00Z' }), usRegfProfile());
    const suppress = evaluateGate(
      mk({ holds: [{ kind: 'paid', until: new Date('2027-01-01Z') }] }),
      usRegfProfile(),
    );
    for (const d of [defer, suppress]) expect(JSON.parse(JSON.stringify(d.inputs))).toEqual(d.inputs);
  });

  it('is deterministic and does not mutate its input', () => {
    const history = [sent('2026-11-24T01:00:00Z'), sent('2026-11-24T00:30:00Z')];
    const input = mk({ history });
    const snapshot = JSON.stringify(input);
    const a = evaluateGate(input, cnProfile());
    const b = evaluateGate(input, cnProfile());
    expect(a).toEqual(b);
    expect(JSON.stringify(input)).toBe(snapshot);
  });

  it('rejects an invalid clock and an unknown zone', () => {
    expect(() => evaluateGate({ ...mk(), now: new Date('nope') }, cnProfile())).toThrow(RangeError);
    expect(() => evaluateGate(mk({ timeZone: 'Asia/Atlantis' }), cnProfile())).toThrow(/Unknown time zone/);
  });
});
