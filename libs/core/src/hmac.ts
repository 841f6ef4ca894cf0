import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The one webhook signature scheme of the service, inbound (email events, DSNs, print vendor)
 * and outbound (status callbacks to callers): hex HMAC-SHA256 of `${timestamp}.${rawBody}`,
 * with the timestamp in unix seconds sent alongside.
 */
export function signTimestamped(
  secret: string | Buffer,
  timestamp: string,
  rawBody: Buffer | string,
): string {
  return createHmac('sha256', secret)
    .update(`${timestamp}.`)
    .update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody)
    .digest('hex');
}

/**
 * Checks a timestamped signature. The signature header holds one hex digest or several separated
 * by commas (signed with old and new secret while rotating); each may carry a `v1=` prefix. The
 * timestamp (unix seconds) must be within `toleranceSec` of `now` either way.
 */
export function verifyTimestamped(
  secret: string | Buffer,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  rawBody: Buffer | string,
  now: Date,
  toleranceSec = 300,
): boolean {
  if (!secret || secret.length === 0) return false;
  if (!timestampHeader || !signatureHeader) return false;
  const ts = timestampHeader.trim();
  if (!/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(now.getTime() / 1000 - Number(ts)) > toleranceSec) return false;
  const expected = Buffer.from(signTimestamped(secret, ts, rawBody), 'hex');
  let ok = false;
  for (const part of signatureHeader.split(',')) {
    const hex = part.trim().replace(/^v1=/, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) continue;
    // Compare every candidate (no early exit) so timing does not tell which one matched.
    if (timingSafeEqual(Buffer.from(hex, 'hex'), expected)) ok = true;
  }
  return ok;
}
