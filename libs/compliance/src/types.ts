/** Types of the compliance gate. Plain data only: no Nest, no I/O. */
import type { Channel, RecipientRole, Stage } from '#libs/core';
import type { ContactWindow } from './time.js';

export type ProfileName = 'cn' | 'us-regf';
export const PROFILE_NAMES: readonly ProfileName[] = ['cn', 'us-regf'];

export type GatePhase = 'accept' | 'send';
export type Audience = 'debtor' | 'third_party';

export const HOLD_KINDS = [
  'paid',
  'repayment_plan',
  'dispute',
  'complaint',
  'deceased',
  'bankruptcy',
  'legal_hold',
] as const;
export type HoldKind = (typeof HOLD_KINDS)[number];

/** A case hold. Active while `now < until` (or forever without `until`); a breached repayment plan is released. */
export interface CaseHold {
  kind: HoldKind;
  until?: Date;
  /** Only meaningful for `repayment_plan`: the plan was breached, so collection resumes. */
  breached?: boolean;
}

/** A prior send (or reserved send) the gate counts against caps, the stage gap and contact limits. */
export interface SendRecord {
  sentAt: Date;
  channel: Channel;
  /** Normalised address key (E.164 phone, lower-case email, postal key). */
  recipientAddress: string;
  caseId: string;
  stage?: Stage;
  /** When set and equal to the notification being evaluated, the record is ignored (re-evaluation at send time). */
  notificationId?: string;
}

export interface OptOut {
  channel: Channel;
  address: string;
}

/** State of a third-party contact (role `contact`). */
export interface ContactState {
  refused: boolean;
  previousContacts: number;
  askedToBeContacted: boolean;
}

export interface GateInput {
  now: Date;
  phase: GatePhase;
  notification: {
    id: string;
    caseId: string;
    channel: Channel;
    /** Audience the template was written for. */
    audience: Audience;
    stage?: Stage;
  };
  recipient: {
    role: RecipientRole;
    /** IANA zone; absent or empty means the profile's default zone (Asia/Shanghai). */
    timeZone?: string;
    /** Normalised phone / email / postal key; compared trimmed and case-insensitively. */
    address: string;
  };
  history: readonly SendRecord[];
  holds: readonly CaseHold[];
  optOuts: readonly OptOut[];
  contact?: ContactState;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type DecisionInputs = Record<string, JsonValue>;

export interface AllowDecision {
  outcome: 'allow';
  profile: ProfileName;
  /** Every rule that was evaluated (in profile order). */
  ruleIds: string[];
  inputs: DecisionInputs;
}

export interface DeferDecision {
  outcome: 'defer';
  profile: ProfileName;
  /** Earliest instant at which every deferring rule is satisfied together. */
  until: Date;
  /** The primary rule: the one that demanded the latest instant when evaluated at `now`. */
  ruleId: string;
  /** Every rule that was unsatisfied at some candidate instant, in the order they bit. */
  ruleIds: string[];
  reason: string;
  inputs: DecisionInputs;
}

export interface SuppressDecision {
  outcome: 'suppress';
  profile: ProfileName;
  ruleId: string;
  reason: string;
  inputs: DecisionInputs;
}

export type GateDecision = AllowDecision | DeferDecision | SuppressDecision;

export type CapAction = 'defer' | 'suppress';

/** `local-day`: the recipient's local calendar day. `rolling`: the `days` x 24h before the send instant. */
export type CapPeriod = { kind: 'local-day' } | { kind: 'rolling'; days: number };

export type StageGapScope = 'stage-change' | 'any-stage';

interface RuleBase {
  /** Stable id recorded with every decision. */
  id: string;
  /** Where the rule comes from (regulation, guideline, bank policy). */
  source: string;
}

export interface HoldRule extends RuleBase {
  type: 'hold';
  holdKind: HoldKind;
}
export interface OptOutRule extends RuleBase {
  type: 'opt-out';
  channel: Channel;
}
/** A `contact` recipient only receives templates written for `third_party`. */
export interface AudienceTemplateRule extends RuleBase {
  type: 'audience-template';
}
/** A contact who refused is never contacted again. */
export interface ContactRefusedRule extends RuleBase {
  type: 'contact-refused';
}
/** A contact is reached at most `maxContacts` times on a case unless they asked to be contacted. */
export interface ContactLimitRule extends RuleBase {
  type: 'contact-limit';
  maxContacts: number;
}
export interface ContactWindowRule extends RuleBase {
  type: 'contact-window';
  window: ContactWindow;
  channels: Channel[];
}
export interface FrequencyCapRule extends RuleBase {
  type: 'frequency-cap';
  channel: Channel;
  period: CapPeriod;
  limit: number;
  action: CapAction;
}
export interface StageGapRule extends RuleBase {
  type: 'stage-gap';
  hours: number;
  scope: StageGapScope;
}

export type SuppressRule =
  HoldRule | OptOutRule | AudienceTemplateRule | ContactRefusedRule | ContactLimitRule;
export type TimeRule = ContactWindowRule | FrequencyCapRule | StageGapRule;
export type ComplianceRule = SuppressRule | TimeRule;

export interface ComplianceProfile {
  name: ProfileName;
  /** Zone used when the recipient has none. */
  defaultTimeZone: string;
  /** Suppress rules are evaluated first (in order), then the time rules (defer). */
  rules: readonly ComplianceRule[];
}
