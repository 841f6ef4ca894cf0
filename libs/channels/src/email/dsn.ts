/**
 * Bounce and complaint reports that reach us as email (an MTA pipes them to the service):
 * RFC 3464 delivery status notifications (multipart/report; report-type=delivery-status) and
 * RFC 5965 feedback reports (report-type=feedback-report, spam complaints), parsed with mailparser.
 */
import { simpleParser, type Attachment } from 'mailparser';
import type { Json, NormalisedReceipt } from '../provider.js';
import { normaliseMessageId, notificationIdFromMessageId } from './message-id.js';

export interface ParseDsnOptions {
  /** Provider name put on the receipts (default `smtp`, the SMTP adapter's name). */
  provider?: string;
  /** When set, our notification id is read back from Message-IDs in this domain. */
  messageIdDomain?: string;
  /** Time used when the report carries no usable date. */
  now?: Date;
}

type Fields = Map<string, string>;

/** Splits an RFC 822-style field block into groups (separated by blank lines), unfolding continuation lines. */
export function parseFieldGroups(text: string): Fields[] {
  const groups: Fields[] = [];
  let current: Fields | null = null;
  let last: string | null = null;
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (line.trim() === '') {
      current = null;
      last = null;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (current && last) current.set(last, `${current.get(last) ?? ''} ${line.trim()}`.trim());
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 1) continue;
    if (!current) {
      current = new Map();
      groups.push(current);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    if (current.has(name)) {
      last = null;
      continue;
    }
    current.set(name, line.slice(colon + 1).trim());
    last = name;
  }
  return groups;
}

/** The value after `type;` in fields such as `Final-Recipient: rfc822; a@b`. */
function typedValue(v: string | undefined): string | null {
  if (!v) return null;
  const semi = v.indexOf(';');
  const out = (semi >= 0 ? v.slice(semi + 1) : v).trim();
  return out || null;
}

function parseDate(v: string | undefined): Date | null {
  if (!v) return null;
  const d = new Date(v.replace(/\([^)]*\)/g, '').trim());
  return Number.isNaN(d.getTime()) ? null : d;
}

function contentType(a: Attachment): string {
  return (a.contentType || '').toLowerCase();
}

function headerBlock(content: Buffer): string {
  const text = content.toString('utf8');
  const m = /\r?\n\r?\n/.exec(text);
  return m ? text.slice(0, m.index) : text;
}

/** Message-ID of the original message from the returned headers or message part. */
function originalMessageId(attachments: Attachment[]): string | null {
  for (const a of attachments) {
    const t = contentType(a);
    if (
      t === 'text/rfc822-headers' ||
      t === 'message/rfc822' ||
      t === 'message/global' ||
      t === 'message/global-headers'
    ) {
      const [fields] = parseFieldGroups(headerBlock(a.content));
      const id = normaliseMessageId(fields?.get('message-id'));
      if (id) return id;
    }
  }
  return null;
}

interface DsnVerdict {
  outcome: NormalisedReceipt['outcome'];
  bounce?: 'hard' | 'soft';
}

/**
 * RFC 3464 action + status -> outcome:
 * failed + 5.x.x -> undelivered, hard; failed + 4.x.x (gave up on a transient error) -> undelivered,
 * soft; delayed -> queued, soft; delivered -> delivered; relayed/expanded -> sent; else unknown.
 */
export function dsnVerdict(action: string, status: string | null): DsnVerdict {
  const cls = status?.[0];
  switch (action) {
    case 'failed':
      return { outcome: 'undelivered', bounce: cls === '5' ? 'hard' : 'soft' };
    case 'delayed':
      return { outcome: 'queued', bounce: 'soft' };
    case 'delivered':
      return { outcome: 'delivered' };
    case 'relayed':
    case 'expanded':
      return { outcome: 'sent' };
    default:
      return { outcome: 'unknown' };
  }
}

/**
 * Parses a delivery status notification or a feedback (complaint) report into receipts, one
 * per reported recipient. Any other message (auto-replies, plain mail) gives an empty list.
 */
export async function parseDsn(
  raw: Buffer | string,
  options: ParseDsnOptions = {},
): Promise<NormalisedReceipt[]> {
  const provider = options.provider ?? 'smtp';
  const parsed = await simpleParser(raw, {
    keepDeliveryStatus: true,
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
  });
  const ct = parsed.headers.get('content-type') as
    { value?: string; params?: Record<string, string> } | undefined;
  const reportType = (ct?.params?.['report-type'] ?? '').toLowerCase();
  if ((ct?.value ?? '').toLowerCase() !== 'multipart/report') return [];
  const dsnId = parsed.messageId ?? null;
  const fallbackDate = parsed.date ?? options.now ?? new Date();
  const origId = originalMessageId(parsed.attachments);
  const notificationOf = (id: string | null): string | null =>
    id && options.messageIdDomain ? notificationIdFromMessageId(id, options.messageIdDomain) : null;

  if (reportType === 'feedback-report') {
    const part = parsed.attachments.find((a) => contentType(a) === 'message/feedback-report');
    if (!part) return [];
    const [fields = new Map<string, string>()] = parseFieldGroups(part.content.toString('utf8'));
    const feedbackType = (fields.get('feedback-type') ?? 'other').toLowerCase();
    const messageId = normaliseMessageId(fields.get('original-message-id')) ?? origId;
    const raw: Json = {
      source: 'arf',
      reportMessageId: dsnId,
      feedbackType,
      userAgent: fields.get('user-agent') ?? null,
      originalMailFrom: fields.get('original-mail-from') ?? null,
      originalRcptTo: fields.get('original-rcpt-to') ?? null,
      arrivalDate: fields.get('arrival-date') ?? null,
      reportedDomain: fields.get('reported-domain') ?? null,
      originalMessageId: messageId,
    };
    return [
      {
        provider,
        providerMessageId: messageId,
        notificationId: notificationOf(messageId),
        // The message reached the mailbox and the recipient reported it: delivered, and an opt-out.
        outcome: 'delivered',
        providerStatus: `complaint:${feedbackType}`,
        complaint: true,
        occurredAt: parseDate(fields.get('arrival-date')) ?? fallbackDate,
        sandbox: false,
        raw,
      },
    ];
  }

  if (reportType !== 'delivery-status' && reportType !== 'global-delivery-status') return [];
  const part = parsed.attachments.find(
    (a) =>
      contentType(a) === 'message/delivery-status' || contentType(a) === 'message/global-delivery-status',
  );
  if (!part) return [];
  const [perMessage = new Map<string, string>(), ...perRecipient] = parseFieldGroups(
    part.content.toString('utf8'),
  );
  const messageId =
    normaliseMessageId(perMessage.get('original-message-id') ?? perMessage.get('x-original-message-id')) ??
    origId;
  const reportingMta = typedValue(perMessage.get('reporting-mta'));

  return perRecipient
    .filter((f) => f.has('final-recipient') || f.has('action'))
    .map((f): NormalisedReceipt => {
      const action = (f.get('action') ?? '').trim().toLowerCase();
      const statusToken = (f.get('status') ?? '').trim().split(/\s+/)[0];
      const status = /^[245]\.\d{1,3}\.\d{1,3}$/.test(statusToken) ? statusToken : null;
      const verdict = dsnVerdict(action, status);
      const finalRecipient = typedValue(f.get('final-recipient'))?.toLowerCase() ?? null;
      const raw: Json = {
        source: 'dsn',
        dsnMessageId: dsnId,
        reportingMta,
        originalEnvelopeId: perMessage.get('original-envelope-id') ?? null,
        finalRecipient,
        originalRecipient: typedValue(f.get('original-recipient'))?.toLowerCase() ?? null,
        action: action || null,
        status,
        diagnosticCode: f.get('diagnostic-code') ?? null,
        remoteMta: typedValue(f.get('remote-mta')),
        lastAttemptDate: f.get('last-attempt-date') ?? null,
        willRetryUntil: f.get('will-retry-until') ?? null,
        originalMessageId: messageId,
      };
      const receipt: NormalisedReceipt = {
        provider,
        providerMessageId: messageId,
        notificationId: notificationOf(messageId),
        outcome: verdict.outcome,
        providerStatus: action || 'missing',
        occurredAt: parseDate(f.get('last-attempt-date')) ?? fallbackDate,
        sandbox: false,
        raw,
      };
      if (status) receipt.errorCode = status;
      if (verdict.bounce) receipt.bounce = verdict.bounce;
      return receipt;
    });
}
