import type { ChainedEvent, JsonValue } from './chain.js';

/**
 * Legal-action eligibility computed from a case's own evidence (DESIGN.md section 2). Pure: the
 * caller reads the events; nothing here decides to sue, it only reports each criterion, the value
 * found and the `seq`s of the events that prove it. Also the delivery timeline printed in the
 * certificate PDF and shown on the /legal page.
 *
 * - principal: the latest of (a) a `notification.accepted` of any template whose request data
 *   carries `outstandingPrincipal` (preferred), else `principal` (the field the letter templates
 *   use), else `amountDue` (the amount asked for, which may include interest and fees), and (b) a
 *   `case.facts.recorded` carrying `principal` (set through `PUT /v1/cases/:caseId/facts`);
 * - delivered notices: distinct debtor notices with a `receipt.received` of outcome `delivered`
 *   that is not a sandbox receipt (sandbox receipts never count as proof);
 * - months without payment: from the latest `lastPaymentDate`, in the data of any accepted notice
 *   or in a `case.facts.recorded`; without one the value is unknown and the criterion is not met.
 *   (Only the pre-litigation letter's schema has the field, so before the legal stage the bank
 *   records it as a case fact.)
 *
 * "Latest" is by evidence seq: a later notice or recorded fact replaces an earlier value.
 */

/** Evidence type of facts about a case recorded through the API (last payment date, principal). */
export const CASE_FACTS_EVENT = 'case.facts.recorded';

export interface EligibilityThresholds {
  minPrincipal: number;
  minDelivered: number;
  minMonthsNoPayment: number;
}

export type CriterionId = 'outstanding_principal' | 'delivered_notices' | 'months_without_payment';

export interface EligibilityCriterion {
  id: CriterionId;
  met: boolean;
  threshold: number;
  /** The value found; null when the evidence does not carry it. */
  value: number | null;
  unit: 'CNY' | 'notices' | 'months';
  /** Where the value comes from (e.g. `data.outstandingPrincipal`). */
  source: string | null;
  /** The evidence events that prove the value. */
  evidenceSeqs: number[];
  reason: string;
  /** Delivered notices only: notices whose only delivery proof is a sandbox receipt (never counted). */
  sandboxOnly?: number;
  /** Months only: the last payment date found. */
  lastPaymentDate?: string | null;
}

export interface EligibilityReport {
  caseId: string;
  eligible: boolean;
  /** ISO-8601 time the report was computed for. */
  asOf: string;
  /** The chain head the report was computed from. */
  head: { seq: number; hash: string | null };
  criteria: EligibilityCriterion[];
  note: string;
}

type Obj = { [key: string]: JsonValue };

/** Data fields read as the outstanding principal, in order of preference (see the module comment). */
export const PRINCIPAL_FIELDS = ['outstandingPrincipal', 'principal', 'amountDue'] as const;

function obj(v: JsonValue | undefined): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

function requestOf(ev: ChainedEvent): Obj | undefined {
  return obj(obj(ev.payload)?.request);
}

function dataOf(ev: ChainedEvent): Obj | undefined {
  return obj(requestOf(ev)?.data);
}

/** Parses an amount given as a number or a string such as `12,345.67`; null when it is not one. */
export function parseAmount(v: JsonValue | undefined): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v !== 'string') return null;
  const s = v.replace(/[,\s]/g, '').replace(/^(CNY|RMB|¥|￥)/i, '');
  if (!/^-?\d+(\.\d+)?$/.test(s)) return null;
  return Number(s);
}

/** `YYYY-MM-DD` of a date (or datetime) string; null when it is not a calendar date. */
export function calendarDate(v: JsonValue | undefined): string | null {
  if (typeof v !== 'string') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  if (d.getUTCFullYear() !== +m[1] || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3]) return null;
  return `${m[1]}-${m[2]}-${m[3]}`;
}

/**
 * Whole calendar months from `from` (YYYY-MM-DD) to the date of `asOf` in China (UTC+8); a month
 * counts once its day of month is reached (2026-01-31 -> 2026-07-30 is 5 months).
 */
export function wholeMonthsBetween(from: string, asOf: Date): number {
  const [y1, m1, d1] = from.split('-').map(Number);
  const cn = new Date(asOf.getTime() + 8 * 3_600_000);
  const y2 = cn.getUTCFullYear();
  const m2 = cn.getUTCMonth() + 1;
  const d2 = cn.getUTCDate();
  return (y2 - y1) * 12 + (m2 - m1) - (d2 < d1 ? 1 : 0);
}

interface LastPayment {
  date: string | null;
  raw: JsonValue;
  seq: number;
  field: string;
}

/** The `lastPaymentDate` an object carries (even an invalid one, reported as such); undefined without one. */
function lastPaymentIn(o: Obj | undefined, prefix: 'data' | 'facts', seq: number): LastPayment | undefined {
  if (!o || !('lastPaymentDate' in o)) return undefined;
  const raw = o.lastPaymentDate;
  return { date: calendarDate(raw), raw, seq, field: `${prefix}.lastPaymentDate` };
}

function isSandbox(payload: Obj | undefined): boolean {
  return payload?.sandbox === true;
}

export function assessEligibility(
  caseId: string,
  events: Iterable<ChainedEvent>,
  thresholds: EligibilityThresholds,
  asOf: Date,
): EligibilityReport {
  let head: { seq: number; hash: string | null } = { seq: 0, hash: null };
  let principal: { value: number; field: string; seq: number } | undefined;
  let lastPayment: LastPayment | undefined;
  const debtorNotice = new Map<string, { acceptedSeq: number; debtor: boolean }>();
  const delivered = new Map<string, number[]>();
  const sandboxDelivered = new Set<string>();
  const deliveredStatus = new Map<string, number>();

  for (const ev of events) {
    head = { seq: ev.seq, hash: ev.hash };
    const p = obj(ev.payload);
    const nid = ev.notificationId;
    if (ev.type === CASE_FACTS_EVENT) {
      const v = parseAmount(p?.principal);
      if (v !== null) principal = { value: v, field: 'facts.principal', seq: ev.seq };
      lastPayment = lastPaymentIn(p, 'facts', ev.seq) ?? lastPayment;
    } else if (ev.type === 'notification.accepted') {
      const data = dataOf(ev);
      for (const field of PRINCIPAL_FIELDS) {
        const v = parseAmount(data?.[field]);
        if (v !== null) {
          principal = { value: v, field: `data.${field}`, seq: ev.seq };
          break;
        }
      }
      lastPayment = lastPaymentIn(data, 'data', ev.seq) ?? lastPayment;
      if (nid) {
        const role = obj(requestOf(ev)?.recipient)?.role;
        debtorNotice.set(nid, { acceptedSeq: ev.seq, debtor: role === undefined || role === 'debtor' });
      }
    } else if (ev.type === 'receipt.received' && nid && p?.outcome === 'delivered') {
      if (isSandbox(p)) sandboxDelivered.add(nid);
      else if (!delivered.has(nid)) delivered.set(nid, [ev.seq]);
    } else if (ev.type === 'status.changed' && nid && p?.to === 'delivered' && !isSandbox(p)) {
      if (!deliveredStatus.has(nid)) deliveredStatus.set(nid, ev.seq);
    }
  }

  const criteria: EligibilityCriterion[] = [];

  const minP = thresholds.minPrincipal;
  criteria.push(
    principal
      ? {
          id: 'outstanding_principal',
          met: principal.value >= minP,
          threshold: minP,
          value: principal.value,
          unit: 'CNY',
          source: principal.field,
          evidenceSeqs: [principal.seq],
          reason: `${principal.field} ${principal.field.startsWith('facts.') ? 'recorded for the case' : 'of the latest accepted notice'} is ${principal.value} CNY${principal.value >= minP ? ` (>= ${minP})` : `, below ${minP}`}`,
        }
      : {
          id: 'outstanding_principal',
          met: false,
          threshold: minP,
          value: null,
          unit: 'CNY',
          source: null,
          evidenceSeqs: [],
          reason:
            'no accepted notice carries data.outstandingPrincipal, data.principal or data.amountDue, and no principal was recorded for the case',
        },
  );

  const proofs: number[] = [];
  let count = 0;
  for (const [nid, seqs] of delivered) {
    const notice = debtorNotice.get(nid);
    if (notice && !notice.debtor) continue; // a message passed on through a contact is not a notice to the debtor
    count += 1;
    proofs.push(...(notice ? [notice.acceptedSeq] : []), ...seqs);
    const st = deliveredStatus.get(nid);
    if (st !== undefined) proofs.push(st);
  }
  const sandboxOnly = [...sandboxDelivered].filter((n) => !delivered.has(n)).length;
  const minD = thresholds.minDelivered;
  criteria.push({
    id: 'delivered_notices',
    met: count >= minD,
    threshold: minD,
    value: count,
    unit: 'notices',
    source: 'receipt.received (outcome delivered, not sandbox)',
    evidenceSeqs: [...new Set(proofs)].sort((a, b) => a - b),
    sandboxOnly,
    reason:
      count >= minD
        ? `${count} notices to the debtor have a non-sandbox delivery receipt (>= ${minD})`
        : `${count} notices with a non-sandbox delivery receipt, ${minD} needed` +
          (sandboxOnly > 0
            ? `; ${sandboxOnly} more were delivered only per sandbox receipts, which never count as proof`
            : ''),
  });

  const minM = thresholds.minMonthsNoPayment;
  if (lastPayment?.date) {
    const months = wholeMonthsBetween(lastPayment.date, asOf);
    criteria.push({
      id: 'months_without_payment',
      met: months >= minM,
      threshold: minM,
      value: months,
      unit: 'months',
      source: lastPayment.field,
      lastPaymentDate: lastPayment.date,
      evidenceSeqs: [lastPayment.seq],
      reason:
        months >= minM
          ? `last payment on ${lastPayment.date}, ${months} months ago (>= ${minM})`
          : `last payment on ${lastPayment.date}, only ${months} months ago (${minM} needed)`,
    });
  } else {
    criteria.push({
      id: 'months_without_payment',
      met: false,
      threshold: minM,
      value: null,
      unit: 'months',
      source: lastPayment ? lastPayment.field : null,
      lastPaymentDate: null,
      evidenceSeqs: lastPayment ? [lastPayment.seq] : [],
      reason: lastPayment
        ? `${lastPayment.field} ${JSON.stringify(lastPayment.raw)} is not a date: unknown`
        : 'unknown: no accepted notice carries data.lastPaymentDate and none was recorded for the case',
    });
  }

  return {
    caseId,
    eligible: criteria.every((c) => c.met),
    asOf: asOf.toISOString(),
    head,
    criteria,
    note: 'Computed from the service’s own evidence; the service never decides to sue.',
  };
}

// ---- timeline -----------------------------------------------------------------------------------

export interface TimelineRow {
  seq: number;
  /** ISO-8601 time the fact happened. */
  time: string;
  notificationId: string | null;
  channel: string | null;
  /** Event type, e.g. `provider.response`. */
  event: string;
  /** Short human-readable detail (status move, receipt outcome). */
  detail: string;
  providerId: string | null;
  /** Receipt: outcome and provider status, `(sandbox)` when simulated. */
  receipt: string | null;
}

const TIMELINE_TYPES = new Set([
  'notification.accepted',
  'template.pinned',
  'compliance.decision',
  'message.rendered',
  'provider.response',
  'provider.error',
  'receipt.received',
  'receipt.refused',
  'status.changed',
  'case.hold.placed',
  'case.hold.released',
  CASE_FACTS_EVENT,
]);

/** Names of evidence event types as the legal team reads them (the raw type stays in `event`). */
export const EVENT_LABELS: Record<'zh-CN' | 'en', Record<string, string>> = {
  'zh-CN': {
    'notification.accepted': '受理通知请求',
    'stage.decided': '确定催收阶段',
    'template.pinned': '锁定模板版本',
    'compliance.decision': '合规检查',
    'message.rendered': '生成通知文书',
    'provider.request': '提交服务商',
    'provider.response': '服务商已接收',
    'provider.error': '服务商报错',
    'receipt.received': '收到回执',
    'receipt.refused': '拒收回执（校验未通过）',
    'status.changed': '状态变更',
    'recipient.opted_out': '收件人退订',
    'recipient.suppressed': '收件人被屏蔽',
    'case.hold.placed': '案件暂停催收',
    'case.hold.released': '案件恢复催收',
    'document.verified': '公开核验文书',
    [CASE_FACTS_EVENT]: '登记案件事实（最后还款日、本金）',
  },
  en: {
    'notification.accepted': 'Notice request accepted',
    'stage.decided': 'Collection stage decided',
    'template.pinned': 'Template version pinned',
    'compliance.decision': 'Compliance check',
    'message.rendered': 'Document rendered',
    'provider.request': 'Sent to provider',
    'provider.response': 'Provider accepted',
    'provider.error': 'Provider error',
    'receipt.received': 'Receipt received',
    'receipt.refused': 'Receipt refused (failed verification)',
    'status.changed': 'Status changed',
    'recipient.opted_out': 'Recipient opted out',
    'recipient.suppressed': 'Recipient suppressed',
    'case.hold.placed': 'Case put on hold',
    'case.hold.released': 'Case hold released',
    'document.verified': 'Document verified publicly',
    [CASE_FACTS_EVENT]: 'Case facts recorded (last payment, principal)',
  },
};

/**
 * Folds events (in seq order) into timeline rows. Keeps per-notification channel and provider id
 * from earlier events, so memory is one small entry per notification.
 */
export class TimelineBuilder {
  private readonly channels = new Map<string, string>();
  private readonly providerIds = new Map<string, string>();

  add(ev: ChainedEvent): TimelineRow | null {
    const p = obj(ev.payload);
    const nid = ev.notificationId;
    if (ev.type === 'notification.accepted' && nid) {
      const ch = requestOf(ev)?.channel;
      if (typeof ch === 'string') this.channels.set(nid, ch);
    }
    const pid = p?.providerMessageId;
    if (nid && typeof pid === 'string' && pid) this.providerIds.set(nid, pid);
    if (!TIMELINE_TYPES.has(ev.type)) return null;
    let detail = '';
    let receipt: string | null = null;
    if (ev.type === 'status.changed') {
      detail = `${String(p?.from ?? '—')} → ${String(p?.to ?? '?')}`;
    } else if (ev.type === 'receipt.received') {
      receipt = `${String(p?.outcome ?? '?')}${p?.providerStatus ? ` (${String(p.providerStatus)})` : ''}${isSandbox(p) ? ' sandbox' : ''}`;
      detail = receipt;
    } else if (ev.type === 'message.rendered') {
      detail = `${String(p?.mediaType ?? '')} sha256 ${String(p?.sha256 ?? '').slice(0, 12)}…`;
    } else if (ev.type === 'provider.error') {
      detail = String(p?.message ?? '').slice(0, 80);
    } else if (ev.type === 'notification.accepted') {
      detail = String(requestOf(ev)?.templateKey ?? '');
    } else if (ev.type === 'template.pinned') {
      detail = `${String(p?.key ?? '')} v${String(p?.version ?? '?')}`;
    } else if (ev.type === 'compliance.decision') {
      detail = [p?.phase, p?.outcome, p?.ruleId].filter((x) => typeof x === 'string' && x).join(' · ');
    } else if (ev.type === CASE_FACTS_EVENT) {
      detail = [
        p?.lastPaymentDate !== undefined ? `lastPaymentDate ${String(p.lastPaymentDate)}` : '',
        p?.principal !== undefined ? `principal ${String(p.principal)}` : '',
        p?.actor ? `by ${String(p.actor)}` : '',
      ]
        .filter(Boolean)
        .join(' · ');
    } else if (ev.type.startsWith('case.hold.')) {
      detail = String(p?.kind ?? '');
    }
    return {
      seq: ev.seq,
      time: ev.occurredAt,
      notificationId: nid,
      channel: nid ? (this.channels.get(nid) ?? null) : null,
      event: ev.type,
      detail,
      providerId: nid ? (this.providerIds.get(nid) ?? null) : null,
      receipt,
    };
  }
}

export function timelineOf(events: Iterable<ChainedEvent>): TimelineRow[] {
  const b = new TimelineBuilder();
  const rows: TimelineRow[] = [];
  for (const ev of events) {
    const r = b.add(ev);
    if (r) rows.push(r);
  }
  return rows;
}
