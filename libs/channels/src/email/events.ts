/**
 * Signed JSON delivery events from an HTTP email provider (the shape is documented in
 * docs/email.md): verification of the HMAC-SHA256 signature and normalisation to receipts.
 */
import type { ReceiptOutcome } from '#libs/core';
import { signTimestamped, ValidationError, verifyTimestamped } from '#libs/core';
import type { Json, NormalisedReceipt } from '../provider.js';
import { normaliseMessageId } from './message-id.js';

/** Header names the provider uses (documented contract). */
export const EMAIL_EVENT_TIMESTAMP_HEADER = 'x-email-timestamp';
export const EMAIL_EVENT_SIGNATURE_HEADER = 'x-email-signature';

/** Hex HMAC-SHA256 of `${timestamp}.${rawBody}` (what the provider sends in the signature header). */
export const signEmailEvent = signTimestamped;

/**
 * Checks the signature of a webhook call (libs/core `verifyTimestamped`: one digest or several
 * comma-separated while the provider rotates secrets, optional `v1=`, 5-minute tolerance).
 */
export const verifyEmailEventSignature = verifyTimestamped;

export type EmailEventType = 'delivered' | 'bounce' | 'complaint' | 'deferred';

/** One event as the provider posts it (see docs/email.md). */
export interface EmailEvent {
  id: string;
  type: EmailEventType | string;
  /** ISO 8601 date-time or unix seconds. */
  timestamp: string | number;
  /** The Message-ID we set, with or without angle brackets. */
  messageId?: string | null;
  /** Our notification id when the provider echoes it (custom args / metadata). */
  notificationId?: string | null;
  recipient?: string;
  bounce?: { type: 'hard' | 'soft'; code?: string; diagnostic?: string };
  complaint?: { feedbackType?: string };
  smtpResponse?: string;
}

function fail(path: string, message: string): never {
  throw new ValidationError(`invalid email event: ${path} ${message}`, [{ path, message }]);
}

function str(v: unknown, path: string, required: boolean): string | undefined {
  if (v === undefined || v === null) {
    if (required) fail(path, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') fail(path, 'must be a string');
  return v;
}

function parseTime(v: unknown, path: string): Date {
  let d: Date;
  if (typeof v === 'number' && Number.isFinite(v)) d = new Date(v * 1000);
  else if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) d = new Date(v);
  else return fail(path, 'must be an ISO 8601 date-time or unix seconds');
  if (Number.isNaN(d.getTime())) fail(path, 'is not a valid date');
  return d;
}

function outcomeOf(
  e: Record<string, unknown>,
  path: string,
): Pick<NormalisedReceipt, 'outcome' | 'bounce' | 'complaint'> {
  switch (e.type) {
    case 'delivered':
      return { outcome: 'delivered' };
    case 'deferred':
      // The provider keeps trying: not final.
      return { outcome: 'queued', bounce: 'soft' };
    case 'bounce': {
      const b = e.bounce as Record<string, unknown> | undefined;
      if (!b || typeof b !== 'object') fail(`${path}.bounce`, 'is required for a bounce');
      if (b.type !== 'hard' && b.type !== 'soft') fail(`${path}.bounce.type`, "must be 'hard' or 'soft'");
      // The provider gave up either way; a soft bounce does not condemn the address.
      return { outcome: 'undelivered', bounce: b.type };
    }
    case 'complaint':
      // The message reached the mailbox and the recipient marked it as spam: treat as opt-out.
      return { outcome: 'delivered', complaint: true };
    default: {
      const outcome: ReceiptOutcome = 'unknown';
      return { outcome };
    }
  }
}

/**
 * Normalises a webhook body: `{ "events": [...] }`, a bare array of events, or one event.
 * Throws ValidationError on a malformed body; unknown event types become `unknown` receipts.
 */
export function parseEmailEvents(json: unknown, provider = 'email-http'): NormalisedReceipt[] {
  let list: unknown[];
  if (Array.isArray(json)) list = json;
  else if (json && typeof json === 'object' && Array.isArray((json as { events?: unknown }).events))
    list = (json as { events: unknown[] }).events;
  else if (json && typeof json === 'object' && 'type' in json) list = [json];
  else fail('$', 'must be an event, an array of events or { events: [...] }');
  if (list.length > 1000) fail('events', 'has more than 1000 entries');

  return list.map((item, i) => {
    const path = `events[${i}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) fail(path, 'must be an object');
    const e = item as Record<string, unknown>;
    const id = str(e.id, `${path}.id`, true) as string;
    const type = str(e.type, `${path}.type`, true) as string;
    const occurredAt = parseTime(e.timestamp, `${path}.timestamp`);
    const messageId = normaliseMessageId(str(e.messageId, `${path}.messageId`, false));
    const notificationId = str(e.notificationId, `${path}.notificationId`, false) ?? null;
    if (!messageId && !notificationId) fail(path, 'needs messageId or notificationId');
    str(e.recipient, `${path}.recipient`, false);
    const { outcome, bounce, complaint } = outcomeOf(e, path);
    const b = e.bounce as { code?: unknown } | undefined;
    const code = typeof b?.code === 'string' ? b.code : undefined;
    const receipt: NormalisedReceipt = {
      provider,
      providerMessageId: messageId,
      notificationId,
      outcome,
      providerStatus: type === 'bounce' && bounce ? `bounce:${bounce}` : type,
      occurredAt,
      sandbox: false,
      raw: { source: 'email-event', eventId: id, ...(item as { [k: string]: Json }) },
      dedupKey: `${provider}:event:${id}`,
    };
    if (code) receipt.errorCode = code;
    if (bounce) receipt.bounce = bounce;
    if (complaint) receipt.complaint = true;
    return receipt;
  });
}
