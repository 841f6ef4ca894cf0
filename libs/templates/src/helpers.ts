/**
 * The whitelisted template helpers, and the pure formatting functions behind them.
 * Helpers never touch the outside world: no clock, no I/O, no editor-supplied code.
 */
import type { Locale } from '#libs/core';

/** Thrown by a helper given a value it cannot format; the renderer reports it as a template data problem. */
export class TemplateHelperError extends Error {
  constructor(
    readonly helper: string,
    message: string,
  ) {
    super(`${helper}: ${message}`);
    this.name = 'TemplateHelperError';
  }
}

interface Decimal {
  negative: boolean;
  /** Integer part, digits only, no leading zeros (except `0`). */
  int: string;
  /** Exactly two digits. */
  cents: string;
}

const DECIMAL_RE = /^(-)?(\d+)(?:\.(\d{1,2}))?$/;

/** Parses a CNY amount given as a decimal string (`"12345.6"`) or a finite number into yuan and cents. */
export function parseAmount(value: unknown, helper = 'amount'): Decimal {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TemplateHelperError(helper, `not a finite amount: ${value}`);
    text = value.toFixed(2);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw new TemplateHelperError(helper, `expected a decimal amount, got ${describe(value)}`);
  }
  const m = DECIMAL_RE.exec(text);
  if (!m) throw new TemplateHelperError(helper, `not a decimal amount with at most 2 decimals: "${text}"`);
  const int = m[2].replace(/^0+(?=\d)/, '');
  const cents = (m[3] ?? '').padEnd(2, '0');
  const negative = m[1] === '-' && !(int === '0' && cents === '00');
  return { negative, int, cents };
}

/** `12345.6` -> `12,345.60` (no currency sign; templates add `元` / `CNY`). */
export function formatCny(value: unknown): string {
  const { negative, int, cents } = parseAmount(value, 'cny');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}.${cents}`;
}

const CN_DIGITS = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const CN_UNITS = ['', '拾', '佰', '仟'];
const CN_SECTIONS = ['', '万', '亿', '万亿'];

function chineseInteger(int: string): string {
  if (int.length > 16)
    throw new TemplateHelperError('cnyUpper', 'amount too large (more than 16 integer digits)');
  let out = '';
  let zeroPending = false;
  let sectionHasDigit = false;
  for (let i = 0; i < int.length; i++) {
    const pos = int.length - 1 - i;
    const d = int.charCodeAt(i) - 48;
    if (d === 0) {
      zeroPending = out.length > 0;
    } else {
      if (zeroPending) out += '零';
      zeroPending = false;
      out += CN_DIGITS[d] + CN_UNITS[pos % 4];
      sectionHasDigit = true;
    }
    if (pos % 4 === 0) {
      if (sectionHasDigit) {
        out += CN_SECTIONS[pos / 4];
        // Zeros at the end of a section are absorbed by its unit (壹拾万柒仟, not 壹拾万零柒仟).
        zeroPending = false;
      }
      sectionHasDigit = false;
    }
  }
  return out;
}

/**
 * Amount in Chinese capital numerals as written on cheques and bank documents
 * (`12345.67` -> `壹万贰仟叁佰肆拾伍元陆角柒分`). Follows the payment-settlement writing rules:
 * `整` after an amount that ends at 元 (not after 角 or 分); `零` when the 角 digit is 0 but the 分 digit
 * is not (`100.05` -> `壹佰元零伍分`), and after a 元 digit of 0 followed by 角 (`1680.32` ->
 * `壹仟陆佰捌拾元零叁角贰分`); one `零` for a run of zeros inside the integer; no `零元` for amounts
 * under one yuan (`0.50` -> `伍角`). Negative amounts are prefixed with `负`.
 */
export function cnyToChineseCapital(value: unknown): string {
  const { negative, int, cents } = parseAmount(value, 'cnyUpper');
  const jiao = cents.charCodeAt(0) - 48;
  const fen = cents.charCodeAt(1) - 48;
  const hasInt = int !== '0';
  let out = negative ? '负' : '';
  if (!hasInt && jiao === 0 && fen === 0) return `${out}零元整`;
  if (hasInt) out += `${chineseInteger(int)}元`;
  if (jiao === 0 && fen === 0) return `${out}整`;
  if (jiao !== 0) {
    if (hasInt && int.endsWith('0')) out += '零';
    out += `${CN_DIGITS[jiao]}角`;
  }
  if (fen !== 0) {
    if (jiao === 0 && hasInt) out += '零';
    out += `${CN_DIGITS[fen]}分`;
  }
  return out;
}

const EN_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Calendar date `YYYY-MM-DD` -> `2026年11月1日` (zh-CN) or `1 November 2026` (en). No time zone involved. */
export function formatDate(value: unknown, locale: Locale): string {
  if (typeof value !== 'string')
    throw new TemplateHelperError('date', `expected a YYYY-MM-DD string, got ${describe(value)}`);
  const m = DATE_RE.exec(value);
  if (!m) throw new TemplateHelperError('date', `expected a YYYY-MM-DD string, got "${value}"`);
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const check = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) {
    throw new TemplateHelperError('date', `not a calendar date: "${value}"`);
  }
  if (locale === 'zh-CN') return `${year}年${month}月${day}日`;
  return `${day} ${EN_MONTHS[month - 1]} ${year}`;
}

function digitsOf(value: unknown, helper: string): string {
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new TemplateHelperError(helper, `expected a string, got ${describe(value)}`);
  }
  return String(value).replace(/[\s-]/g, '');
}

/** Card number or last four digits -> `**** 1234`. */
export function maskCardNumber(value: unknown): string {
  const digits = digitsOf(value, 'maskCard');
  if (!/^\d{4,19}$/.test(digits)) throw new TemplateHelperError('maskCard', 'expected 4 to 19 digits');
  return `**** ${digits.slice(-4)}`;
}

/** Mainland mobile number -> `138****8000` (first 3, last 4). A `+86`/`86` prefix is dropped. */
export function maskPhoneNumber(value: unknown): string {
  let digits = digitsOf(value, 'maskPhone').replace(/^\+/, '');
  if (digits.length === 13 && digits.startsWith('86')) digits = digits.slice(2);
  if (!/^\d{7,15}$/.test(digits)) throw new TemplateHelperError('maskPhone', 'expected 7 to 15 digits');
  return `${digits.slice(0, 3)}${'*'.repeat(digits.length - 7)}${digits.slice(-4)}`;
}

/** Resident ID number -> `1101**********1234` (first 4, last 4; the final character may be X). */
export function maskIdNumber(value: unknown): string {
  const id = digitsOf(value, 'maskId').toUpperCase();
  if (!/^[0-9A-Z]{9,20}$/.test(id))
    throw new TemplateHelperError('maskId', 'expected 9 to 20 letters or digits');
  return `${id.slice(0, 4)}${'*'.repeat(id.length - 8)}${id.slice(-4)}`;
}

/** `plural 1 "day" "days"` -> `1 day`; `plural 7 "day" "days"` -> `7 days`. */
export function pluralize(count: unknown, singular: unknown, plural: unknown): string {
  if (typeof count !== 'number' || !Number.isFinite(count)) {
    throw new TemplateHelperError('plural', `expected a number, got ${describe(count)}`);
  }
  if (typeof singular !== 'string' || typeof plural !== 'string') {
    throw new TemplateHelperError('plural', 'expected singular and plural words');
  }
  return `${count} ${count === 1 ? singular : plural}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (missing value)';
  if (value === null) return 'null';
  return typeof value;
}

/** Handlebars passes an options object last; helpers read the render locale from `@locale`. */
interface HelperOptions {
  data?: { locale?: Locale };
}

function localeOf(options: unknown): Locale {
  const data = (options as HelperOptions | undefined)?.data;
  return data?.locale ?? 'zh-CN';
}

function isHelperOptions(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'data' in value && 'hash' in value;
}

type Helper = (...args: unknown[]) => unknown;

/**
 * The project's helpers, by name. Together with the Handlebars built-ins `if`, `unless`, `each`, `with`
 * and `lookup` they are the only helpers a template may call (compiled with `knownHelpersOnly`).
 */
export const TEMPLATE_HELPERS: Readonly<Record<string, Helper>> = Object.freeze({
  cny: (value: unknown) => formatCny(value),
  cnyUpper: (value: unknown) => cnyToChineseCapital(value),
  date: (value: unknown, ...rest: unknown[]) => {
    const options = rest[rest.length - 1];
    const explicit = rest.length > 1 && !isHelperOptions(rest[0]) ? rest[0] : undefined;
    if (explicit !== undefined && explicit !== 'zh-CN' && explicit !== 'en') {
      throw new TemplateHelperError('date', `unknown locale "${String(explicit)}"`);
    }
    return formatDate(value, (explicit as Locale | undefined) ?? localeOf(options));
  },
  maskCard: (value: unknown) => maskCardNumber(value),
  maskPhone: (value: unknown) => maskPhoneNumber(value),
  maskId: (value: unknown) => maskIdNumber(value),
  plural: (count: unknown, singular: unknown, plural: unknown) => pluralize(count, singular, plural),
  eq: (a: unknown, b: unknown) => a === b,
});

export const BUILTIN_HELPERS = ['if', 'unless', 'each', 'with', 'lookup'] as const;

/** Names a template may call as helpers. */
export const ALLOWED_HELPERS: ReadonlySet<string> = new Set([
  ...BUILTIN_HELPERS,
  ...Object.keys(TEMPLATE_HELPERS),
]);

/** Helpers whose output reveals debt details (forbidden in third-party templates). */
export const DEBT_HELPERS: ReadonlySet<string> = new Set(['cny', 'cnyUpper', 'maskCard']);
