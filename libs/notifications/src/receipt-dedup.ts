import { createHash } from 'node:crypto';
import type { NormalisedReceipt } from '#libs/channels';

const DAY_MS = 86_400_000;

/**
 * How a receipt reached us (`verification.via` of `ReceiptsService.ingest`) and how long its
 * dedup key must be kept (docs/evidence.md, "Replays").
 *
 * Inbound requests whose signature covers a timestamp (5-minute tolerance: email events, DSNs,
 * the print vendor) can be replayed only inside that tolerance; the provider's own retries
 * re-sign with a fresh timestamp, for at most its retry window. Their dedup keys are released
 * `retention` after receipt, never sooner than the window. Twilio's signature covers no time (a
 * captured callback verifies forever), tracking imports are operator uploads and sandbox
 * receipts are our own: their keys are kept as long as the receipt.
 */
export const SIGNED_TIMESTAMP_RETRY_WINDOW_MS: Readonly<Record<string, number>> = {
  // Common ESP webhook retry windows are 8 h to 72 h (SendGrid: 72 h); DSNs are posted by our relay.
  'email-events': 3 * DAY_MS,
  dsn: 3 * DAY_MS,
  // docs/post.md: the vendor retries a webhook with backoff for up to 72 h.
  'vendor-webhook': 3 * DAY_MS,
};

/** The smallest retention the config may set (the longest retry window above). */
export const MIN_DEDUP_RETENTION_MS = Math.max(...Object.values(SIGNED_TIMESTAMP_RETRY_WINDOW_MS));

/**
 * The receipt's dedup key: the provider's own (event id; Twilio sid + status + digest), else one
 * derived from the event's content for DSNs, tracking rows and sandbox receipts. Receipts we
 * fetched ourselves (`poll`) have none: each poll is a new observation.
 */
export function dedupKeyOf(r: NormalisedReceipt, via: string): string | null {
  if (r.dedupKey) return r.dedupKey;
  if (via === 'poll') return null;
  const digest = createHash('sha256')
    .update(
      JSON.stringify([
        r.providerMessageId,
        r.notificationId,
        r.providerStatus,
        r.outcome,
        r.occurredAt.toISOString(),
        withoutLine(r.raw),
      ]),
    )
    .digest('hex');
  return `${r.provider}:${via}:${digest}`.slice(0, 200);
}

/** When the key may be released (epoch ms), or null: kept as long as the receipt. */
export function dedupExpiresAt(via: string, receivedAt: number, retentionMs: number): number | null {
  const window = SIGNED_TIMESTAMP_RETRY_WINDOW_MS[via];
  if (window === undefined) return null;
  return receivedAt + Math.max(window, retentionMs);
}

/** A tracking row's line number is where it sat in one upload, not part of the event. */
function withoutLine(raw: NormalisedReceipt['raw']): NormalisedReceipt['raw'] {
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'line' in raw) {
    const { line: _line, ...rest } = raw;
    return rest;
  }
  return raw;
}
