/**
 * Status callbacks to callers: what an event says, how it is signed, when a failed delivery is
 * tried again. Pure functions; the outbox and the delivery loop are next to this file.
 */
import { type NotificationStatus, signTimestamped, ValidationError } from '#libs/core';
import { canonicalJson, type JsonValue } from '#libs/evidence';

export const CALLBACK_EVENT_TYPES = [
  'notification.accepted',
  'notification.scheduled',
  'notification.sent',
  'notification.delivered',
  'notification.undelivered',
  'notification.returned',
  'notification.failed',
  'notification.suppressed',
  'notification.cancelled',
  'escalation.started',
  'escalation.ended',
] as const;
export type CallbackEventType = (typeof CALLBACK_EVENT_TYPES)[number];

/** Header names of a callback request (docs/api.md, "Callbacks"). */
export const CALLBACK_HEADERS = {
  id: 'x-callback-id',
  timestamp: 'x-callback-timestamp',
  signature: 'x-callback-signature',
} as const;

/**
 * The callback a status change makes, or null (`sending` is internal). A letter that came back
 * (`undelivered` with a return reason) is `notification.returned`.
 */
export function callbackTypeFor(
  to: NotificationStatus,
  detail: Record<string, JsonValue> = {},
): CallbackEventType | null {
  if (to === 'sending') return null;
  if (to === 'undelivered' && typeof detail.returnReason === 'string') return 'notification.returned';
  return `notification.${to}`;
}

/** One callback event as the caller receives it (the JSON body, signed byte for byte). */
export interface CallbackEvent {
  /** Unique per event: the caller deduplicates on it (retries carry the same id and body). */
  id: string;
  type: CallbackEventType;
  createdAt: string;
  notificationId: string;
  caseId: string;
  /** The notification's status after the event. */
  status: NotificationStatus;
  data: Record<string, JsonValue>;
  /** The evidence event that records the same fact (the proof is there, not in the callback). */
  evidence: { caseId: string; seq: number };
}

/** The exact bytes sent: canonical JSON (RFC 8785), so the signature covers one spelling. */
export function callbackBody(e: CallbackEvent): string {
  return canonicalJson(e);
}

/** The signature header value for `body` sent at `timestamp` (unix seconds). */
export function callbackSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${signTimestamped(secret, timestamp, body)}`;
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failures: exponential from `baseMs`, capped
 * at `maxMs`, with up to 20% random jitter so many failed deliveries do not retry in step.
 */
export function callbackBackoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (1 + 0.2 * random()));
}

/**
 * A callback URL a caller may register: absolute http(s), no credentials, no fragment; plain
 * http only when `allowHttp` (development and tests; production needs https).
 */
export function parseCallbackUrl(raw: unknown, allowHttp: boolean, path = 'url'): string {
  const bad = (message: string) =>
    new ValidationError(`${path} is not a usable callback URL: ${message}`, [{ path, message }]);
  if (typeof raw !== 'string' || raw.length === 0) throw bad('required');
  if (raw.length > 2000) throw bad('longer than 2000 characters');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad('not an absolute URL');
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw bad(allowHttp ? 'must be http or https' : 'must be https');
  }
  if (url.username || url.password) throw bad('must not carry credentials');
  if (url.hash) throw bad('must not have a fragment');
  return url.toString();
}
