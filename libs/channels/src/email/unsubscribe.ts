/**
 * One-click unsubscribe (RFC 8058 / RFC 2369).
 *
 * Token format: `u1.<sealed>.<mac>` (URL-safe, no padding):
 * - `sealed` = base64url(iv[12] || AES-256-GCM(payload) || tag[16]); the address is personal data
 *   and must not be readable from a URL in an access log, so the payload is encrypted;
 * - `mac` = base64url(HMAC-SHA256(macKey, "u1." + sealed)), checked in constant time first.
 * All keys are derived from the one configured secret with HKDF-SHA256. Payload:
 * `{ a: address, n: notificationId, c: channel, iat: unix seconds }`. Tokens do not expire.
 * The IV is synthetic (HMAC-SHA256 of the payload under its own key, first 12 bytes): the same
 * subject and issue time give the same token, so a notification's email (which carries the
 * link in its signed, stored bytes) renders identically every time; a GCM nonce repeats only
 * for the same plaintext, which reveals nothing but that equality.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Channel } from '#libs/core';
import { CHANNELS, storedAddressKey } from '#libs/core';

export interface UnsubscribeSubject {
  /** The address (or number) to opt out, as normalised for sending. */
  address: string;
  notificationId: string;
  channel: Channel;
}

export interface VerifiedUnsubscribe extends UnsubscribeSubject {
  issuedAt: Date;
}

const VERSION = 'u1';

function keys(secret: string | Buffer): { enc: Buffer; mac: Buffer; iv: Buffer } {
  if (secret.length < 16) throw new Error('unsubscribe: the secret must be at least 16 bytes');
  const ikm = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const salt = Buffer.from('collection-notices/unsubscribe');
  return {
    enc: Buffer.from(hkdfSync('sha256', ikm, salt, 'enc', 32)),
    mac: Buffer.from(hkdfSync('sha256', ikm, salt, 'mac', 32)),
    iv: Buffer.from(hkdfSync('sha256', ikm, salt, 'iv', 32)),
  };
}

function mac(key: Buffer, sealed: string): Buffer {
  return createHmac('sha256', key).update(`${VERSION}.${sealed}`).digest();
}

/** Creates a signed, encrypted, URL-safe unsubscribe token. */
export function unsubscribeToken(
  secret: string | Buffer,
  subject: UnsubscribeSubject,
  issuedAt: Date = new Date(),
): string {
  const k = keys(secret);
  const payload = JSON.stringify({
    a: subject.address,
    n: subject.notificationId,
    c: subject.channel,
    iat: Math.floor(issuedAt.getTime() / 1000),
  });
  const iv = createHmac('sha256', k.iv).update(payload).digest().subarray(0, 12);
  const cipher = createCipheriv('aes-256-gcm', k.enc, iv);
  const ct = Buffer.concat([cipher.update(payload, 'utf8'), cipher.final()]);
  const sealed = Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64url');
  return `${VERSION}.${sealed}.${mac(k.mac, sealed).toString('base64url')}`;
}

/** Checks a token; returns its subject, or null when it is malformed, altered or made with another secret. */
export function verifyUnsubscribeToken(secret: string | Buffer, token: string): VerifiedUnsubscribe | null {
  if (typeof token !== 'string' || token.length > 2048) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return null;
  const [, sealed, sig] = parts;
  if (!/^[A-Za-z0-9_-]+$/.test(sealed) || !/^[A-Za-z0-9_-]+$/.test(sig)) return null;
  const k = keys(secret);
  const expected = mac(k.mac, sealed);
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const buf = Buffer.from(sealed, 'base64url');
  if (buf.length < 12 + 16 + 2) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', k.enc, buf.subarray(0, 12));
    decipher.setAuthTag(buf.subarray(buf.length - 16));
    const plain = Buffer.concat([decipher.update(buf.subarray(12, buf.length - 16)), decipher.final()]);
    const p = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
    if (typeof p.a !== 'string' || typeof p.n !== 'string' || typeof p.iat !== 'number') return null;
    if (!(CHANNELS as readonly unknown[]).includes(p.c)) return null;
    // Matched on the same key as sends and opt-outs (tokens issued before kept the address as sent).
    return {
      address: storedAddressKey(p.c as Channel, p.a),
      notificationId: p.n,
      channel: p.c as Channel,
      issuedAt: new Date(p.iat * 1000),
    };
  } catch {
    return null;
  }
}

export interface ListUnsubscribeHeaders {
  'List-Unsubscribe': string;
  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click';
  [header: string]: string;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

/**
 * The RFC 8058 header pair. `url` must be https (http is allowed for loopback hosts, for tests);
 * `mailto` (an address or a `mailto:` URI) is listed second as the RFC 2369 fallback.
 */
export function listUnsubscribeHeaders(url: string, mailto?: string): ListUnsubscribeHeaders {
  const u = new URL(url);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) {
    throw new Error(`listUnsubscribeHeaders: one-click unsubscribe needs an https URL, got ${u.protocol}`);
  }
  const uris = [`<${u.toString()}>`];
  if (mailto) {
    const m = mailto.startsWith('mailto:') ? mailto : `mailto:${mailto}`;
    if (/[\s<>]/.test(m)) throw new Error('listUnsubscribeHeaders: invalid mailto');
    uris.push(`<${m}>`);
  }
  return { 'List-Unsubscribe': uris.join(', '), 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}
