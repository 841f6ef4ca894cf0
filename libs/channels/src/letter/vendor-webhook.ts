import { createHmac, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '#libs/core';
import type { Json, NormalisedReceipt } from '../provider.js';
import { normaliseReturnReason, postEventOutcome } from './post-events.js';

/**
 * Print-vendor webhooks (docs/post.md): one event per POST, JSON body, signed with HMAC-SHA256 over
 * `${timestamp}.${rawBody}` using the webhook secret:
 *
 *   X-Vendor-Timestamp: 1767225600              (Unix seconds)
 *   X-Vendor-Signature: v1=<hex>[,v1=<hex>...]  (several during a secret rotation)
 *   X-Vendor-Event-Id:  evt_...                 (informational; the signed body's `id` is what counts)
 */
export const VENDOR_TIMESTAMP_HEADER = 'x-vendor-timestamp';
export const VENDOR_SIGNATURE_HEADER = 'x-vendor-signature';
export const VENDOR_EVENT_ID_HEADER = 'x-vendor-event-id';
export const VENDOR_WEBHOOK_TOLERANCE_SECONDS = 300;

/** A webhook event as the vendor sends it. */
export interface VendorEvent {
  /** Event id, unique per event; redeliveries of the same event keep it. */
  id: string;
  /** printed | mailed | in_transit | delivered | returned | failed | cancelled (others map to unknown). */
  type: string;
  letterId: string;
  /** Our notification id (the `reference` given at create). */
  reference: string | null;
  documentId?: string | null;
  occurredAt: string;
  trackingNumber?: string | null;
  /** delivered: who signed for the letter. */
  signer?: string | null;
  /** returned: refused | unclaimed | bad_address | moved | other. */
  returnReason?: string | null;
  detail?: string | null;
  /** false for letters created with a test key (never mailed). */
  livemode?: boolean;
}

export type WebhookRejection =
  'missing_headers' | 'bad_timestamp' | 'stale' | 'bad_signature' | 'malformed_body';

export type WebhookVerification =
  | { ok: true; eventId: string; timestamp: number; event: VendorEvent }
  | { ok: false; reason: WebhookRejection; message: string };

export interface VerifyOptions {
  /** Allowed clock difference either way, seconds (default 300). */
  toleranceSeconds?: number;
}

export type HeaderBag = Record<string, string | string[] | undefined> | Headers;

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(',') : v;
  }
  return undefined;
}

/** `v1=<hex>` for a body: what the vendor (and the emulator) put in X-Vendor-Signature. */
export function signVendorWebhook(secret: string, timestamp: number, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
  return `v1=${mac}`;
}

function signatureMatches(
  secrets: string[],
  timestamp: number,
  rawBody: string | Buffer,
  sig: string,
): boolean {
  const candidates = sig
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='))
    .map((s) => s.slice(3));
  for (const secret of secrets) {
    const expected = Buffer.from(signVendorWebhook(secret, timestamp, rawBody).slice(3), 'hex');
    for (const c of candidates) {
      if (!/^[0-9a-f]{64}$/i.test(c)) continue;
      const got = Buffer.from(c, 'hex');
      if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
    }
  }
  return false;
}

/**
 * Verifies a vendor webhook: headers present, timestamp within the tolerance of `now`, HMAC matches
 * (any of `secret` when rotating) and the body is one event. Replays are not refused here: the
 * receipt's dedup key (`print-vendor:event:<id>`, unique in `receipts`) is claimed in the same
 * transaction that applies it, so a replay changes nothing and a failed ingest claims nothing.
 */
export function verifyVendorWebhook(
  secret: string | readonly string[],
  headers: HeaderBag,
  rawBody: string | Buffer,
  now: Date,
  options: VerifyOptions = {},
): WebhookVerification {
  const tolerance = options.toleranceSeconds ?? VENDOR_WEBHOOK_TOLERANCE_SECONDS;
  const tsText = header(headers, VENDOR_TIMESTAMP_HEADER);
  const sig = header(headers, VENDOR_SIGNATURE_HEADER);
  if (!tsText || !sig) {
    return {
      ok: false,
      reason: 'missing_headers',
      message: 'X-Vendor-Timestamp and X-Vendor-Signature required',
    };
  }
  if (!/^\d{1,12}$/.test(tsText.trim())) {
    return { ok: false, reason: 'bad_timestamp', message: 'X-Vendor-Timestamp must be Unix seconds' };
  }
  const timestamp = Number(tsText.trim());
  const secrets = (typeof secret === 'string' ? [secret] : [...secret]).filter((s) => s.length > 0);
  if (secrets.length === 0 || !signatureMatches(secrets, timestamp, rawBody, sig)) {
    return { ok: false, reason: 'bad_signature', message: 'signature does not match' };
  }
  const skew = Math.abs(now.getTime() / 1000 - timestamp);
  if (skew > tolerance) {
    return { ok: false, reason: 'stale', message: `timestamp is ${Math.round(skew)} s away from now` };
  }
  let event: VendorEvent;
  try {
    const parsed: unknown = JSON.parse(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'));
    event = asVendorEvent(parsed, 'body');
  } catch (err) {
    return { ok: false, reason: 'malformed_body', message: (err as Error).message };
  }
  return { ok: true, eventId: event.id, timestamp, event };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(o: Record<string, unknown>, key: string, path: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string')
    throw new ValidationError(`${path}.${key} must be a string`, [
      { path: `${path}.${key}`, message: 'must be a string' },
    ]);
  return v;
}

function reqString(o: Record<string, unknown>, key: string, path: string): string {
  const v = optString(o, key, path);
  if (!v) {
    throw new ValidationError(`${path}.${key} is required`, [
      { path: `${path}.${key}`, message: 'is required' },
    ]);
  }
  return v;
}

function asVendorEvent(v: unknown, path: string): VendorEvent {
  if (!isRecord(v))
    throw new ValidationError(`${path} must be an object`, [{ path, message: 'must be an object' }]);
  const occurredAt = reqString(v, 'occurredAt', path);
  if (Number.isNaN(Date.parse(occurredAt))) {
    throw new ValidationError(`${path}.occurredAt is not a date`, [
      { path: `${path}.occurredAt`, message: 'must be an ISO 8601 date-time' },
    ]);
  }
  return {
    id: reqString(v, 'id', path),
    type: reqString(v, 'type', path),
    letterId: reqString(v, 'letterId', path),
    reference: optString(v, 'reference', path),
    documentId: optString(v, 'documentId', path),
    occurredAt,
    trackingNumber: optString(v, 'trackingNumber', path),
    signer: optString(v, 'signer', path),
    returnReason: optString(v, 'returnReason', path),
    detail: optString(v, 'detail', path),
    livemode: typeof v.livemode === 'boolean' ? v.livemode : undefined,
  };
}

/** Normalises one vendor event (the shared mapping in post-events.ts). */
export function vendorEventToReceipt(e: VendorEvent, provider = 'print-vendor'): NormalisedReceipt {
  const mapping = postEventOutcome(e.type);
  const receipt: NormalisedReceipt = {
    provider,
    providerMessageId: e.letterId,
    notificationId: e.reference ?? null,
    outcome: mapping.outcome,
    providerStatus: e.type,
    occurredAt: new Date(e.occurredAt),
    sandbox: e.livemode === false,
    raw: JSON.parse(JSON.stringify(e)) as Json,
    dedupKey: `${provider}:event:${e.id}`,
  };
  if (mapping.postEvent) receipt.postEvent = mapping.postEvent;
  if (mapping.outcome === 'delivered' && e.signer) receipt.signer = e.signer;
  if (mapping.postEvent === 'returned') {
    receipt.returnReason = normaliseReturnReason(e.returnReason) ?? 'other';
    if (e.returnReason) receipt.errorCode = e.returnReason;
  }
  return receipt;
}

/**
 * Parses a vendor webhook body (one event), a list of events, or `{ events: [...] }` into receipts.
 * Throws ValidationError (with the path) when an event lacks id, type, letterId or a valid occurredAt.
 */
export function parseVendorEvents(json: unknown, provider = 'print-vendor'): NormalisedReceipt[] {
  let list: unknown[];
  let base: string;
  if (Array.isArray(json)) {
    list = json;
    base = '';
  } else if (isRecord(json) && Array.isArray(json.events)) {
    list = json.events;
    base = 'events';
  } else {
    return [vendorEventToReceipt(asVendorEvent(json, 'body'), provider)];
  }
  return list.map((e, i) => vendorEventToReceipt(asVendorEvent(e, `${base}[${i}]`), provider));
}
