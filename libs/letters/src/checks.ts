import { TemplateDataError, type ProblemField } from '#libs/core';
import { loadLetterFonts, type LetterFonts } from './fonts.js';
import { addressWindowProblems } from './layout.js';
import type { LetterInput } from './types.js';

/*
 * Checks a letter can pass before it is accepted (all pure apart from the cached font tables), each naming the
 * request field at fault. They run at accept (libs/notifications ArtifactRenderer.precheckLetter) on the same
 * LetterInput the renderer later paints, so a letter that passes them renders, and one that fails is a 422.
 */

/** A request value that ends up in the letter, with the path the 422 names (`recipient.name`, `data.x`). */
export interface LetterSource {
  path: string;
  value: unknown;
}

/** `U+20BB7` */
export function codePointLabel(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

function describe(cps: number[]): string {
  return cps.map((cp) => `"${String.fromCodePoint(cp)}" (${codePointLabel(cp)})`).join(', ');
}

function walk(value: unknown, path: string, visit: (path: string, s: string) => void, depth = 0): void {
  if (depth > 32) return;
  if (typeof value === 'string') visit(path, value);
  else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`, visit, depth + 1));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k, visit, depth + 1);
  }
}

/** Every painted text of the letter, as the layout receives it. */
function letterTexts(input: LetterInput): string[] {
  return [
    input.title,
    input.bodyMarkdown,
    ...(input.attachments ?? []).flatMap((a) => [a.title, a.bodyMarkdown]),
    input.recipient.name,
    ...input.recipient.addressLines,
    input.recipient.postcode ?? '',
    input.bank.name,
    ...input.bank.addressLines,
    input.bank.postcode ?? '',
    input.bank.phone,
    input.bank.website ?? '',
    input.documentId,
    input.caseId,
    input.verifyUrl,
  ];
}

/**
 * Characters no font of the chain (main font, then the fallbacks) has a glyph for: one problem per source field
 * that contains any, naming the characters and their code points. Anything else uncovered in the letter (template
 * wording, bank identity) is reported under `letter`.
 */
export function glyphProblems(
  sources: LetterSource[],
  input: LetterInput,
  fonts: LetterFonts = loadLetterFonts(),
): ProblemField[] {
  const out: ProblemField[] = [];
  const seen = new Set<number>();
  for (const src of sources) {
    walk(src.value, src.path, (path, s) => {
      const cps = fonts.uncovered(s);
      if (cps.length === 0) return;
      for (const cp of cps) seen.add(cp);
      out.push({ path, message: `contains ${describe(cps)}, which no letter font can print` });
    });
  }
  const rest = fonts.uncovered(letterTexts(input).join('\n')).filter((cp) => !seen.has(cp));
  if (rest.length)
    out.push({
      path: 'letter',
      message: `the letter contains ${describe(rest)}, which no letter font can print`,
    });
  return out;
}

const MONEY = /^(\d{1,13})(?:\.(\d{1,2}))?$/;

/** A non-negative decimal amount (`"1234.5"`, `"1234.56"`) in cents, exactly; null when it is not one. */
export function toCents(value: unknown): bigint | null {
  const s = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof s !== 'string') return null;
  const m = MONEY.exec(s.trim());
  if (!m) return null;
  return BigInt(m[1]) * 100n + BigInt((m[2] ?? '0').padEnd(2, '0'));
}

const fromCents = (c: bigint): string => `${c / 100n}.${String(c % 100n).padStart(2, '0')}`;

/** The total and the parts it must be the sum of, by data field name. */
export const AMOUNT_TOTAL = 'outstandingBalance';
export const AMOUNT_PRINCIPAL = 'principal';
export const AMOUNT_CHARGES = ['interestAndFees', 'interest', 'fees', 'penalty'] as const;

/**
 * `data.outstandingBalance` must equal `principal` plus the interest and fee fields present (`interestAndFees`, or
 * `interest`, `fees`, `penalty`), compared exactly in cents. Checked only when the total, the principal and at
 * least one charge are present and are amounts (the template schema reports malformed ones).
 */
export function amountProblems(data: Record<string, unknown>): ProblemField[] {
  const total = toCents(data[AMOUNT_TOTAL]);
  const principal = toCents(data[AMOUNT_PRINCIPAL]);
  const charges = AMOUNT_CHARGES.filter((k) => data[k] !== undefined && data[k] !== null);
  if (total === null || principal === null || charges.length === 0) return [];
  const parts = charges.map((k) => toCents(data[k]));
  if (parts.some((p) => p === null)) return [];
  const sum = parts.reduce((a: bigint, b) => a + (b as bigint), principal);
  if (sum === total) return [];
  return [
    {
      path: `data.${AMOUNT_TOTAL}`,
      message: `must equal ${[AMOUNT_PRINCIPAL, ...charges].join(' + ')} = ${fromCents(sum)}, is ${fromCents(total)}`,
    },
  ];
}

/** Data fields holding a payment deadline (`YYYY-MM-DD`). */
export const DEADLINE_FIELDS = ['repayBy', 'paymentDeadline'] as const;

/** A payment deadline must fall after the letter's date (both calendar dates, `YYYY-MM-DD`). */
export function deadlineProblems(data: Record<string, unknown>, letterDate: string): ProblemField[] {
  const out: ProblemField[] = [];
  for (const k of DEADLINE_FIELDS) {
    const v = data[k];
    if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(v)) continue;
    if (v.slice(0, 10) <= letterDate) {
      out.push({
        path: `data.${k}`,
        message: `must be after the letter date ${letterDate}, is ${v.slice(0, 10)}`,
      });
    }
  }
  return out;
}

/**
 * All accept-time checks of a letter: glyph coverage per field, the address block in the envelope window (named
 * `addressPath`), amount arithmetic and the deadline. Throws {@link TemplateDataError} (422) listing every problem.
 */
export function preflightLetter(
  input: LetterInput,
  options: {
    sources: LetterSource[];
    data: Record<string, unknown>;
    addressPath?: string;
    /** false: skip the envelope-window check (a copy that is not posted). */
    window?: boolean;
    fonts?: LetterFonts;
  },
): void {
  const fonts = options.fonts ?? loadLetterFonts();
  const fields = glyphProblems(options.sources, input, fonts);
  // The window check measures glyphs: only meaningful once every character has one.
  if (fields.length === 0 && options.window !== false) {
    for (const f of addressWindowProblems(input, fonts))
      fields.push({ path: options.addressPath ?? f.path, message: f.message });
  }
  fields.push(...amountProblems(options.data), ...deadlineProblems(options.data, input.date));
  if (fields.length > 0) {
    throw new TemplateDataError(
      `The letter cannot be printed as requested (${fields.length} problem(s))`,
      fields,
    );
  }
}
