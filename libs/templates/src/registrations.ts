/**
 * Provider registrations of SMS templates. Mainland gateways (Aliyun, Tencent Cloud) send no free
 * text: a send names a pre-approved template code and sign name (签名) and fills the template's
 * variables. The service still renders its own SMS body (the text lint checked, the evidence
 * pins); the registration says how that body is expressed as an approved template. Filling one
 * therefore checks two things before anything goes to a gateway: every value keeps the gateway's
 * variable rules (a refused variable fails the send, or worse is cut), and the filled template says
 * exactly what the rendered body says (so the debtor reads what was reviewed).
 *
 * Pure functions: rendering a value is the caller's (see `registrationValueRenderer` in engine.ts).
 */
import { TemplateDataError, type Locale, type ProblemField } from '#libs/core';
import type { SmsProviderKind, SmsRegistration, TemplateDefinition } from './types.js';

export interface SmsProviderRules {
  /** A placeholder of the approved text; group 1 is the param's name (Aliyun) or number (Tencent). */
  placeholder: RegExp;
  /** Most characters (code points) in one variable value. */
  maxVariableLength: number;
  /** Whether a value may not contain a link (URL, bare domain, short link). */
  forbidLinks: boolean;
  /** Characters no value may contain (the gateway refuses or garbles them), or null. */
  forbiddenChars: RegExp | null;
}

/**
 * The gateways' variable rules, as published (checked December 2026; they change, see the sources):
 *
 * Aliyun (阿里云短信):
 * - `${name}` placeholders, the values sent as the TemplateParam JSON object.
 * - 35 characters per variable of a notification template (通知短信, templates applied for after
 *   2018-01-10: "变量限制为1至35个字符"), https://developer.aliyun.com/ask/220871 (Aliyun's answer on
 *   its developer forum). The current notification-template page
 *   (https://help.aliyun.com/document_detail/463270.htm) types variables by property; 35 is the
 *   general ceiling.
 * - `【】` are not allowed anywhere in the content (they delimit the sign name), nor the special
 *   symbols the same page lists (『』「」〖〗•①★※→...): 463270 "格式规范".
 * - Links: the same page allows a link only as fixed text of an ICP-registered domain ("链接规范");
 *   a variable that is a link is not what Aliyun approved, but Aliyun has a link variable
 *   property, so links are not refused here (Tencent's rule is the absolute one). No template of the
 *   pack puts a link in a variable.
 *
 * Tencent Cloud (腾讯云短信):
 * - `{1}`, `{2}`, ... placeholders, the values sent in order as TemplateParamSet.
 * - 12 characters per variable: "单个变量取值最多支持12个字", every Chinese character, letter, digit,
 *   punctuation mark or space counting as one (https://www.tencentcloud.com/zh/document/product/382/40653,
 *   the limit of personally verified accounts; enterprise accounts have no per-variable limit there,
 *   and the mainland FAQ https://cloud.tencent.com/document/product/382/13301 now says 6 characters
 *   for non-verification templates). 12 is the default here; an account with another limit passes
 *   its own (`smsVariableMaxLength` in lint, `rules` to `fillRegistration`).
 * - "模板中的变量参数不允许传链接（包含短链接）" (13301): no link in a variable.
 * - "[]" (the sign delimiters 【】), ¥, ★ and keyboard symbol combinations (☞ ✓ ※ ...) are not
 *   supported: https://tencentcloud.com/document/product/382/40659 "Format restrictions".
 */
export const PROVIDER_SMS_RULES: Record<SmsProviderKind, SmsProviderRules> = Object.freeze({
  aliyun: {
    placeholder: /\$\{([A-Za-z][A-Za-z0-9_]*)\}/g,
    maxVariableLength: 35,
    forbidLinks: false,
    forbiddenChars: /[【】『』「」〖〗•★※→①-⑳]/u,
  },
  tencent: {
    placeholder: /\{(\d+)\}/g,
    maxVariableLength: 12,
    forbidLinks: true,
    forbiddenChars: /[【】[\]¥★☞✓※]/u,
  },
});

/**
 * Looks like a link: a scheme, `www.`, or a host name with a common top-level domain (short links
 * such as `t.cn/xyz` included). Amounts (`5,620.00`) and dates do not match.
 */
const LINK_RE =
  /[a-z][a-z0-9+.-]*:\/\/|\bwww\.|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:cn|com|net|org|gov|edu|io|cc|me|top|xyz|info|biz|co|ly|gl|tv|vip|shop|link|site|online|app)\b/i;

/** Whether `value` contains something a gateway would take for a link. */
export function looksLikeLink(value: string): boolean {
  return LINK_RE.test(value);
}

/** What the service hands a gateway for one message (libs/channels `RegisteredSms`). */
export interface FilledRegistration {
  kind: SmsProviderKind;
  templateCode: string;
  signName: string;
  /** In the registration's order (Tencent: `1`..`n`). */
  params: { name: string; value: string }[];
  /** What the debtor reads: `【signName】` + the registered text with the values filled in. */
  text: string;
}

export type RegistrationRule = 'max-length' | 'link' | 'forbidden-char' | 'text-mismatch';

export interface RegistrationViolation {
  rule: RegistrationRule;
  /** The param concerned (absent for `text-mismatch`). */
  param?: string;
  message: string;
}

/**
 * A filled registration breaks its gateway's rules or says something other than the rendered
 * body. A `template_data` problem (422): the data (a value too long, a link) or the definition (a
 * registration not matching its body) cannot be sent through this gateway as it is. `fields` name
 * each param (`registrations.<kind>.params.<name>`) or the text (`registrations.<kind>.text`).
 */
export class SmsRegistrationError extends TemplateDataError {
  constructor(
    readonly kind: SmsProviderKind,
    readonly templateCode: string,
    readonly violations: RegistrationViolation[],
    key: string,
    locale: Locale,
  ) {
    super(
      `SMS template ${key} (${locale}) cannot be sent as ${kind} template ${templateCode}: ${violations
        .map((v) => v.message)
        .join('; ')}`,
      violations.map((v): ProblemField => ({
        path:
          v.param !== undefined ? `registrations.${kind}.params.${v.param}` : `registrations.${kind}.text`,
        message: v.message,
      })),
      { kind, templateCode, rules: [...new Set(violations.map((v) => v.rule))] },
    );
  }
}

/** The registration of `def` for a gateway kind and locale (default: the definition's), if any. */
export function registrationFor(
  def: Pick<TemplateDefinition, 'registrations' | 'locale'>,
  kind: SmsProviderKind,
  locale: Locale = def.locale,
): SmsRegistration | undefined {
  return def.registrations?.find((r) => r.kind === kind && r.locale === locale);
}

/** Substitutes `values` (by param name) into the registered text. Unknown placeholders are kept. */
export function substitute(text: string, placeholder: RegExp, values: ReadonlyMap<string, string>): string {
  const re = new RegExp(
    placeholder.source,
    placeholder.flags.includes('g') ? placeholder.flags : `${placeholder.flags}g`,
  );
  return text.replace(re, (whole: string, name: string) => values.get(name) ?? whole);
}

const SIGN_PREFIX_RE = /^【[^【】]*】/;

/** Where two texts first differ, with a little context on both sides (for messages). */
export function firstDifference(rendered: string, registered: string): string {
  const a = Array.from(rendered);
  const b = Array.from(registered);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const show = (chars: string[]) => {
    const part = chars.slice(Math.max(0, i - 12), i + 12).join('');
    return `${i > 12 ? '…' : ''}${part}${i + 12 < chars.length ? '…' : ''}`;
  };
  return `at character ${i + 1}: rendered "${show(a)}", registered "${show(b)}"`;
}

/**
 * Checks a registration filled with `values` against its gateway's rules and the rendered body.
 * Returns every violation (empty: it may be sent). The body is compared with and without its
 * `【…】` sign prefix: a body that starts with one must show the registration's sign name; only
 * trailing whitespace is ignored.
 */
export function checkRegistration(
  reg: SmsRegistration,
  values: { name: string; value: string }[],
  renderedBody: string,
  rules: SmsProviderRules = PROVIDER_SMS_RULES[reg.kind],
): { violations: RegistrationViolation[]; text: string } {
  const violations: RegistrationViolation[] = [];
  const label = (name: string) => (reg.kind === 'tencent' ? `{${name}}` : `\${${name}}`);
  for (const { name, value } of values) {
    const length = Array.from(value).length;
    if (length > rules.maxVariableLength) {
      violations.push({
        rule: 'max-length',
        param: name,
        message: `${reg.kind} variable ${label(name)} is ${length} characters ("${value}"), over the ${rules.maxVariableLength} a ${reg.kind} variable may have`,
      });
    }
    if (rules.forbidLinks && looksLikeLink(value)) {
      violations.push({
        rule: 'link',
        param: name,
        message: `${reg.kind} variable ${label(name)} ("${value}") looks like a link: ${reg.kind} refuses links in variables (write a fixed link into the registered text)`,
      });
    }
    const bad = rules.forbiddenChars
      ? new RegExp(rules.forbiddenChars.source, rules.forbiddenChars.flags.replace('g', '')).exec(value)
      : null;
    if (bad) {
      violations.push({
        rule: 'forbidden-char',
        param: name,
        message: `${reg.kind} variable ${label(name)} ("${value}") contains "${bad[0]}", which ${reg.kind} does not accept`,
      });
    }
  }
  const filled = substitute(reg.text, rules.placeholder, new Map(values.map((v) => [v.name, v.value])));
  const text = `【${reg.signName}】${filled}`;
  const body = renderedBody.trimEnd();
  const expected = SIGN_PREFIX_RE.test(body) ? text.trimEnd() : filled.trimEnd();
  if (body !== expected) {
    violations.push({
      rule: 'text-mismatch',
      message: `the filled ${reg.kind} template ${reg.templateCode} differs from the rendered SMS ${firstDifference(body, expected)}`,
    });
  }
  return { violations, text };
}

/**
 * Fills `reg` for one message. `renderValue` renders one param expression with the message's data,
 * helpers and context (`registrationValueRenderer(def, data, ctx)` from engine.ts), `renderedBody`
 * is the SMS text `renderTemplate` produced with the same data. Throws `SmsRegistrationError`
 * (every violation at once) when a value breaks the gateway's rules or the filled template differs
 * from the body beyond its variables.
 */
export function fillRegistration(
  def: Pick<TemplateDefinition, 'key' | 'locale'>,
  reg: SmsRegistration,
  renderedBody: string,
  renderValue: (expr: string) => string,
  rules: SmsProviderRules = PROVIDER_SMS_RULES[reg.kind],
): FilledRegistration {
  const params = reg.params.map((p) => ({ name: p.name, value: renderValue(p.expr) }));
  const { violations, text } = checkRegistration(reg, params, renderedBody, rules);
  if (violations.length > 0)
    throw new SmsRegistrationError(reg.kind, reg.templateCode, violations, def.key, def.locale);
  return { kind: reg.kind, templateCode: reg.templateCode, signName: reg.signName, params, text };
}

/**
 * Fills the registrations of `def` for each of `kinds` it has one for: the `registered` map of an
 * outbound SMS (libs/channels `OutboundMessage.sms.registered`). Kinds without a registration are
 * left out (the gateway adapter refuses the send; lint reports them with `smsProviders`). Throws the
 * first `SmsRegistrationError`. `rules` overrides a kind's rules (e.g. an account's own limit).
 */
export function fillRegistrations(
  def: Pick<TemplateDefinition, 'key' | 'locale' | 'registrations'>,
  renderedBody: string,
  renderValue: (expr: string) => string,
  kinds: readonly SmsProviderKind[],
  rules: Partial<Record<SmsProviderKind, SmsProviderRules>> = {},
): Partial<Record<SmsProviderKind, FilledRegistration>> {
  const out: Partial<Record<SmsProviderKind, FilledRegistration>> = {};
  for (const kind of kinds) {
    const reg = registrationFor(def, kind);
    if (reg) out[kind] = fillRegistration(def, reg, renderedBody, renderValue, rules[kind]);
  }
  return out;
}
