/**
 * The compliance profiles (`cn` default, `us-regf`): typed parameters with defaults, and a
 * builder that turns them into the rule list the gate evaluates. Rule ids are stable and
 * independent of parameter values.
 */
import { CHANNELS, type Channel } from '#libs/core';
import { parseWindow, resolveZone } from './time.js';
import {
  HOLD_KINDS,
  PROFILE_NAMES,
  type CapAction,
  type ComplianceProfile,
  type ComplianceRule,
  type HoldKind,
  type ProfileName,
  type StageGapScope,
} from './types.js';

export const DEFAULT_TIME_ZONE = 'Asia/Shanghai';
export const DEFAULT_PROFILE: ProfileName = 'cn';

export interface ChannelCapParams {
  /** Max sends per recipient address per local calendar day; null = no daily cap. */
  perDay: number | null;
  /** Max sends per recipient address in any rolling 7 x 24 h; null = no 7-day cap. */
  per7Days: number | null;
  /** What happens when a cap is reached: wait for room (defer) or drop the notice (suppress). */
  action: CapAction;
}

export interface ProfileParams {
  defaultTimeZone: string;
  contactWindow: { start: string; end: string; channels: Channel[] };
  caps: Record<Channel, ChannelCapParams>;
  holds: HoldKind[];
  optOutChannels: Channel[];
  /** Minimum gap between stage notices on a case; null disables the rule. */
  stageGap: { hours: number; scope: StageGapScope } | null;
  /** Max notices to one third-party contact per case unless they asked; null = no limit. */
  contactLimit: number | null;
}

/** Overrides as the service reads them from config: every field optional, merged per section. */
export interface ProfileOverrides {
  defaultTimeZone?: string;
  contactWindow?: Partial<ProfileParams['contactWindow']>;
  caps?: Partial<Record<Channel, Partial<ChannelCapParams>>>;
  holds?: HoldKind[];
  optOutChannels?: Channel[];
  stageGap?: Partial<NonNullable<ProfileParams['stageGap']>> | null;
  contactLimit?: number | null;
}

const DEFAULT_CAPS: Record<Channel, ChannelCapParams> = {
  sms: { perDay: 2, per7Days: 6, action: 'defer' },
  email: { perDay: 1, per7Days: null, action: 'defer' },
  letter: { perDay: null, per7Days: 1, action: 'defer' },
  // Reg F's frequency presumption: no more than 7 calls within 7 consecutive days.
  voice: { perDay: null, per7Days: 7, action: 'defer' },
};

export const DEFAULT_PARAMS: Readonly<Record<ProfileName, ProfileParams>> = {
  cn: {
    defaultTimeZone: DEFAULT_TIME_ZONE,
    contactWindow: { start: '08:00', end: '22:00', channels: ['sms', 'email', 'voice'] },
    caps: DEFAULT_CAPS,
    holds: [...HOLD_KINDS],
    optOutChannels: ['sms', 'email', 'voice'],
    stageGap: { hours: 24, scope: 'stage-change' },
    contactLimit: null,
  },
  'us-regf': {
    defaultTimeZone: DEFAULT_TIME_ZONE,
    contactWindow: { start: '08:00', end: '21:00', channels: ['sms', 'email', 'voice'] },
    caps: DEFAULT_CAPS,
    holds: [...HOLD_KINDS],
    optOutChannels: ['sms', 'email', 'voice'],
    stageGap: { hours: 24, scope: 'stage-change' },
    contactLimit: 1,
  },
};

const SRC = {
  design: 'DESIGN.md section 2 (bank policy default)',
  cnWindow:
    'China Banking Association credit-card collection guideline (中国银行业协会信用卡催收工作指引): no collection contact 22:00-08:00',
  regfTime: '12 CFR 1006.6(b)(1)(i) (Reg F): before 8:00 a.m. or after 9:00 p.m. local time is inconvenient',
  regfOptOut:
    '12 CFR 1006.6(e) and 1006.14(h) (Reg F): opt-out in every electronic communication, honoured per address and medium',
  regfThirdParty:
    '12 CFR 1006.10(c) (Reg F): a third party may be contacted once unless they ask, for location information only',
  thirdParty:
    'DESIGN.md section 2: contacts only get pass-a-message texts; a contact who refused is never contacted again',
  regfCalls: '12 CFR 1006.14(b)(2) (Reg F) frequency presumption shape; caps per DESIGN.md section 2',
  holds: {
    paid: 'DESIGN.md section 2: paid in full stops collection on the case',
    repayment_plan:
      'DESIGN.md section 2 / 商业银行信用卡业务监督管理办法 art. 70: a signed instalment agreement (个性化分期) stops collection until breached',
    dispute:
      'DESIGN.md section 2; Reg F 12 CFR 1006.38(d)(2) / FDCPA 809(b): collection pauses while a dispute is under review',
    complaint: 'DESIGN.md section 2: a complaint under review stops collection on the case',
    deceased: 'DESIGN.md section 2: death of the cardholder stops notices to them',
    bankruptcy: 'DESIGN.md section 2; 11 U.S.C. 362 automatic stay',
    legal_hold: 'DESIGN.md section 2: legal hold on the case',
  } satisfies Record<HoldKind, string>,
} as const;

function mergeParams(base: ProfileParams, o: ProfileOverrides = {}): ProfileParams {
  const caps = { ...base.caps };
  for (const ch of CHANNELS) {
    const co = o.caps?.[ch];
    if (co) caps[ch] = { ...caps[ch], ...co };
  }
  let stageGap = base.stageGap;
  if (o.stageGap === null) stageGap = null;
  else if (o.stageGap !== undefined) {
    stageGap = { ...(base.stageGap ?? { hours: 24, scope: 'stage-change' }), ...o.stageGap };
  }
  return {
    defaultTimeZone: o.defaultTimeZone ?? base.defaultTimeZone,
    contactWindow: { ...base.contactWindow, ...o.contactWindow },
    caps,
    holds: o.holds ?? base.holds,
    optOutChannels: o.optOutChannels ?? base.optOutChannels,
    stageGap,
    contactLimit: o.contactLimit === undefined ? base.contactLimit : o.contactLimit,
  };
}

function checkCount(value: number | null, what: string): void {
  if (value === null) return;
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`${what} must be a non-negative integer or null`);
}

function validate(p: ProfileParams): void {
  resolveZone(p.defaultTimeZone, 'compliance.defaultTimeZone');
  parseWindow(p.contactWindow);
  for (const ch of p.contactWindow.channels.concat(p.optOutChannels)) {
    if (!CHANNELS.includes(ch)) throw new RangeError(`Unknown channel "${ch}"`);
  }
  for (const ch of CHANNELS) {
    const c = p.caps[ch];
    checkCount(c.perDay, `caps.${ch}.perDay`);
    checkCount(c.per7Days, `caps.${ch}.per7Days`);
    if (c.action !== 'defer' && c.action !== 'suppress')
      throw new RangeError(`caps.${ch}.action must be defer or suppress`);
  }
  for (const h of p.holds) if (!HOLD_KINDS.includes(h)) throw new RangeError(`Unknown hold kind "${h}"`);
  if (p.stageGap) {
    if (!(Number.isFinite(p.stageGap.hours) && p.stageGap.hours >= 0))
      throw new RangeError('stageGap.hours must be >= 0');
    if (p.stageGap.scope !== 'stage-change' && p.stageGap.scope !== 'any-stage') {
      throw new RangeError('stageGap.scope must be stage-change or any-stage');
    }
  }
  checkCount(p.contactLimit, 'contactLimit');
}

/** Merges overrides over a profile's defaults and validates them (RangeError / ValidationError on bad config). */
export function resolveProfileParams(name: ProfileName, overrides?: ProfileOverrides): ProfileParams {
  if (!PROFILE_NAMES.includes(name)) throw new RangeError(`Unknown compliance profile "${String(name)}"`);
  const params = mergeParams(DEFAULT_PARAMS[name], overrides);
  validate(params);
  return params;
}

/** Builds the rule list of a profile from its (already resolved) parameters. */
export function profileFromParams(name: ProfileName, p: ProfileParams): ComplianceProfile {
  const rules: ComplianceRule[] = [];
  for (const kind of HOLD_KINDS) {
    if (p.holds.includes(kind))
      rules.push({ id: `hold.${kind}`, type: 'hold', holdKind: kind, source: SRC.holds[kind] });
  }
  for (const ch of CHANNELS) {
    if (p.optOutChannels.includes(ch)) {
      rules.push({
        id: `optout.${ch}`,
        type: 'opt-out',
        channel: ch,
        source:
          name === 'us-regf' ? SRC.regfOptOut : 'Recipient opt-out per channel and address (bank policy)',
      });
    }
  }
  rules.push({ id: 'audience.third-party-template', type: 'audience-template', source: SRC.thirdParty });
  rules.push({ id: 'audience.contact-refused', type: 'contact-refused', source: SRC.thirdParty });
  if (p.contactLimit !== null) {
    rules.push({
      id: `${name}.contact-limit`,
      type: 'contact-limit',
      maxContacts: p.contactLimit,
      source: name === 'us-regf' ? SRC.regfThirdParty : SRC.design,
    });
  }
  rules.push({
    id: `${name}.contact-window`,
    type: 'contact-window',
    window: { start: p.contactWindow.start, end: p.contactWindow.end },
    channels: [...p.contactWindow.channels],
    source: name === 'us-regf' ? SRC.regfTime : SRC.cnWindow,
  });
  for (const ch of CHANNELS) {
    const c = p.caps[ch];
    if (c.perDay !== null) {
      rules.push({
        id: `${name}.freq.${ch}.day`,
        type: 'frequency-cap',
        channel: ch,
        period: { kind: 'local-day' },
        limit: c.perDay,
        action: c.action,
        source: SRC.design,
      });
    }
    if (c.per7Days !== null) {
      rules.push({
        id: `${name}.freq.${ch}.7d`,
        type: 'frequency-cap',
        channel: ch,
        period: { kind: 'rolling', days: 7 },
        limit: c.per7Days,
        action: c.action,
        source: name === 'us-regf' ? SRC.regfCalls : SRC.design,
      });
    }
  }
  if (p.stageGap) {
    rules.push({
      id: `${name}.stage-gap`,
      type: 'stage-gap',
      hours: p.stageGap.hours,
      scope: p.stageGap.scope,
      source: SRC.design,
    });
  }
  return { name, defaultTimeZone: p.defaultTimeZone, rules };
}

/** A ready-to-use profile: defaults of `name` with `overrides` applied. */
export function complianceProfile(
  name: ProfileName = DEFAULT_PROFILE,
  overrides?: ProfileOverrides,
): ComplianceProfile {
  return profileFromParams(name, resolveProfileParams(name, overrides));
}

export function cnProfile(overrides?: ProfileOverrides): ComplianceProfile {
  return complianceProfile('cn', overrides);
}

export function usRegfProfile(overrides?: ProfileOverrides): ComplianceProfile {
  return complianceProfile('us-regf', overrides);
}
