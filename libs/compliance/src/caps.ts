/**
 * Frequency-cap buckets: which sends count against a cap at a given instant. The gate uses
 * them to count the history it is given; the service uses `capBuckets` to keep atomic
 * counters in the database (see docs/compliance.md, "What the service must count").
 */
import type { Channel } from '#libs/core';
import {
  addLocalDays,
  formatLocalDate,
  localDateOf,
  MS,
  resolveZone,
  startOfLocalDay,
  type LocalDate,
} from './time.js';
import type { CapAction, ComplianceProfile, FrequencyCapRule, SendRecord } from './types.js';
import type { IANAZone } from 'luxon';

/** Address keys are compared trimmed and lower-cased (the service passes E.164 / lower-case email / postal keys). */
export function normaliseAddressKey(address: string): string {
  return address.trim().toLowerCase();
}

export interface CapSpan {
  /** local-day: from <= sentAt < to.  rolling: from < sentAt <= to. */
  from: Date;
  to: Date;
  localDate?: LocalDate;
}

/** The span of send instants that count against `rule` for a send at `at`. */
export function capSpan(rule: FrequencyCapRule, at: Date, zone: IANAZone): CapSpan {
  if (rule.period.kind === 'local-day') {
    const d = localDateOf(at, zone);
    return { from: startOfLocalDay(d, zone), to: startOfLocalDay(addLocalDays(d, 1), zone), localDate: d };
  }
  return { from: new Date(at.getTime() - rule.period.days * MS.DAY), to: new Date(at.getTime()) };
}

export function inSpan(rule: FrequencyCapRule, span: CapSpan, sentAt: Date): boolean {
  const t = sentAt.getTime();
  return rule.period.kind === 'local-day'
    ? t >= span.from.getTime() && t < span.to.getTime()
    : t > span.from.getTime() && t <= span.to.getTime();
}

/** Records of `history` that count against `rule` for a send to `address` at `at` (sorted by sentAt). */
export function countedSends(
  rule: FrequencyCapRule,
  at: Date,
  zone: IANAZone,
  address: string,
  history: readonly SendRecord[],
  excludeNotificationId?: string,
): { span: CapSpan; records: SendRecord[] } {
  const span = capSpan(rule, at, zone);
  const key = normaliseAddressKey(address);
  const records = history
    .filter(
      (h) =>
        h.channel === rule.channel &&
        normaliseAddressKey(h.recipientAddress) === key &&
        (excludeNotificationId === undefined || h.notificationId !== excludeNotificationId) &&
        inSpan(rule, span, h.sentAt),
    )
    .sort((a, b) => a.sentAt.getTime() - b.sentAt.getTime());
  return { span, records };
}

export interface CapBucket {
  ruleId: string;
  kind: 'local-day' | 'rolling';
  channel: Channel;
  /** Normalised address key the bucket is for. */
  recipientAddress: string;
  timeZone: string;
  /**
   * local-day: the counter key (one row per address + channel + local date).
   * rolling: the serialisation key (lock it, then count sends in the span).
   */
  key: string;
  /** Sends that count: `[from, to)` for local-day, `(from, to]` for rolling. */
  from: Date;
  to: Date;
  interval: '[from,to)' | '(from,to]';
  /** YYYY-MM-DD in `timeZone` (local-day only). */
  localDate?: string;
  limit: number;
  action: CapAction;
}

export interface CapBucketArgs {
  /** The send instant (the send-phase allow time). */
  at: Date;
  channel: Channel;
  recipientAddress: string;
  /** Recipient zone; absent or empty means the profile's default zone. */
  timeZone?: string;
}

/** The cap buckets a send at `args.at` falls into under `profile` (one per frequency-cap rule of the channel). */
export function capBuckets(args: CapBucketArgs, profile: ComplianceProfile): CapBucket[] {
  const timeZone = args.timeZone && args.timeZone.trim() !== '' ? args.timeZone : profile.defaultTimeZone;
  const zone = resolveZone(timeZone);
  const address = normaliseAddressKey(args.recipientAddress);
  const out: CapBucket[] = [];
  for (const rule of profile.rules) {
    if (rule.type !== 'frequency-cap' || rule.channel !== args.channel) continue;
    const span = capSpan(rule, args.at, zone);
    if (rule.period.kind === 'local-day' && span.localDate) {
      const localDate = formatLocalDate(span.localDate);
      out.push({
        ruleId: rule.id,
        kind: 'local-day',
        channel: rule.channel,
        recipientAddress: address,
        timeZone,
        key: `cap:day:${rule.channel}:${address}:${localDate}`,
        from: span.from,
        to: span.to,
        interval: '[from,to)',
        localDate,
        limit: rule.limit,
        action: rule.action,
      });
    } else {
      out.push({
        ruleId: rule.id,
        kind: 'rolling',
        channel: rule.channel,
        recipientAddress: address,
        timeZone,
        key: `cap:rolling:${rule.channel}:${address}`,
        from: span.from,
        to: span.to,
        interval: '(from,to]',
        limit: rule.limit,
        action: rule.action,
      });
    }
  }
  return out;
}

/** Just the keys of `capBuckets` (counter keys for local-day caps, lock keys for rolling caps). */
export function counterKeys(args: CapBucketArgs, profile: ComplianceProfile): string[] {
  return capBuckets(args, profile).map((b) => b.key);
}

/**
 * The oldest `sentAt` the service must load into `GateInput.history` for an evaluation at
 * `now` (caps and the stage gap). Contact limits are not time-bounded: pass
 * `contact.previousContacts` for those.
 */
export function historySince(now: Date, profile: ComplianceProfile): Date {
  let ms = 2 * MS.DAY; // a local day never starts more than ~26 h before an instant inside it
  for (const r of profile.rules) {
    if (r.type === 'frequency-cap' && r.period.kind === 'rolling') ms = Math.max(ms, r.period.days * MS.DAY);
    if (r.type === 'stage-gap') ms = Math.max(ms, r.hours * MS.HOUR);
  }
  return new Date(now.getTime() - ms);
}
