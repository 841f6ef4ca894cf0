/**
 * The one normalisation of a recipient address into the key every table matches on
 * (`notifications.recipient_address`, `opt_outs.address`, `contact_log.address`): sends,
 * opt-outs, refusals, unsubscribes and complaints all go through these functions, so a number
 * typed as `139-4332-1315`, `+86 139 4332 1315` or `13943321315` is one key, `+8613943321315`.
 * Postal addresses have their own key (`postalKey` in libs/channels/src/letter/address.ts).
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/max/metadata';

/** The region a number without a `+` country code is read in. */
export const DEFAULT_PHONE_REGION = 'CN';

// Digits with the usual separators only: libphonenumber would otherwise pick a number out of text.
const PHONE_CHARS = /^\+?[0-9 ()\-.\u00a0]{3,40}$/;
// The shape zod's `z.email()` accepts (the one the request schema uses for recipient.email).
const EMAIL =
  /^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/;

/** E.164 form of a phone number, or null when it is not a valid number. */
export function phoneKey(raw: string, region = DEFAULT_PHONE_REGION): string | null {
  const s = raw.trim();
  if (!PHONE_CHARS.test(s)) return null;
  const parsed = parsePhoneNumberFromString(s, region as 'CN', metadata);
  return parsed && parsed.isValid() ? parsed.number : null;
}

/** Trimmed, lower-cased email address, or null when it is not one. */
export function emailKey(raw: string): string | null {
  const s = raw.trim();
  if (s.length > 254 || !EMAIL.test(s)) return null;
  return s.toLowerCase();
}

export type AddressKind = 'phone' | 'email';

export type AddressKeyResult = { ok: true; key: string; kind: AddressKind } | { ok: false; message: string };

/**
 * The matching key of a phone number or email address given as text (an opt-out, a refusal,
 * an unsubscribe): E.164 for numbers, lower case for email. `kind` restricts what is accepted.
 */
export function addressKey(raw: string, kind?: AddressKind): AddressKeyResult {
  const s = raw.trim();
  const looksEmail = s.includes('@');
  if (kind !== 'phone' && looksEmail) {
    const key = emailKey(s);
    return key ? { ok: true, key, kind: 'email' } : { ok: false, message: 'not a valid email address' };
  }
  if (kind !== 'email' && !looksEmail) {
    const key = phoneKey(s);
    return key
      ? { ok: true, key, kind: 'phone' }
      : { ok: false, message: 'not a valid phone number (e.g. +8613800138000 or 13800138000)' };
  }
  return {
    ok: false,
    message: kind === 'phone' ? 'a phone number is expected' : 'an email address is expected',
  };
}

/**
 * The key of an address already stored or carried in a token for `channel`: numbers and emails
 * normalised as above; anything else (postal keys, text that does not parse) trimmed, lower-cased
 * as before, so an older row still matches itself.
 */
export function storedAddressKey(channel: string, raw: string): string {
  // Channels addressed by a phone number (SMS, voice calls).
  if (channel === 'sms' || channel === 'voice') return phoneKey(raw) ?? raw.trim();
  if (channel === 'email') return emailKey(raw) ?? raw.trim().toLowerCase();
  if (channel === 'letter') return raw.trim();
  const k = addressKey(raw);
  return k.ok ? k.key : raw.trim().toLowerCase();
}
