/**
 * Template lint: static checks over the parts (and the partials they use) plus a render of the
 * example data. Rule ids are stable; every finding carries the part (or `partial:<name>`) and,
 * where it applies, the line and 1-based column.
 */
import { TemplateDataError, type Locale } from '#libs/core';
import { analyzeTemplate, positionIn, type TemplateRefs } from './ast.js';
import {
  channelParts,
  compileSource,
  errorPosition,
  partialResolver,
  registeredPartials,
  renderTemplate,
  registrationValueRenderer,
  REQUIRED_PARTS,
  TemplateDefinitionError,
} from './engine.js';
import { ALLOWED_HELPERS, DEBT_HELPERS } from './helpers.js';
import { checkRegistration, PROVIDER_SMS_RULES, registrationFor } from './registrations.js';
import { compileSchema, safeRegExp, validateData } from './schema.js';
import { smsSegments } from './sms.js';
import type {
  Audience,
  BankIdentity,
  SenderIdentities,
  DemandLetterElement,
  ForbiddenPhrase,
  LintFinding,
  LintLocation,
  LintOptions,
  LintSeverity,
  RenderContext,
  TemplateDefinition,
} from './types.js';

/** Every rule id with what it checks. Ids are stable: tools and reviewers key on them. */
export const LINT_RULES = {
  'missing-part': 'A part the channel needs (sms; subject+html+text; letter) is absent.',
  'template-compile-error': 'A part or partial does not parse or compile.',
  'unknown-helper': 'A helper outside the whitelist is called.',
  'unknown-partial': 'A partial that is neither in the definition nor registered is used.',
  'dynamic-partial': 'A partial name is computed at render time (not allowed).',
  'schema-invalid': 'The data schema is not a valid JSON Schema.',
  'example-data-invalid': 'exampleData does not satisfy the schema.',
  'variable-not-in-schema': 'The template reads a data variable the schema does not declare.',
  'unknown-context-variable': 'The template reads an @-variable the renderer does not provide.',
  'html-unescaped-output': 'Triple-stash output in email HTML bypasses escaping.',
  'third-party-debt-variable': 'A third-party template uses a debt variable (amount, balance, DPD, card...).',
  'third-party-debt-wording': 'A third-party template mentions the debt in its text.',
  'forbidden-phrase': 'Threatening, insulting, shaming, falsely legal or third-party-pressure wording.',
  'demand-letter-missing-element':
    'A demand letter lacks an element required by art. 69 (placeholders/partials).',
  'missing-opt-out': 'An SMS or email has no opt-out line.',
  'sms-segment-limit':
    'The rendered example SMS exceeds the configured segment maximum (TEMPLATE_SMS_MAX_SEGMENTS).',
  'sms-segment-budget': 'The rendered example SMS needs more than 2 segments (each one is billed).',
  'locale-mixed-script':
    'An English template renders Chinese text (e.g. the Chinese bank name): English messages use BANK_NAME_EN.',
  'sms-encoding':
    'An English SMS needs UCS-2 (a non GSM-7 character), which cuts a segment to 70 characters.',
  'example-render-failed': 'The example data does not render.',
  'sms-registration-missing':
    'An SMS template has no registration for a configured provider kind (Aliyun, Tencent send registered templates only).',
  'sms-registration-variable':
    "A registration's variable, filled from the example, breaks the provider's length or character rules.",
  'sms-registration-link':
    'A registration variable filled from the example looks like a link (Tencent refuses links in variables).',
  'sms-registration-mismatch':
    'The registration filled from the example differs from the rendered example SMS (or a param does not render).',
} as const;

export type LintRuleId = keyof typeof LINT_RULES;

export const DEFAULT_FORBIDDEN_PHRASES: readonly ForbiddenPhrase[] = Object.freeze([
  // threats
  ...[
    '后果自负',
    '走着瞧',
    '让你好看',
    '不得好死',
    '上门找你',
    '找到你家',
    '找人收拾',
    '别怪我们不客气',
    '人身安全',
  ].map((phrase) => ({ phrase, category: 'threat' as const })),
  ...[
    'you will regret',
    'or else',
    'we know where you live',
    'we will come to your',
    'watch your back',
    'last warning',
  ].map((phrase) => ({ phrase, category: 'threat' as const })),
  // insults
  ...['老赖', '骗子', '无赖', '不要脸', '废物', '人渣', '欠钱不还的'].map((phrase) => ({
    phrase,
    category: 'insult' as const,
  })),
  ...['deadbeat', 'scum', 'loser', 'liar', 'cheat', 'thief', 'freeloader'].map((phrase) => ({
    phrase,
    category: 'insult' as const,
  })),
  // false or premature legal claims
  ...[
    '坐牢',
    '判刑',
    '拘留',
    '逮捕',
    '通缉',
    '刑事责任',
    '已立案',
    '公安机关',
    '法院传票',
    '已向法院起诉',
    '强制执行您的',
    '黑名单',
    '冻结您的全部',
  ].map((phrase) => ({ phrase, category: 'false_legal_claim' as const })),
  ...[
    'arrest',
    'warrant',
    'jail',
    'prison',
    'criminal charges',
    'criminal liability',
    'police',
    'court summons',
    'blacklist',
    'lawsuit has been filed',
    'seize your',
  ].map((phrase) => ({ phrase, category: 'false_legal_claim' as const })),
  // shaming
  ...['曝光', '公开您的', '公开你的', '通讯录', '朋友圈', '张贴'].map((phrase) => ({
    phrase,
    category: 'shaming' as const,
  })),
  ...['shame', 'expose you', 'publish your name', 'everyone will know', 'public list'].map((phrase) => ({
    phrase,
    category: 'shaming' as const,
  })),
  // contacting employer / family as pressure
  ...[
    '联系您的单位',
    '联系你的单位',
    '通知您的单位',
    '通知你的单位',
    '您的领导',
    '你的领导',
    '通知您的家人',
    '通知你的家人',
    '告知您的亲友',
    '告诉你的亲友',
    '联系您的家人',
    '联系你的家人',
  ].map((phrase) => ({ phrase, category: 'third_party_pressure' as const })),
  ...[
    'your employer',
    'your boss',
    'your family',
    'your relatives',
    'your neighbours',
    'your neighbors',
    'your colleagues',
  ].map((phrase) => ({ phrase, category: 'third_party_pressure' as const })),
]);

export const DEFAULT_DEMAND_LETTER_ELEMENTS: readonly DemandLetterElement[] = Object.freeze([
  { id: 'cardholder_name', description: "the cardholder's name", anyOf: [['@recipientName']] },
  { id: 'outstanding_balance', description: 'the outstanding balance', anyOf: [['outstandingBalance']] },
  {
    id: 'reason_and_legal_basis',
    description: 'the reason and legal basis',
    anyOf: [['>letter-legal-basis']],
  },
  {
    id: 'rights_and_obligations',
    description: "the cardholder's rights and obligations",
    anyOf: [['>letter-rights']],
  },
  { id: 'check_and_repay', description: 'how to check the account and repay', anyOf: [['>letter-repay']] },
  {
    id: 'objection',
    description: 'how to object and submit evidence (the objection channel)',
    anyOf: [['>letter-objection']],
  },
  {
    id: 'bank_contact',
    description: "the bank's contact details",
    anyOf: [['>letter-bank-contact'], ['@bank.phone', '@bank.address']],
  },
  { id: 'seal', description: "the bank's seal", anyOf: [['>letter-seal']] },
]);

/** Variable names that reveal a debt (never in third-party templates). */
const DEBT_VARIABLE_RE =
  /amount|balance|dpd|overdue|pastdue|past_due|card|debt|arrear|principal|interest|fee|penalt|minimum|due|owe|installment|instalment|repay|payment|loan|credit/i;

/** Words that reveal a debt (never in third-party templates). */
const DEBT_WORDS: readonly string[] = [
  '欠款',
  '欠费',
  '拖欠',
  '逾期',
  '还款',
  '债务',
  '催收',
  '透支',
  '账单',
  '信用卡',
  '信用',
  '卡中心',
  '贷款',
  '金额',
  '本金',
  '利息',
  'debt',
  'overdue',
  'owe',
  'owes',
  'owing',
  'arrears',
  'balance',
  'payment',
  'repay',
  'collection',
  'credit card',
  'credit',
  'card',
  'amount',
  'past due',
  'loan',
];

const OPT_OUT_RE = /退订|拒收|reply stop|opt out|opt-out|unsubscribe/i;

const CONTEXT_VARIABLES = new Set([
  '@locale',
  '@bank',
  '@bank.name',
  '@bank.address',
  '@bank.phone',
  '@bank.complaintChannel',
  '@bank.website',
  '@recipientName',
  '@caseId',
  '@notificationId',
  '@unsubscribeUrl',
  '@issuedOn',
]);

const SAMPLE_CONTEXT: Record<Locale, RenderContext> = {
  'zh-CN': {
    bank: {
      name: '示例银行信用卡中心',
      address: '上海市浦东新区示例路100号',
      phone: '400-800-0000',
      complaintChannel: '客服热线400-800-0000转9或官方网站“投诉建议”栏目',
      website: 'https://bank.example.cn',
    },
    recipientName: '张三',
    caseId: 'CASE-2026-000123',
    notificationId: 'N-000000001',
    unsubscribeUrl: 'https://bank.example.cn/u/abc',
    issuedOn: '2026-11-01',
  },
  en: {
    bank: {
      name: 'Example Bank Credit Card Center',
      address: '100 Example Road, Pudong, Shanghai',
      phone: '400-800-0000',
      complaintChannel: 'the complaints line 400-800-0000 (option 9) or the Complaints page of our website',
      website: 'https://bank.example.cn',
    },
    recipientName: 'Zhang San',
    caseId: 'CASE-2026-000123',
    notificationId: 'N-000000001',
    unsubscribeUrl: 'https://bank.example.cn/u/abc',
    issuedOn: '2026-11-01',
  },
};

/** The context lint renders examples with (exported for previews and tests). */
export function sampleContext(locale: Locale): RenderContext {
  return structuredClone(SAMPLE_CONTEXT[locale]);
}

/** The senders lint assumes when not told the configured ones (the config defaults). */
export const DEFAULT_SENDERS: SenderIdentities = Object.freeze({
  debtor: { 'zh-CN': SAMPLE_CONTEXT['zh-CN'].bank, en: SAMPLE_CONTEXT.en.bank },
  thirdParty: {
    'zh-CN': { ...SAMPLE_CONTEXT['zh-CN'].bank, name: '示例银行' },
    en: { ...SAMPLE_CONTEXT.en.bank, name: 'Example Bank' },
  },
});

/** The sender a template signs with: neutral for third parties, in the template's language. */
export function senderFor(senders: SenderIdentities, audience: Audience, locale: Locale): BankIdentity {
  return (audience === 'third_party' ? senders.thirdParty : senders.debtor)[locale];
}

const HAN_RE = /[\p{Script=Han}\u3000-\u303f\uff00-\uffef]/u;

function isDemandLetterDefault(def: TemplateDefinition): boolean {
  return (
    def.channel === 'letter' && def.audience === 'debtor' && (def.stage === 'late' || def.stage === 'legal')
  );
}

type JsonSchema = Record<string, unknown>;

function resolveRef(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (!ref.startsWith('#')) return undefined;
  let cur: unknown = root;
  for (const raw of ref.slice(1).split('/').filter(Boolean)) {
    const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return typeof cur === 'object' && cur !== null ? (cur as JsonSchema) : undefined;
}

/** Whether `schema` declares the data path `segments` (`*` = array item). */
export function schemaDeclares(root: JsonSchema, segments: string[]): boolean {
  const visit = (schema: unknown, i: number, depth: number): boolean => {
    if (depth > 32 || typeof schema !== 'object' || schema === null) return false;
    const s = schema as JsonSchema;
    if (typeof s.$ref === 'string') {
      const target = resolveRef(root, s.$ref);
      if (target && visit(target, i, depth + 1)) return true;
    }
    for (const k of ['allOf', 'anyOf', 'oneOf']) {
      const list = s[k];
      if (Array.isArray(list) && list.some((sub) => visit(sub, i, depth + 1))) return true;
    }
    if (i === segments.length) return true;
    const seg = segments[i];
    if (seg === '*' || /^\d+$/.test(seg)) {
      if (typeof s.items === 'object' && s.items !== null && visit(s.items, i + 1, depth + 1)) return true;
      if (Array.isArray(s.prefixItems) && s.prefixItems.some((sub) => visit(sub, i + 1, depth + 1)))
        return true;
      return false;
    }
    if (seg === 'length' && i === segments.length - 1 && (s.type === 'array' || s.type === 'string'))
      return true;
    const props = s.properties as Record<string, unknown> | undefined;
    if (props && Object.hasOwn(props, seg)) return visit(props[seg], i + 1, depth + 1);
    const patterns = s.patternProperties as Record<string, unknown> | undefined;
    for (const [pattern, sub] of Object.entries(patterns ?? {})) {
      let matches: boolean;
      try {
        matches = safeRegExp(pattern).test(seg);
      } catch {
        matches = false; // an invalid pattern is reported by schema-invalid
      }
      if (matches && visit(sub, i + 1, depth + 1)) return true;
    }
    if (typeof s.additionalProperties === 'object' && s.additionalProperties !== null) {
      return visit(s.additionalProperties, i + 1, depth + 1);
    }
    return false;
  };
  return visit(root, 0, 0);
}

function schemaPropertyNames(schema: unknown, out: Set<string>, depth = 0): void {
  if (depth > 16 || typeof schema !== 'object' || schema === null) return;
  const s = schema as JsonSchema;
  for (const [name, sub] of Object.entries((s.properties as Record<string, unknown>) ?? {})) {
    out.add(name);
    schemaPropertyNames(sub, out, depth + 1);
  }
  if (typeof s.items === 'object') schemaPropertyNames(s.items, out, depth + 1);
  for (const k of ['allOf', 'anyOf', 'oneOf', '$defs', 'definitions']) {
    const v = s[k];
    if (Array.isArray(v)) v.forEach((sub) => schemaPropertyNames(sub, out, depth + 1));
    else if (typeof v === 'object' && v !== null)
      Object.values(v).forEach((sub) => schemaPropertyNames(sub, out, depth + 1));
  }
}

function phraseRegex(phrase: string): RegExp {
  const escaped = phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const latinStart = /^[A-Za-z0-9]/.test(phrase) ? '\\b' : '';
  const latinEnd = /[A-Za-z0-9]$/.test(phrase) ? '\\b' : '';
  return new RegExp(`${latinStart}${escaped}${latinEnd}`, 'giu');
}

/** Lints one template definition (one locale). Synchronous and pure apart from the compile caches. */
export function lintTemplate(def: TemplateDefinition, opts: LintOptions = {}): LintFinding[] {
  const findings: LintFinding[] = [];
  const seen = new Set<string>();
  const add = (ruleId: LintRuleId, severity: LintSeverity, message: string, location: LintLocation) => {
    const k = `${ruleId}|${location.part}|${location.line ?? ''}|${location.column ?? ''}|${message}`;
    if (seen.has(k)) return;
    seen.add(k);
    findings.push({ ruleId, severity, message, location });
  };
  const at = (p: { origin: string; line: number; column: number }): LintLocation => ({
    part: p.origin,
    line: p.line,
    column: p.column,
  });

  const thirdParty = def.audience === 'third_party';
  const phrases = [
    ...(opts.forbiddenPhrases ?? DEFAULT_FORBIDDEN_PHRASES),
    ...(opts.extraForbiddenPhrases ?? []),
  ].map((p) => ({ ...p, re: phraseRegex(p.phrase) }));
  const debtWords = DEBT_WORDS.map((w) => ({ word: w, re: phraseRegex(w) }));
  /** Debt words already reported in the sources (the rendered check reports only new ones). */
  const staticDebtWords = new Set<string>();

  // -- parts present
  for (const need of REQUIRED_PARTS[def.channel]) {
    if (def.parts[need] === undefined) {
      add('missing-part', 'error', `a ${def.channel} template needs a "${need}" part`, { part: need });
    }
  }

  // -- schema and example data
  let schemaOk = true;
  try {
    compileSchema(def.schema);
  } catch (err) {
    schemaOk = false;
    add('schema-invalid', 'error', (err as Error).message, { part: 'schema' });
  }
  if (schemaOk) {
    for (const f of validateData(def.schema, def.exampleData)) {
      add('example-data-invalid', 'error', `${f.path.replace(/^data/, 'exampleData')} ${f.message}`, {
        part: 'exampleData',
      });
    }
  }
  if (thirdParty) {
    const names = new Set<string>();
    schemaPropertyNames(def.schema, names);
    for (const name of names) {
      if (DEBT_VARIABLE_RE.test(name)) {
        add(
          'third-party-debt-variable',
          'error',
          `third-party template schema declares debt field "${name}"`,
          {
            part: 'schema',
          },
        );
      }
    }
  }

  // -- static analysis of every part
  const resolve = partialResolver(def, opts.partials ?? registeredPartials(def.locale));
  const refsByPart = new Map<string, TemplateRefs>();
  let compileOk = true;
  for (const part of channelParts(def.channel, def.parts)) {
    let refs: TemplateRefs;
    try {
      refs = analyzeTemplate(part.source, part.name, resolve);
    } catch (err) {
      compileOk = false;
      const { line, column } = errorPosition(err);
      add('template-compile-error', 'error', (err as Error).message, {
        part: part.name,
        ...(line !== undefined ? { line } : {}),
        ...(column !== undefined ? { column } : {}),
      });
      continue;
    }
    refsByPart.set(part.name, refs);
    let unknownHelper = false;
    for (const h of refs.helpers) {
      if (!ALLOWED_HELPERS.has(h.name)) {
        unknownHelper = true;
        add(
          'unknown-helper',
          'error',
          `helper "${h.name}" is not allowed (allowed: ${[...ALLOWED_HELPERS].join(', ')})`,
          at(h),
        );
      }
      if (thirdParty && DEBT_HELPERS.has(h.name)) {
        add(
          'third-party-debt-variable',
          'error',
          `third-party template formats debt details with "${h.name}"`,
          at(h),
        );
      }
    }
    let partialProblem = false;
    for (const p of refs.partials) {
      if (p.dynamic) {
        partialProblem = true;
        add('dynamic-partial', 'error', 'partial names must be literal', at(p));
      } else if (p.missing) {
        partialProblem = true;
        add('unknown-partial', 'error', `partial "${p.name}" is not defined`, at(p));
      }
    }
    for (const e of refs.errors) {
      compileOk = false;
      add('template-compile-error', 'error', e.message, at(e));
    }
    try {
      compileSource(part.source, part.mode, part.name);
    } catch (err) {
      const e = err as TemplateDefinitionError;
      if (!(unknownHelper && /unknown helper/.test(e.message))) {
        compileOk = false;
        add('template-compile-error', 'error', e.message, {
          part: part.name,
          ...(e.line !== undefined ? { line: e.line } : {}),
          ...(e.column !== undefined ? { column: e.column } : {}),
        });
      }
    }
    if (unknownHelper || partialProblem) compileOk = false;

    for (const v of refs.variables) {
      if (v.path.startsWith('@')) {
        if (!CONTEXT_VARIABLES.has(v.path)) {
          add('unknown-context-variable', 'error', `"${v.path}" is not provided by the renderer`, at(v));
        }
        continue;
      }
      if (schemaOk && !schemaDeclares(def.schema, v.path.split('.'))) {
        add('variable-not-in-schema', 'error', `"${v.path}" is used but not declared in the schema`, at(v));
      }
      if (thirdParty && v.path.split('.').some((seg) => DEBT_VARIABLE_RE.test(seg))) {
        add(
          'third-party-debt-variable',
          'error',
          `third-party template uses debt variable "${v.path}"`,
          at(v),
        );
      }
    }
    if (part.mode === 'html') {
      for (const u of refs.unescaped) {
        add('html-unescaped-output', 'warning', 'triple-stash output is not HTML-escaped', at(u));
      }
    }
    for (const c of refs.contents) {
      if (part.name === 'sms' && def.locale === 'en') {
        const offset = Array.from(c.text).findIndex((ch) => smsSegments(ch).encoding === 'UCS-2');
        if (offset >= 0) {
          const ch = Array.from(c.text)[offset];
          const index = Array.from(c.text).slice(0, offset).join('').length;
          add(
            'sms-encoding',
            'warning',
            `"${ch}" is not in GSM-7: the English SMS is sent as UCS-2 (70 characters per segment)`,
            at({ origin: c.origin, ...positionIn(c, index) }),
          );
        }
      }
      for (const p of phrases) {
        p.re.lastIndex = 0;
        for (let m = p.re.exec(c.text); m; m = p.re.exec(c.text)) {
          add(
            'forbidden-phrase',
            'error',
            `"${m[0]}" is forbidden (${p.category})`,
            at({ origin: c.origin, ...positionIn(c, m.index) }),
          );
        }
      }
      if (thirdParty) {
        for (const w of debtWords) {
          w.re.lastIndex = 0;
          for (let m = w.re.exec(c.text); m; m = w.re.exec(c.text)) {
            staticDebtWords.add(w.word);
            add(
              'third-party-debt-wording',
              'error',
              `third-party text mentions "${m[0]}"`,
              at({ origin: c.origin, ...positionIn(c, m.index) }),
            );
          }
        }
      }
    }
  }

  // -- art. 69 elements of demand letters (letter body and the partials it uses)
  if ((opts.isDemandLetter ?? isDemandLetterDefault)(def)) {
    const refs = refsByPart.get('letter');
    if (refs) {
      const used = new Set<string>([
        ...refs.variables.map((v) => v.path),
        ...refs.partials.map((p) => `>${p.name}`),
      ]);
      for (const el of opts.demandLetterElements ?? DEFAULT_DEMAND_LETTER_ELEMENTS) {
        if (!el.anyOf.some((alt) => alt.every((r) => used.has(r)))) {
          const expected = el.anyOf.map((alt) =>
            alt.map((r) => (r.startsWith('>') ? `{{> ${r.slice(1)}}}` : `{{${r}}}`)).join(' + '),
          );
          add(
            'demand-letter-missing-element',
            'error',
            `demand letter lacks ${el.description} [${el.id}]: use ${expected.join(' or ')}`,
            { part: 'letter' },
          );
        }
      }
    }
  }

  // -- provider registrations: one per configured kind (rendered checks below)
  const providers = def.channel === 'sms' ? (opts.smsProviders ?? []) : [];
  for (const kind of providers) {
    if (!registrationFor(def, kind)) {
      add(
        'sms-registration-missing',
        'error',
        `no ${kind} registration for ${def.locale}: ${kind} sends registered templates only (add registrations.${kind}.${def.locale} to template.json)`,
        { part: `registrations.${kind}` },
      );
    }
  }

  // -- render the example, signed as the service would sign it
  if (schemaOk && compileOk && findings.every((f) => f.ruleId !== 'missing-part')) {
    const ctx = opts.sampleContext ?? sampleContext(def.locale);
    if (!opts.sampleContext)
      ctx.bank = { ...senderFor(opts.senders ?? DEFAULT_SENDERS, def.audience, def.locale) };
    try {
      const renderDef = { ...def, partials: { ...(opts.partials ?? {}), ...(def.partials ?? {}) } };
      const msg = renderTemplate(renderDef, def.exampleData, ctx, opts.renderLimits);
      const rendered: { part: string; text: string }[] = [];
      if (msg.sms) {
        rendered.push({ part: 'sms', text: msg.sms.text });
        const max = opts.maxSmsSegments ?? 3;
        const warn = Math.min(opts.warnSmsSegments ?? 2, max);
        const per = `${msg.sms.encoding === 'GSM-7' ? '160/153' : '70/67'} characters per segment`;
        if (msg.sms.segments > max) {
          add(
            'sms-segment-limit',
            'error',
            `example SMS needs ${msg.sms.segments} ${msg.sms.encoding} segments (maximum ${max}; ${per})`,
            { part: 'sms' },
          );
        } else if (msg.sms.segments > warn) {
          add(
            'sms-segment-budget',
            'warning',
            `example SMS needs ${msg.sms.segments} ${msg.sms.encoding} segments (budget ${warn}; ${per})`,
            { part: 'sms' },
          );
        }
        if (!OPT_OUT_RE.test(msg.sms.text))
          add('missing-opt-out', 'error', 'SMS has no opt-out line', { part: 'sms' });
        const renderValue = registrationValueRenderer(renderDef, def.exampleData, ctx, opts.renderLimits);
        for (const kind of providers) {
          const reg = registrationFor(def, kind);
          if (!reg) continue;
          const part = `registrations.${kind}`;
          const max = opts.smsVariableMaxLength?.[kind];
          const rules =
            max === undefined
              ? PROVIDER_SMS_RULES[kind]
              : { ...PROVIDER_SMS_RULES[kind], maxVariableLength: max };
          const values: { name: string; value: string }[] = [];
          let rendersOk = true;
          for (const p of reg.params) {
            try {
              values.push({ name: p.name, value: renderValue(p.expr) });
            } catch (err) {
              rendersOk = false;
              const detail =
                err instanceof TemplateDataError
                  ? err.fields.map((f) => `${f.path} ${f.message}`).join('; ')
                  : (err as Error).message;
              add(
                'sms-registration-mismatch',
                'error',
                `${kind} param ${p.name} ("${p.expr}") does not render: ${detail}`,
                { part },
              );
            }
          }
          if (!rendersOk) continue;
          for (const v of checkRegistration(reg, values, msg.sms.text, rules).violations) {
            const ruleId =
              v.rule === 'link'
                ? 'sms-registration-link'
                : v.rule === 'text-mismatch'
                  ? 'sms-registration-mismatch'
                  : 'sms-registration-variable';
            add(ruleId, 'error', `example: ${v.message}`, { part });
          }
        }
      }
      if (msg.email) {
        rendered.push(
          { part: 'subject', text: msg.email.subject },
          { part: 'html', text: msg.email.html },
          { part: 'text', text: msg.email.text },
        );
        if (!OPT_OUT_RE.test(msg.email.text))
          add('missing-opt-out', 'error', 'email text has no opt-out line', { part: 'text' });
        if (!OPT_OUT_RE.test(msg.email.html))
          add('missing-opt-out', 'error', 'email HTML has no opt-out line', { part: 'html' });
      }
      if (msg.letter) {
        rendered.push({ part: 'letter', text: `${msg.letter.title}\n${msg.letter.markdown}` });
        msg.letter.attachments.forEach((a, i) =>
          rendered.push({ part: `attachments[${i}].letter`, text: `${a.title}\n${a.markdown}` }),
        );
      }
      for (const r of rendered) {
        // What the reader sees, sender name and partials included (the static check above sees only the sources).
        if (thirdParty) {
          for (const w of debtWords) {
            if (staticDebtWords.has(w.word)) continue;
            w.re.lastIndex = 0;
            const m = w.re.exec(r.text);
            if (m) {
              add(
                'third-party-debt-wording',
                'error',
                `rendered third-party message says "${m[0]}" (check the sender name THIRD_PARTY_SENDER_NAME${def.locale === 'en' ? '_EN' : ''} and the partials)`,
                { part: r.part },
              );
            }
          }
        }
        if (def.locale === 'en') {
          const m = HAN_RE.exec(r.text);
          if (m) {
            add(
              'locale-mixed-script',
              r.part === 'sms' ? 'error' : 'warning',
              `English ${r.part} renders Chinese text ("${r.text.slice(Math.max(0, m.index - 8), m.index + 8).replace(/\s+/g, ' ')}"): use English wording and BANK_NAME_EN${r.part === 'sms' ? '; it also makes the SMS UCS-2 (70 characters per segment)' : ''}`,
              { part: r.part },
            );
          }
        }
      }
    } catch (err) {
      if (err instanceof TemplateDataError) {
        for (const f of err.fields)
          add('example-render-failed', 'error', `${f.path} ${f.message}`, { part: 'exampleData' });
      } else {
        add('example-render-failed', 'error', (err as Error).message, { part: 'exampleData' });
      }
    }
  }
  return findings;
}
