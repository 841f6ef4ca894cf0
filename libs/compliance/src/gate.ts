/**
 * The compliance gate: one pure function from (notice, recipient, history, holds, opt-outs,
 * now) to allow / defer / suppress, with the deciding rule id and the inputs that decided it.
 *
 * Order: suppress rules (holds, opt-outs, audience) first, in profile order; then the time
 * rules (contact window, frequency caps, stage gap) are solved together: starting at `now`,
 * every time rule names the earliest instant >= t at which it is satisfied; t moves to the
 * latest of those and the rules are evaluated again until no rule moves it (a fixpoint).
 * A cap whose action is `suppress` suppresses when it is still exceeded at that fixpoint.
 */
import type { IANAZone } from 'luxon';
import { countedSends, normaliseAddressKey } from './caps.js';
import { formatLocal, formatLocalDate, MS, nextAllowedInstant, resolveZone } from './time.js';
import type {
  AllowDecision,
  ComplianceProfile,
  ComplianceRule,
  ContactWindowRule,
  DecisionInputs,
  DeferDecision,
  FrequencyCapRule,
  GateDecision,
  GateInput,
  JsonValue,
  StageGapRule,
  SuppressDecision,
  SuppressRule,
  TimeRule,
} from './types.js';

interface Ctx {
  input: GateInput;
  profile: ComplianceProfile;
  zone: IANAZone;
  timeZone: string;
}

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | undefined): string | null => (d ? d.toISOString() : null);

function isSuppressRule(rule: ComplianceRule): rule is SuppressRule {
  return (
    rule.type === 'hold' ||
    rule.type === 'opt-out' ||
    rule.type === 'audience-template' ||
    rule.type === 'contact-refused' ||
    rule.type === 'contact-limit'
  );
}

type SuppressResult = { hit: false } | { hit: true; reason: string; inputs: DecisionInputs };

function evaluateSuppressRule(rule: SuppressRule, ctx: Ctx): SuppressResult {
  const { input } = ctx;
  const now = input.now.getTime();
  const role = input.recipient.role;
  switch (rule.type) {
    case 'hold': {
      const active = input.holds.find(
        (h) =>
          h.kind === rule.holdKind &&
          (h.until === undefined || now < h.until.getTime()) &&
          !(h.kind === 'repayment_plan' && h.breached === true),
      );
      if (!active) return { hit: false };
      const until = active.until ? ` until ${iso(active.until)}` : '';
      return {
        hit: true,
        reason: `case ${input.notification.caseId} is on hold (${rule.holdKind})${until}`,
        inputs: {
          hold: { kind: active.kind, until: isoOrNull(active.until), breached: active.breached ?? false },
        },
      };
    }
    case 'opt-out': {
      if (input.notification.channel !== rule.channel) return { hit: false };
      const key = normaliseAddressKey(input.recipient.address);
      const match = input.optOuts.find(
        (o) => o.channel === rule.channel && normaliseAddressKey(o.address) === key,
      );
      if (!match) return { hit: false };
      return {
        hit: true,
        reason: `recipient opted out of ${rule.channel} at this address`,
        inputs: { optOut: { channel: match.channel, address: key } },
      };
    }
    case 'audience-template': {
      if (role !== 'contact' || input.notification.audience === 'third_party') return { hit: false };
      return {
        hit: true,
        reason: `a third-party contact may only receive third_party templates, not ${input.notification.audience}`,
        inputs: { recipientRole: role, templateAudience: input.notification.audience },
      };
    }
    case 'contact-refused': {
      if (role !== 'contact' || input.contact?.refused !== true) return { hit: false };
      return { hit: true, reason: 'the contact refused further contact', inputs: { contactRefused: true } };
    }
    case 'contact-limit': {
      if (role !== 'contact' || input.contact?.askedToBeContacted === true) return { hit: false };
      const key = normaliseAddressKey(input.recipient.address);
      const fromHistory = input.history.filter(
        (h) =>
          h.caseId === input.notification.caseId &&
          normaliseAddressKey(h.recipientAddress) === key &&
          h.notificationId !== input.notification.id,
      ).length;
      const previous = Math.max(input.contact?.previousContacts ?? 0, fromHistory);
      if (previous < rule.maxContacts) return { hit: false };
      return {
        hit: true,
        reason: `the contact was already reached ${previous} time(s) (limit ${rule.maxContacts}) and did not ask to be contacted`,
        inputs: {
          previousContacts: input.contact?.previousContacts ?? 0,
          historyContacts: fromHistory,
          maxContacts: rule.maxContacts,
          askedToBeContacted: input.contact?.askedToBeContacted ?? false,
        },
      };
    }
  }
}

type TimeResult =
  | { kind: 'na' }
  | { kind: 'ok'; inputs: DecisionInputs }
  /** Satisfied again at `earliest` (> t). */
  | { kind: 'wait'; earliest: Date; reason: string; inputs: DecisionInputs }
  /** Violated at t and waiting is not an option (cap action suppress, or a cap of 0). */
  | { kind: 'block'; reason: string; inputs: DecisionInputs };

function evaluateWindow(rule: ContactWindowRule, t: Date, ctx: Ctx): TimeResult {
  if (!rule.channels.includes(ctx.input.notification.channel)) return { kind: 'na' };
  const next = nextAllowedInstant(t, ctx.timeZone, rule.window);
  const inputs: DecisionInputs = {
    window: `${rule.window.start}-${rule.window.end}`,
    timeZone: ctx.timeZone,
    at: iso(t),
    localTime: formatLocal(t, ctx.zone),
  };
  if (next.getTime() === t.getTime()) return { kind: 'ok', inputs };
  return {
    kind: 'wait',
    earliest: next,
    reason: `local time ${formatLocal(t, ctx.zone)} is outside the contact window ${rule.window.start}-${rule.window.end} (${ctx.timeZone})`,
    inputs: { ...inputs, nextAllowed: iso(next), nextAllowedLocal: formatLocal(next, ctx.zone) },
  };
}

function evaluateCap(rule: FrequencyCapRule, t: Date, ctx: Ctx): TimeResult {
  const { input } = ctx;
  if (input.notification.channel !== rule.channel) return { kind: 'na' };
  const { span, records } = countedSends(
    rule,
    t,
    ctx.zone,
    input.recipient.address,
    input.history,
    input.notification.id,
  );
  const count = records.length;
  const period = rule.period.kind === 'local-day' ? 'local day' : `rolling ${rule.period.days} days`;
  const inputs: DecisionInputs = {
    channel: rule.channel,
    period: rule.period.kind === 'local-day' ? 'local-day' : `rolling-${rule.period.days}d`,
    at: iso(t),
    from: iso(span.from),
    to: iso(span.to),
    count,
    limit: rule.limit,
    action: rule.action,
    counted: records.map((r) => iso(r.sentAt)),
  };
  if (span.localDate) inputs.localDate = formatLocalDate(span.localDate);
  if (count < rule.limit) return { kind: 'ok', inputs };
  const reason = `${count} ${rule.channel} send(s) to this address in the ${period} (limit ${rule.limit})`;
  if (rule.action === 'suppress' || rule.limit === 0) return { kind: 'block', reason, inputs };
  const p = rule.period;
  // Daily cap: the next local day starts at the end of this one. Rolling cap: room appears
  // when enough of the oldest counted sends have left the window.
  const earliest =
    p.kind === 'local-day'
      ? span.to
      : new Date(records[count - rule.limit].sentAt.getTime() + p.days * MS.DAY);
  return { kind: 'wait', earliest, reason, inputs: { ...inputs, roomAt: iso(earliest) } };
}

function evaluateStageGap(rule: StageGapRule, t: Date, ctx: Ctx): TimeResult {
  const { notification, history } = ctx.input;
  const stage = notification.stage;
  if (stage === undefined) return { kind: 'na' };
  let latest: (typeof history)[number] | undefined;
  for (const h of history) {
    if (h.caseId !== notification.caseId || h.stage === undefined || h.notificationId === notification.id)
      continue;
    if (rule.scope === 'stage-change' && h.stage === stage) continue;
    if (h.sentAt.getTime() > t.getTime()) continue;
    if (!latest || h.sentAt.getTime() > latest.sentAt.getTime()) latest = h;
  }
  const inputs: DecisionInputs = {
    stage,
    hours: rule.hours,
    scope: rule.scope,
    at: iso(t),
    previousStage: latest?.stage ?? null,
    previousSentAt: isoOrNull(latest?.sentAt),
  };
  if (!latest) return { kind: 'ok', inputs };
  const earliest = new Date(latest.sentAt.getTime() + rule.hours * MS.HOUR);
  if (earliest.getTime() <= t.getTime()) return { kind: 'ok', inputs };
  return {
    kind: 'wait',
    earliest,
    reason: `previous ${latest.stage} notice on the case was sent at ${iso(latest.sentAt)}; minimum gap is ${rule.hours} h`,
    inputs: { ...inputs, gapEndsAt: iso(earliest) },
  };
}

function evaluateTimeRule(rule: TimeRule, t: Date, ctx: Ctx): TimeResult {
  switch (rule.type) {
    case 'contact-window':
      return evaluateWindow(rule, t, ctx);
    case 'frequency-cap':
      return evaluateCap(rule, t, ctx);
    case 'stage-gap':
      return evaluateStageGap(rule, t, ctx);
  }
}

function resolveTimeZone(input: GateInput, profile: ComplianceProfile): string {
  const tz = input.recipient.timeZone;
  return tz !== undefined && tz.trim() !== '' ? tz : profile.defaultTimeZone;
}

function baseInputs(ctx: Ctx): DecisionInputs {
  const { input, profile } = ctx;
  const out: DecisionInputs = {
    profile: profile.name,
    phase: input.phase,
    now: iso(input.now),
    nowLocal: formatLocal(input.now, ctx.zone),
    timeZone: ctx.timeZone,
    notificationId: input.notification.id,
    caseId: input.notification.caseId,
    channel: input.notification.channel,
    audience: input.notification.audience,
    stage: input.notification.stage ?? null,
    recipientRole: input.recipient.role,
  };
  return out;
}

/**
 * Evaluates `input` against `profile`. Pure and deterministic: the same input gives the same
 * decision. Throws ValidationError for an unknown recipient time zone, RangeError for an
 * invalid `now`.
 */
export function evaluateGate(input: GateInput, profile: ComplianceProfile): GateDecision {
  if (!(input.now instanceof Date) || Number.isNaN(input.now.getTime())) {
    throw new RangeError('evaluateGate: input.now must be a valid Date');
  }
  const timeZone = resolveTimeZone(input, profile);
  const ctx: Ctx = { input, profile, timeZone, zone: resolveZone(timeZone) };
  const base = baseInputs(ctx);
  const evaluated: string[] = [];

  for (const rule of profile.rules) {
    if (!isSuppressRule(rule)) continue;
    evaluated.push(rule.id);
    const r = evaluateSuppressRule(rule, ctx);
    if (r.hit) {
      const decision: SuppressDecision = {
        outcome: 'suppress',
        profile: profile.name,
        ruleId: rule.id,
        reason: r.reason,
        inputs: { ...base, rule: rule.id, source: rule.source, ...r.inputs },
      };
      return decision;
    }
  }

  const timeRules = profile.rules.filter((r): r is TimeRule => !isSuppressRule(r));
  evaluated.push(...timeRules.map((r) => r.id));
  const steps: JsonValue[] = [];
  const bit: string[] = [];
  let primary: { ruleId: string; reason: string } | undefined;
  let t = new Date(input.now.getTime());
  // Each move passes at least one history record, a window start or a day boundary.
  const maxIterations = 2 * input.history.length + 4 * timeRules.length + 8;

  for (let iteration = 0; ; iteration++) {
    if (iteration > maxIterations) {
      throw new Error(`evaluateGate: deferral did not converge after ${maxIterations} iterations`);
    }
    let target = t;
    let binding: TimeRule | undefined;
    const waits: JsonValue[] = [];
    let block: { rule: TimeRule; reason: string; inputs: DecisionInputs } | undefined;
    const satisfied: Record<string, JsonValue> = {};
    for (const rule of timeRules) {
      const r = evaluateTimeRule(rule, t, ctx);
      if (r.kind === 'na') continue;
      if (r.kind === 'ok') {
        satisfied[rule.id] = r.inputs;
      } else if (r.kind === 'block') {
        block ??= { rule, reason: r.reason, inputs: r.inputs };
      } else {
        waits.push({ ruleId: rule.id, reason: r.reason, until: iso(r.earliest), ...r.inputs });
        if (!bit.includes(rule.id)) bit.push(rule.id);
        if (r.earliest.getTime() > target.getTime()) {
          target = r.earliest;
          binding = rule;
          if (iteration === 0) primary = { ruleId: rule.id, reason: r.reason };
        }
      }
    }
    if (binding) {
      steps.push({ from: iso(t), to: iso(target), rules: waits });
      t = target;
      continue;
    }
    if (block) {
      const decision: SuppressDecision = {
        outcome: 'suppress',
        profile: profile.name,
        ruleId: block.rule.id,
        reason: block.reason,
        inputs: {
          ...base,
          rule: block.rule.id,
          source: block.rule.source,
          ...block.inputs,
          ...(steps.length > 0 ? { evaluatedAt: iso(t), deferSteps: steps } : {}),
        },
      };
      return decision;
    }
    if (t.getTime() === input.now.getTime()) {
      const decision: AllowDecision = {
        outcome: 'allow',
        profile: profile.name,
        ruleIds: evaluated,
        inputs: { ...base, checks: satisfied },
      };
      return decision;
    }
    const first = primary ?? { ruleId: bit[0], reason: 'deferred' };
    const decision: DeferDecision = {
      outcome: 'defer',
      profile: profile.name,
      until: t,
      ruleId: first.ruleId,
      ruleIds: bit,
      reason:
        steps.length > 1
          ? `${first.reason}; earliest instant satisfying all rules is ${formatLocal(t, ctx.zone)}`
          : first.reason,
      inputs: {
        ...base,
        until: iso(t),
        untilLocal: formatLocal(t, ctx.zone),
        steps,
        checksAtUntil: satisfied,
      },
    };
    return decision;
  }
}
