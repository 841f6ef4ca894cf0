import { z } from 'zod';
import { CHANNELS, LOCALES, STAGES, ValidationError } from '#libs/core';
import { AUDIENCES, SMS_PROVIDER_KINDS, type SmsProviderKind } from '../types.js';

/** Largest Handlebars source of one part. */
const MAX_SOURCE = 64 * 1024;
const source = z.string().max(MAX_SOURCE);

export const TemplatePartsSchema = z.strictObject({
  sms: source.optional(),
  voice: source.optional(),
  subject: source.optional(),
  html: source.optional(),
  text: source.optional(),
  letter: source.optional(),
  letterTitle: z.string().max(512).optional(),
  attachments: z
    .array(z.strictObject({ title: z.string().min(1).max(512), letter: source }))
    .max(10)
    .optional(),
});

/** A template's registration at a mainland SMS gateway, as definitions carry it (docs/templates.md). */
export const SmsRegistrationSchema = z.strictObject({
  kind: z.enum(SMS_PROVIDER_KINDS as unknown as [SmsProviderKind, ...SmsProviderKind[]]),
  locale: z.enum(LOCALES),
  templateCode: z.string().min(1).max(64),
  signName: z.string().min(1).max(64),
  text: z.string().min(1).max(1000),
  params: z
    .array(z.strictObject({ name: z.string().min(1).max(64), expr: z.string().min(1).max(1000) }))
    .max(32),
});

const jsonObject = z
  .record(z.string(), z.unknown())
  .refine((o) => JSON.stringify(o).length <= MAX_SOURCE, { message: 'too large' });

export const TEMPLATE_KEY_RE = /^[a-z]+\.[a-z]+\.[a-z0-9_]+$/;

/** What an editor may change in a draft. */
export const DraftPatchSchema = z.strictObject({
  description: z.string().max(2000).optional(),
  parts: TemplatePartsSchema.optional(),
  schema: jsonObject.optional(),
  exampleData: jsonObject.optional(),
  /** The revision the editor started from: a mismatch is a 409 (someone else saved in between). */
  revision: z.number().int().min(1).optional(),
});
export type DraftPatch = z.output<typeof DraftPatchSchema>;

export const DraftCreateSchema = z.strictObject({
  key: z.string().regex(TEMPLATE_KEY_RE, 'must look like <stage>.<channel>.<name>, e.g. early.sms.reminder'),
  locale: z.enum(LOCALES),
  /** Copy the content of this published version instead of the latest (the draft still publishes on top of the latest). */
  fromVersion: z.number().int().min(1).optional(),
  stage: z.enum(STAGES).optional(),
  channel: z.enum(CHANNELS).optional(),
  audience: z.enum(AUDIENCES as unknown as ['debtor', 'third_party']).optional(),
  description: z.string().max(2000).optional(),
  parts: TemplatePartsSchema.optional(),
  schema: jsonObject.optional(),
  exampleData: jsonObject.optional(),
});
export type DraftCreateInput = z.output<typeof DraftCreateSchema>;

/** Parses with a zod schema; throws ValidationError naming every offending field. */
export function parseWith<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
  const res = schema.safeParse(body ?? {});
  if (res.success) return res.data;
  const fields = res.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(body)',
    message: i.message,
  }));
  throw new ValidationError(`Invalid ${what}: ${fields.map((f) => f.path).join(', ')}`, fields);
}
