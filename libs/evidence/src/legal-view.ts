import type { ChainedEvent } from './chain.js';
import {
  CERTIFICATE_WORDS,
  type CertificateLang,
  NoticeSummaryBuilder,
  type NoticeReceipt,
  type NoticeSummary,
  receiptSource,
} from './certificate.js';
import { EVENT_LABELS, TimelineBuilder, type TimelineRow } from './eligibility.js';

/**
 * The case as the /legal page shows it: the timeline rows with the event names in words, and one
 * summary per notice (channel, template and version, status, receipts) labelled with the
 * 送达证明's own wording (certificate.ts), so the page and the certificate say the same thing.
 * Pure: one pass over the case's events in seq order.
 */

export interface LabelledTimelineRow extends TimelineRow {
  /** The event type in words (`收到回执`); `event` keeps the raw type. */
  label: string;
}

export interface LabelledReceipt extends NoticeReceipt {
  /** The outcome in words (`已送达`). */
  outcomeLabel: string;
  /** How the receipt reached the service, in words (`服务商签名回调`); null when unknown. */
  sourceLabel: string | null;
}

export interface NoticeView extends Omit<NoticeSummary, 'receipts'> {
  receipts: LabelledReceipt[];
  labels: {
    channel: string | null;
    role: string | null;
    status: string | null;
    proof: string;
    /** Where the deciding receipt came from, with its outcome. */
    receipt: string | null;
  };
}

export interface CaseTimeline {
  caseId: string;
  lang: CertificateLang;
  rows: LabelledTimelineRow[];
  notices: NoticeView[];
}

export function eventLabel(type: string, lang: CertificateLang): string {
  return EVENT_LABELS[lang][type] ?? type;
}

function noticeView(n: NoticeSummary, lang: CertificateLang): NoticeView {
  const W = CERTIFICATE_WORDS[lang];
  return {
    ...n,
    receipts: n.receipts.map((r) => {
      const base = r.source ? r.source.split('/')[0] : null;
      return {
        ...r,
        outcomeLabel: W.outcome[r.outcome] ?? r.outcome,
        sourceLabel: base ? (W.source[base] ?? r.source) : null,
      };
    }),
    labels: {
      channel: n.channel ? (W.channel[n.channel] ?? n.channel) : null,
      role: n.role ? (W.role[n.role] ?? n.role) : null,
      status: n.status ? (W.status[n.status] ?? n.status) : null,
      proof: W.proof[n.proof],
      receipt: receiptSource(n, lang),
    },
  };
}

export function caseTimeline(
  caseId: string,
  events: Iterable<ChainedEvent>,
  lang: CertificateLang,
): CaseTimeline {
  const timeline = new TimelineBuilder();
  const notices = new NoticeSummaryBuilder();
  const rows: LabelledTimelineRow[] = [];
  for (const ev of events) {
    notices.add(ev);
    const r = timeline.add(ev);
    if (r) rows.push({ ...r, label: eventLabel(r.event, lang) });
  }
  return { caseId, lang, rows, notices: notices.notices().map((n) => noticeView(n, lang)) };
}
