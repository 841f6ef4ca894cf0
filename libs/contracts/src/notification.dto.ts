import { z } from 'zod';
import {
  CHANNELS,
  emailKey,
  LOCALES,
  phoneKey,
  RECIPIENT_ROLES,
  type Recipient,
  STAGES,
  ValidationError,
} from '#libs/core';
import { PostalAddressInput, zodFields } from './input.js';

const knownZones = new Map<string, boolean>();

/** IANA zone check; building an Intl formatter is costly, so answers are cached per zone. */
function isTimeZone(tz: string): boolean {
  let ok = knownZones.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    if (knownZones.size < 1000) knownZones.set(tz, ok);
  }
  return ok;
}

const PostalAddressSchema = PostalAddressInput;

export const RecipientSchema = z.strictObject({
  role: z.enum(RECIPIENT_ROLES),
  name: z.string().trim().min(1).max(128),
  phone: z
    .string()
    .max(32)
    .transform((raw, ctx) => {
      // The same key opt-outs are stored under (libs/core/src/address-key.ts).
      const key = phoneKey(raw);
      if (!key) {
        ctx.addIssue({
          code: 'custom',
          message: 'not a valid phone number (E.164 expected, e.g. +8613800138000)',
        });
        return z.NEVER;
      }
      return key;
    })
    .optional(),
  email: z
    .email()
    .max(254)
    .transform((e) => emailKey(e) ?? e.toLowerCase())
    .optional(),
  address: PostalAddressSchema.optional(),
  timeZone: z
    .string()
    .refine(isTimeZone, { message: 'not an IANA time zone (e.g. Asia/Shanghai)' })
    .default('Asia/Shanghai'),
});

export const CreateNotificationSchema = z.strictObject({
  caseId: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, dot, dash and underscore only'),
  channel: z.enum(CHANNELS),
  templateKey: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, 'dotted lower-case key, e.g. early.sms.reminder'),
  locale: z.enum(LOCALES).default('zh-CN'),
  recipient: RecipientSchema,
  data: z.record(z.string(), z.unknown()),
  /** Where this notice's status callbacks go, besides the caller's registered endpoints. */
  callbackUrl: z.string().min(1).max(2000).optional(),
});

export type CreateNotificationInput = z.output<typeof CreateNotificationSchema>;

const { channel: _channel, templateKey: _templateKey, ...commonShape } = CreateNotificationSchema.shape;

/** Automatic mode: `dpd` and/or `stage` instead of `channel` + `templateKey`; the stage policy picks. */
export const AutomaticNotificationSchema = z.strictObject({
  ...commonShape,
  dpd: z.number().int().min(-3650).max(36_500).optional(),
  stage: z.enum(STAGES).optional(),
});

export type AutomaticNotificationInput = z.output<typeof AutomaticNotificationSchema>;

/** A create request in either form: explicit (`channel` + `templateKey`) or automatic (`dpd` / `stage`). */
export type CreateNotificationRequest = CreateNotificationInput | AutomaticNotificationInput;

export function isAutomaticRequest(input: CreateNotificationRequest): input is AutomaticNotificationInput {
  return !('templateKey' in input);
}

function invalid(fields: { path: string; message: string }[]): ValidationError {
  return new ValidationError(
    `The request has ${fields.length} invalid field${fields.length > 1 ? 's' : ''}: ${fields
      .map((f) => f.path)
      .join(', ')}`,
    fields,
  );
}

const issuesOf = zodFields;

/**
 * Parses a request body in one of its two forms; throws ValidationError naming every offending
 * field (giving both forms, or neither, is an error too).
 */
export function parseCreateNotification(body: unknown): CreateNotificationRequest & { recipient: Recipient } {
  const obj =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : null;
  if (obj && ('dpd' in obj || 'stage' in obj)) {
    const fields: { path: string; message: string }[] = [];
    const rest = { ...obj };
    for (const k of ['channel', 'templateKey']) {
      if (k in rest) {
        fields.push({
          path: k,
          message: 'not allowed with dpd/stage: give either channel + templateKey, or dpd / stage',
        });
        delete rest[k];
      }
    }
    const res = AutomaticNotificationSchema.safeParse(rest);
    if (!res.success) fields.push(...issuesOf(res.error));
    if (fields.length || !res.success) throw invalid(fields);
    return res.data;
  }
  const res = CreateNotificationSchema.safeParse(body);
  if (!res.success) {
    const fields = issuesOf(res.error);
    if (obj && !('channel' in obj) && !('templateKey' in obj)) {
      fields.push({
        path: '(body)',
        message: 'give channel + templateKey (explicit) or dpd / stage (automatic)',
      });
    }
    throw invalid(fields);
  }
  return res.data;
}

export interface NotificationEventView {
  seq: number;
  type: string;
  occurredAt: string;
  recordedAt: string;
  payload: unknown;
  hash: string;
}

export interface NotificationView {
  id: string;
  caseId: string;
  channel: string;
  status: string;
  statusReason: string | null;
  template: { key: string; version: number; locale: string };
  recipient: { role: string; name: string; address: string };
  provider: string | null;
  providerMessageId: string | null;
  notBefore: string | null;
  /** The latest compliance gate decision (also in `events` as `compliance.decision`). */
  compliance: {
    phase: string;
    outcome: string;
    ruleId: string | null;
    until: string | null;
    reason: string | null;
  } | null;
  createdAt: string;
  updatedAt: string;
  events: NotificationEventView[];
}
