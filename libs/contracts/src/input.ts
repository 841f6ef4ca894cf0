/**
 * The input policy every REST route and gRPC method applies (docs/api.md, "Input policy"):
 * bodies are scanned for depth and NUL characters before anything recursive touches them,
 * objects are strict (unknown fields refused), instants are strict RFC 3339, and every refusal
 * is a ValidationError naming the field.
 */
import { z } from 'zod';
import { CHANNELS, type Channel, type PostalAddress, ValidationError } from '#libs/core';

/** Deepest nesting of arrays/objects a JSON body (or gRPC `data_json`) may have. */
export const MAX_JSON_DEPTH = 64;

export type JsonScanProblem = { kind: 'depth'; depth: number } | { kind: 'nul' };

/**
 * One linear pass over JSON text, without parsing it: the nesting depth (outside strings) and
 * NUL characters, raw or as the `\u0000` escape (PostgreSQL cannot store U+0000 in text or jsonb).
 * Iterative, so a 5,000-deep body costs a loop, not a stack.
 */
export function scanJson(text: string, maxDepth = MAX_JSON_DEPTH): JsonScanProblem | null {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return { kind: 'nul' };
    if (inString) {
      if (c === 0x5c /* \ */) {
        if (text.charCodeAt(i + 1) === 0x75 /* u */ && text.slice(i + 2, i + 6) === '0000') {
          return { kind: 'nul' };
        }
        i++; // skip the escaped character
      } else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > maxDepth) return { kind: 'depth', depth };
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return null;
}

/** The ValidationError for a scan problem at `path` (`(body)`, `data_json`, `(line)`). */
export function scanError(problem: JsonScanProblem, path: string): ValidationError {
  return problem.kind === 'depth'
    ? new ValidationError(`The JSON is nested deeper than ${MAX_JSON_DEPTH} levels`, [
        { path, message: `nested deeper than ${MAX_JSON_DEPTH} levels` },
      ])
    : new ValidationError('The input contains a NUL character (U+0000)', [
        { path, message: 'NUL characters (U+0000) are not allowed' },
      ]);
}

/** Parses JSON text after the scan; throws ValidationError naming `path`. */
export function parseJsonText(text: string, path: string): unknown {
  const problem = scanJson(text);
  if (problem) throw scanError(problem, path);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('The input is not valid JSON', [{ path, message: 'malformed JSON' }]);
  }
}

/**
 * Finds the first string holding U+0000 in an already-decoded value (gRPC messages, query
 * strings, form bodies); iterative and bounded by `maxNodes`.
 */
export function findNul(value: unknown, root = '', maxNodes = 100_000): string | null {
  const stack: [unknown, string][] = [[value, root]];
  let seen = 0;
  while (stack.length && seen++ < maxNodes) {
    const [v, path] = stack.pop() as [unknown, string];
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return path || '(body)';
    } else if (Buffer.isBuffer(v)) {
      continue;
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push([x, path ? `${path}.${i}` : String(i)]));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('\u0000')) return path ? `${path}.${k.split('\u0000').join('\\u0000')}` : '(key)';
        stack.push([x, path ? `${path}.${k}` : k]);
      }
    }
  }
  return null;
}

export function refuseNul(value: unknown, root = ''): void {
  const path = findNul(value, root);
  if (path !== null) throw scanError({ kind: 'nul' }, path);
}

// RFC 3339 section 5.6 `date-time`: full date, `T`, full time with seconds, offset required.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** A strict RFC 3339 instant, or null. Calendar-checked: `2026-02-30T…` is refused. */
export function parseRfc3339(raw: string): Date | null {
  const m = RFC3339.exec(raw);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, , , oh, om] = m;
  const month = Number(mo);
  const day = Number(d);
  const daysIn = new Date(Date.UTC(Number(y), month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysIn) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return null;
  if (oh !== undefined && (Number(oh) > 23 || Number(om) > 59)) return null;
  const t = Date.parse(raw.replace(/:60(\.\d+)?([Zz]|[+-])/, ':59$1$2'));
  return Number.isNaN(t) ? null : new Date(t);
}

/** zod: a strict RFC 3339 instant, as a Date. */
export const Rfc3339Instant = z.string().transform((raw, ctx) => {
  const d = parseRfc3339(raw);
  if (!d) {
    ctx.addIssue({
      code: 'custom',
      message: 'not an RFC 3339 date-time with offset (e.g. 2026-12-31T16:00:00Z)',
    });
    return z.NEVER;
  }
  return d;
});

/** Path of each zod issue, joined with dots; `(body)` for the root. */
export function zodFields(e: z.ZodError): { path: string; message: string }[] {
  return e.issues.map((i) => {
    const base = i.path.map(String).join('.');
    // An unknown field names itself, not its parent.
    if (i.code === 'unrecognized_keys') {
      const keys = (i as { keys?: string[] }).keys ?? [];
      if (keys.length)
        return { path: keys.map((k) => (base ? `${base}.${k}` : k)).join(', '), message: 'unknown field' };
    }
    return { path: base || '(body)', message: i.message };
  });
}

/** Parses `body` with `schema`; a refusal is one ValidationError listing every field. */
export function parseStrict<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const res = schema.safeParse(body ?? {});
  if (res.success) return res.data;
  const fields = zodFields(res.error);
  throw new ValidationError(`Invalid ${what}: ${fields.map((f) => f.path).join(', ')}`, fields);
}

const Reason = z.string().max(500);

/** `PUT /v1/cases/:caseId/hold` (and gRPC `Hold`). The "in the future" check needs the clock: HoldsService. */
export const HoldBodySchema = z.strictObject({
  kind: z.string(),
  until: Rfc3339Instant.nullable().optional(),
  reason: Reason.optional(),
});

export const PostalAddressInput = z.strictObject({
  country: z.string().length(2).default('CN'),
  province: z.string().max(64).optional(),
  city: z.string().max(64).optional(),
  district: z.string().max(64).optional(),
  street: z.string().min(1).max(256),
  postcode: z.string().min(3).max(12),
  lines: z.array(z.string().max(256)).max(6).optional(),
});

export const OPT_OUT_REASONS = ['opt_out', 'complaint', 'contact_refused'] as const;

/** `POST /v1/opt-outs`: a phone number or email as text, or a postal address for letters. */
export const OptOutBodySchema = z.strictObject({
  address: z.union([z.string().min(1).max(320), PostalAddressInput]),
  channel: z.enum(['*', ...CHANNELS]).default('*'),
  reason: z.enum(OPT_OUT_REASONS).default('opt_out'),
});

export type OptOutBody = {
  address: string | PostalAddress;
  channel: Channel | '*';
  reason: (typeof OPT_OUT_REASONS)[number];
};

const CaseIdField = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, dot, dash, underscore; 1-64');

/** `POST /v1/evidence/verify`: one case, or every case chain in pages. */
export const VerifyBodySchema = z.union([
  z.strictObject({ caseId: CaseIdField }),
  z.strictObject({
    all: z.literal(true),
    after: CaseIdField.optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
  }),
]);

/** `POST /v1/notifications/:id/cancel`. */
export const CancelBodySchema = z.strictObject({ reason: Reason.optional() });

/** A calendar date `YYYY-MM-DD` that exists (2026-02-30 does not). */
const CalendarDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD')
  .refine((s) => {
    const [y, m, d] = s.split('-').map(Number);
    const t = new Date(Date.UTC(y, m - 1, d));
    return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
  }, 'not a calendar date');

/**
 * `PUT /v1/cases/:caseId/facts`: facts the legal-action eligibility reads that no template before
 * the legal stage carries. At least one of `lastPaymentDate` and `principal`; "not in the future"
 * needs the clock (LegalEvidenceService).
 */
export const CaseFactsBodySchema = z
  .strictObject({
    lastPaymentDate: CalendarDate.optional(),
    /** Outstanding principal in CNY, as a decimal string (`38000.00`). */
    principal: z
      .string()
      .regex(/^\d{1,13}(\.\d{1,2})?$/, 'an amount in CNY such as 38000.00')
      .optional(),
    /** Where the facts come from (the core banking extract, a statement), kept in the evidence. */
    note: Reason.optional(),
  })
  .refine((b) => b.lastPaymentDate !== undefined || b.principal !== undefined, {
    message: 'give lastPaymentDate and/or principal',
    path: ['lastPaymentDate'],
  });

export type CaseFactsBody = z.output<typeof CaseFactsBodySchema>;
