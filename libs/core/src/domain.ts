/** Domain vocabulary shared by every lib. No Nest, no I/O. */

export const CHANNELS = ['sms', 'email', 'letter', 'voice'] as const;
export type Channel = (typeof CHANNELS)[number];

export const STAGES = ['reminder', 'early', 'mid', 'late', 'legal'] as const;
export type Stage = (typeof STAGES)[number];

export const RECIPIENT_ROLES = ['debtor', 'guarantor', 'contact'] as const;
export type RecipientRole = (typeof RECIPIENT_ROLES)[number];

export const LOCALES = ['zh-CN', 'en'] as const;
export type Locale = (typeof LOCALES)[number];

export interface PostalAddress {
  country: string;
  province?: string;
  city?: string;
  district?: string;
  street: string;
  postcode: string;
  lines?: string[];
}

export interface Recipient {
  role: RecipientRole;
  name: string;
  phone?: string;
  email?: string;
  address?: PostalAddress;
  timeZone: string;
}

/** Normalised notification statuses (DESIGN.md section 3). */
export const STATUSES = [
  'accepted',
  'scheduled',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'suppressed',
  'cancelled',
] as const;
export type NotificationStatus = (typeof STATUSES)[number];

export const FINAL_STATUSES: ReadonlySet<NotificationStatus> = new Set([
  'delivered',
  'undelivered',
  'failed',
  'suppressed',
  'cancelled',
]);

/** Statuses in which the pipeline still owes work (the sweeper's worklist). */
export const PENDING_STATUSES: readonly NotificationStatus[] = ['accepted', 'scheduled', 'sending'];

export function isFinal(status: NotificationStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/**
 * Delivery progress rank. A receipt may only move a notification forward, so duplicate
 * and out-of-order provider callbacks never regress a status (a late `sent` after
 * `delivered` is recorded as evidence but changes nothing).
 */
const RANK: Record<NotificationStatus, number> = {
  accepted: 0,
  scheduled: 1,
  sending: 2,
  sent: 3,
  delivered: 4,
  undelivered: 4,
  failed: 4,
  suppressed: 4,
  cancelled: 4,
};

export function canAdvance(from: NotificationStatus, to: NotificationStatus): boolean {
  if (isFinal(from)) return false;
  return RANK[to] > RANK[from];
}

/** What a provider receipt says happened, normalised across providers. */
export type ReceiptOutcome = 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'unknown';

export function statusForOutcome(outcome: ReceiptOutcome): NotificationStatus | null {
  switch (outcome) {
    case 'sent':
    case 'delivered':
    case 'undelivered':
    case 'failed':
      return outcome;
    default:
      return null;
  }
}
