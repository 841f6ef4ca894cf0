/**
 * Personal data never reaches the logs: keys that name personal fields are replaced whole
 * (`redactDeep`), and every string is scrubbed of phone numbers, emails, card and ID numbers
 * and street addresses (`scrub`), so free text (error messages, URLs) is covered too.
 */

/** Object keys whose values are replaced whole, at any depth (case-insensitive). */
const SENSITIVE_KEYS = new Set(
  [
    'phone',
    'phones',
    'mobile',
    'email',
    'address',
    'addresses',
    'street',
    'lines',
    'postcode',
    'recipient',
    'recipientaddress',
    'recipient_address',
    'idnumber',
    'idcard',
    'nationalid',
    'cardnumber',
    'pan',
    'to',
    'from',
    'authorization',
    'cookie',
    'set-cookie',
    'x-api-key',
    'password',
    'secret',
    'token',
    'key',
  ].map((k) => k.toLowerCase()),
);

export const REDACTED = '[redacted]';

const CJK = '\\u3400-\\u9fff';
const ROAD = '路|街|巷|弄|道|胡同|里|村|小区|大厦|花园|公寓';
const UNIT = '号|室|栋|幢|楼|单元|层';

/**
 * One pass, alternatives in priority order; UUIDs and ISO timestamps are matched first and
 * kept, so ids and times in log lines survive.
 */
const PATTERN = new RegExp(
  [
    // keep: UUIDs, ISO dates/times
    '(?<keep>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?)',
    // credentials: generated API keys (api-keys.store.ts) and bearer tokens
    '(?<secret>\\bcns_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}|\\bBearer\\s+[A-Za-z0-9._~+/=-]+)',
    '(?<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,})',
    // PRC resident ID (18, last may be X) and any other long digit run (cards, phones)
    '(?<id>(?<![0-9A-Za-z])\\d{17}[0-9Xx](?![0-9A-Za-z]))',
    '(?<num>(?<![0-9A-Za-z])\\+?\\(?\\d[\\d ()\\-./]{5,}\\d(?![0-9A-Za-z]))',
    // Chinese street address: a CJK run with a road word, then a number and a unit
    `(?<cnaddr>[${CJK}0-9A-Za-z\\-#]*(?:${ROAD})[${CJK}0-9A-Za-z\\-#]*?\\d+\\s*(?:${UNIT})[${CJK}0-9A-Za-z\\-#]*)`,
    // English street address: number + words + street type
    "(?<enaddr>\\b\\d{1,6}[A-Za-z]?\\s+(?:[A-Za-z][A-Za-z.']*\\s+){0,4}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq|Terrace|Highway|Hwy)\\b\\.?)",
  ].join('|'),
  'g',
);

/** Replaces personal data in free text. */
export function scrub(text: string): string {
  if (text.length === 0) return text;
  return text.replace(PATTERN, (match: string, ...rest: unknown[]) => {
    const groups = rest[rest.length - 1] as Record<string, string | undefined>;
    if (groups.keep !== undefined) return match;
    if (groups.secret !== undefined) return REDACTED;
    if (groups.email !== undefined) return '[email]';
    if (groups.id !== undefined) return '[id-number]';
    if (groups.num !== undefined) {
      const digits = match.replace(/\D/g, '').length;
      // 7+ digits with a leading +, otherwise 9+: phone, card, account or ID numbers.
      return digits >= 9 || (match.startsWith('+') && digits >= 7) ? '[number]' : match;
    }
    return '[address]';
  });
}

/** Deep copy with sensitive keys replaced and every string scrubbed. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[depth]';
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value instanceof Error) {
    return {
      type: value.name,
      message: scrub(value.message),
      stack: value.stack ? scrub(value.stack) : undefined,
    };
  }
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  // Class instances (http request/response...) are left to their pino serializers.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] =
      SENSITIVE_KEYS.has(k.toLowerCase()) && v !== null && v !== undefined
        ? REDACTED
        : redactDeep(v, depth + 1);
  }
  return out;
}

/**
 * Query parameters that carry credentials: one-click unsubscribe tokens (`t`), keys, signatures.
 * Their values are replaced whole in logged URLs: a token in an access log is a working link.
 */
const SECRET_PARAMS =
  /^(t|token|key|api[_-]?key|apikey|access[_-]?token|sig|signature|x-amz-signature|secret|password|auth|code)$/i;

/** A request URL for the access log: credential parameters replaced, the rest scrubbed. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return scrub(url);
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        /* keep the raw name */
      }
      return eq >= 0 && SECRET_PARAMS.test(decoded) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
  return scrub(`${url.slice(0, q)}?${query}`);
}
