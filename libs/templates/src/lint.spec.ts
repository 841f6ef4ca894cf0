import { describe, it, expect, beforeAll } from '@jest/globals';
import { DEFAULT_FORBIDDEN_PHRASES, DEFAULT_SENDERS, LINT_RULES, lintTemplate } from './lint.js';
import { loadTemplatePack } from './pack.js';
import type { LintFinding, SmsRegistration, TemplateDefinition } from './types.js';

const PACK_DIR = new URL('../../../templates', import.meta.url).pathname;

let pack: TemplateDefinition[];
beforeAll(() => {
  pack = loadTemplatePack(PACK_DIR);
});

const get = (key: string, locale: 'zh-CN' | 'en') =>
  structuredClone(pack.find((d) => d.key === key && d.locale === locale) as TemplateDefinition);
const ids = (findings: LintFinding[]) => findings.map((f) => f.ruleId);

function smsDef(sms: string, over: Partial<TemplateDefinition> = {}): TemplateDefinition {
  return {
    key: 'early.sms.lint',
    locale: 'zh-CN',
    stage: 'early',
    channel: 'sms',
    audience: 'debtor',
    version: 1,
    schema: {
      type: 'object',
      properties: {
        amountDue: { type: 'string' },
        items: { type: 'array', items: { type: 'object', properties: { x: { type: 'string' } } } },
      },
    },
    exampleData: { amountDue: '10.00', items: [{ x: 'a' }] },
    parts: { sms },
    ...over,
  };
}

describe('lintTemplate on the default pack', () => {
  it('finds nothing in any template', () => {
    const all = pack.flatMap((d) => lintTemplate(d).map((f) => ({ key: d.key, locale: d.locale, ...f })));
    expect(all).toEqual([]);
  });
});

describe('lintTemplate rules', () => {
  it('every emitted rule id is documented in LINT_RULES', () => {
    const findings = [
      ...lintTemplate(smsDef('{{#if x}}')),
      ...lintTemplate(smsDef('{{nope}} 老赖 {{> gone}} {{@secret}}', { audience: 'third_party' })),
    ];
    expect(findings.length).toBeGreaterThan(3);
    for (const f of findings) expect(Object.keys(LINT_RULES)).toContain(f.ruleId);
  });

  it('template-compile-error with line and column', () => {
    const findings = lintTemplate(smsDef('第一行\n第二行 {{#if amountDue}}未关闭 回复TD退订'));
    const f = findings.find((x) => x.ruleId === 'template-compile-error');
    expect(f?.severity).toBe('error');
    expect(f?.location.part).toBe('sms');
    expect(f?.location.line).toBeGreaterThanOrEqual(2);
  });

  it('unknown-helper', () => {
    const findings = lintTemplate(smsDef('{{shell "ls"}} {{uppercase amountDue}} 回复TD退订'));
    expect(findings.filter((f) => f.ruleId === 'unknown-helper').map((f) => f.location)).toEqual([
      { part: 'sms', line: 1, column: 3 },
      { part: 'sms', line: 1, column: 18 },
    ]);
    expect(ids(findings)).not.toContain('template-compile-error');
  });

  it('unknown-partial, unknown-context-variable and missing-part', () => {
    expect(ids(lintTemplate(smsDef('{{> gone}} 回复TD退订')))).toContain('unknown-partial');
    const ctxFinding = lintTemplate(smsDef('{{@bank.iban}} 回复TD退订')).find(
      (f) => f.ruleId === 'unknown-context-variable',
    );
    expect(ctxFinding?.message).toContain('@bank.iban');
    const email = smsDef('', { key: 'early.email.lint', channel: 'email', parts: { subject: 'x' } });
    expect(
      lintTemplate(email)
        .filter((f) => f.ruleId === 'missing-part')
        .map((f) => f.location.part),
    ).toEqual(['html', 'text']);
  });

  it('variable-not-in-schema, also inside #each and partial-free nested paths', () => {
    const findings = lintTemplate(
      smsDef(
        '{{cny amountDue}} {{dueDate}}\n{{#each items}}{{x}}{{y}}{{/each}} {{#with meta}}{{z}}{{/with}} 回复TD退订',
      ),
    );
    const vars = findings.filter((f) => f.ruleId === 'variable-not-in-schema');
    expect(vars.map((f) => f.message)).toEqual([
      '"dueDate" is used but not declared in the schema',
      '"items.*.y" is used but not declared in the schema',
      '"meta" is used but not declared in the schema',
      '"meta.z" is used but not declared in the schema',
    ]);
    expect(vars[0].location).toEqual({ part: 'sms', line: 1, column: 21 });
  });

  it('schema-invalid and example-data-invalid', () => {
    expect(
      ids(
        lintTemplate(
          smsDef('x 回复TD退订', { schema: { type: 'object', properties: { a: { type: 'wat' } } } }),
        ),
      ),
    ).toContain('schema-invalid');
    const bad = lintTemplate(
      smsDef('{{cny amountDue}} 回复TD退订', { exampleData: { amountDue: 5, items: 'no' } }),
    );
    expect(bad.filter((f) => f.ruleId === 'example-data-invalid').map((f) => f.message)).toEqual([
      'exampleData.amountDue must be string',
      'exampleData.items must be array',
    ]);
  });

  it('third-party template mentioning an amount: variable, helper and wording', () => {
    const def = get('early.sms.third_party', 'zh-CN');
    def.schema = {
      ...def.schema,
      properties: { ...(def.schema.properties as object), amountDue: { type: 'string' } },
    };
    def.exampleData = { ...def.exampleData, amountDue: '500.00' };
    def.parts.sms = `${(def.parts.sms ?? '').trimEnd()}\n请转告其尽快归还欠款{{cny amountDue}}元`;
    const findings = lintTemplate(def);
    const tp = findings.filter((f) => f.ruleId.startsWith('third-party'));
    expect(tp.map((f) => [f.ruleId, f.location.part])).toEqual(
      expect.arrayContaining([
        ['third-party-debt-variable', 'schema'],
        ['third-party-debt-variable', 'sms'],
        ['third-party-debt-wording', 'sms'],
      ]),
    );
    const wording = tp.find((f) => f.ruleId === 'third-party-debt-wording');
    expect(wording?.message).toContain('欠款');
    expect(wording?.location.line).toBe(2);
  });

  it('third-party English wording about the balance', () => {
    const def = get('early.sms.third_party', 'en');
    def.parts.sms = 'Please tell {{customerName}} their balance is overdue. Reply STOP to opt out.';
    const words = lintTemplate(def)
      .filter((f) => f.ruleId === 'third-party-debt-wording')
      .map((f) => f.message)
      .sort();
    expect(words).toEqual(['third-party text mentions "balance"', 'third-party text mentions "overdue"']);
  });

  it('forbidden-phrase in zh and en, with positions and categories', () => {
    const zh = lintTemplate(smsDef('您好\n再不还款就通知您的单位，老赖！回复TD退订'));
    const zf = zh.filter((f) => f.ruleId === 'forbidden-phrase');
    expect(zf.map((f) => f.message)).toEqual([
      '"老赖" is forbidden (insult)',
      '"通知您的单位" is forbidden (third_party_pressure)',
    ]);
    expect(zf[1].location).toEqual({ part: 'sms', line: 2, column: 6 });

    const en = lintTemplate(
      smsDef(
        'Pay now or else the police will arrest you. We will tell your employer. Reply STOP to opt out.',
        { locale: 'en' },
      ),
    );
    expect(
      en
        .filter((f) => f.ruleId === 'forbidden-phrase')
        .map((f) => f.message)
        .sort(),
    ).toEqual([
      '"arrest" is forbidden (false_legal_claim)',
      '"or else" is forbidden (threat)',
      '"police" is forbidden (false_legal_claim)',
      '"your employer" is forbidden (third_party_pressure)',
    ]);
  });

  it('forbidden phrases match whole words and are configurable', () => {
    // "liar" inside "familiar" is not an insult
    expect(
      ids(lintTemplate(smsDef('A familiar face. Reply STOP to opt out.', { locale: 'en' }))),
    ).not.toContain('forbidden-phrase');
    const custom = lintTemplate(smsDef('最后通牒 回复TD退订'), {
      extraForbiddenPhrases: [{ phrase: '最后通牒', category: 'threat' }],
    });
    expect(ids(custom)).toContain('forbidden-phrase');
    const replaced = lintTemplate(smsDef('老赖 回复TD退订'), { forbiddenPhrases: [] });
    expect(ids(replaced)).not.toContain('forbidden-phrase');
    expect(DEFAULT_FORBIDDEN_PHRASES.length).toBeGreaterThan(50);
  });

  it('forbidden phrases inside partials point at the partial', () => {
    const def = smsDef('x {{> bad}}', { partials: { bad: '后果自负 回复TD退订' } });
    const f = lintTemplate(def).find((x) => x.ruleId === 'forbidden-phrase');
    expect(f?.location).toEqual({ part: 'partial:bad', line: 1, column: 1 });
  });

  it('demand letter missing the objection channel', () => {
    const def = get('late.letter.demand', 'zh-CN');
    def.parts.letter = (def.parts.letter ?? '').replace('{{> letter-objection}}', '');
    const findings = lintTemplate(def);
    expect(findings).toHaveLength(1);
    expect(findings[0].ruleId).toBe('demand-letter-missing-element');
    expect(findings[0].message).toContain('[objection]');
    expect(findings[0].message).toContain('{{> letter-objection}}');
  });

  it('demand letter missing balance, seal and contact details (legal notice, en)', () => {
    const def = get('legal.letter.pre_litigation', 'en');
    def.parts.letter = (def.parts.letter ?? '')
      .replace('{{> letter-seal}}', '')
      .replace('{{> letter-bank-contact}}', '')
      .replace(/\{\{cny outstandingBalance\}\}/g, '');
    const missing = lintTemplate(def)
      .filter((f) => f.ruleId === 'demand-letter-missing-element')
      .map((f) => /\[(\w+)\]/.exec(f.message)?.[1]);
    // the contact details are still present through the objection partial (@bank.phone + @bank.address)
    expect(missing.sort()).toEqual(['outstanding_balance', 'seal']);
    def.parts.letter = (def.parts.letter ?? '').replace('{{> letter-objection}}', '');
    const again = lintTemplate(def)
      .filter((f) => f.ruleId === 'demand-letter-missing-element')
      .map((f) => /\[(\w+)\]/.exec(f.message)?.[1]);
    expect(again.sort()).toEqual(['bank_contact', 'objection', 'outstanding_balance', 'seal']);
  });

  it('the art. 69 check does not apply to ordinary mid-stage letters', () => {
    const def = get('mid.letter.notice', 'zh-CN');
    def.parts.letter = '{{@recipientName}}：请尽快还款。';
    expect(ids(lintTemplate(def))).not.toContain('demand-letter-missing-element');
  });

  it('sms-segment-limit uses the configured limit', () => {
    const def = get('early.sms.reminder', 'zh-CN');
    expect(lintTemplate(def)).toEqual([]);
    const f = lintTemplate(def, { maxSmsSegments: 1 });
    expect(f).toEqual([
      {
        ruleId: 'sms-segment-limit',
        severity: 'error',
        message: 'example SMS needs 2 UCS-2 segments (maximum 1; 70/67 characters per segment)',
        location: { part: 'sms' },
      },
    ]);
    const long = smsDef(`${'a'.repeat(480)} Reply STOP to opt out.`, { locale: 'en' });
    expect(lintTemplate(long).find((x) => x.ruleId === 'sms-segment-limit')?.message).toContain(
      '4 GSM-7 segments (maximum 3',
    );
  });

  it('sms-encoding warns when English text leaves GSM-7', () => {
    const f = lintTemplate(smsDef('We’re here. Reply STOP to opt out.', { locale: 'en' })).find(
      (x) => x.ruleId === 'sms-encoding',
    );
    expect(f?.severity).toBe('warning');
    expect(f?.location).toEqual({ part: 'sms', line: 1, column: 3 });
  });

  it('missing-opt-out for SMS and email', () => {
    expect(ids(lintTemplate(smsDef('您好')))).toContain('missing-opt-out');
    const email = smsDef('', {
      key: 'early.email.lint',
      channel: 'email',
      parts: { subject: 's', html: '<p>hi</p>', text: 'hi 退订' },
    });
    expect(
      lintTemplate(email)
        .filter((f) => f.ruleId === 'missing-opt-out')
        .map((f) => f.location.part),
    ).toEqual(['html']);
  });

  it('html-unescaped-output warns about triple-stash in email HTML only', () => {
    const email = smsDef('', {
      key: 'early.email.lint',
      channel: 'email',
      parts: {
        subject: '{{{amountDue}}}',
        html: '<p>{{{amountDue}}} 退订</p>',
        text: '{{{amountDue}}} 退订',
      },
    });
    const f = lintTemplate(email).filter((x) => x.ruleId === 'html-unescaped-output');
    expect(f).toEqual([
      {
        ruleId: 'html-unescaped-output',
        severity: 'warning',
        message: 'triple-stash output is not HTML-escaped',
        location: { part: 'html', line: 1, column: 4 },
      },
    ]);
  });

  it('example-render-failed when the example misses a variable the schema allows to be absent', () => {
    const f = lintTemplate(smsDef('{{cny amountDue}} 回复TD退订', { exampleData: {} }));
    expect(f.map((x) => [x.ruleId, x.message])).toEqual([
      ['example-render-failed', 'data.amountDue is required by the template (sms)'],
    ]);
  });
});

describe('segment budgets, senders and locales (issue 13)', () => {
  /** The senders as a bank that kept 信用卡中心 in every name would configure them. */
  const cardCentreEverywhere = {
    debtor: DEFAULT_SENDERS.debtor,
    thirdParty: {
      'zh-CN': { ...DEFAULT_SENDERS.thirdParty['zh-CN'], name: '示例银行信用卡中心' },
      en: { ...DEFAULT_SENDERS.thirdParty.en, name: 'Example Bank Credit Card Center' },
    },
  };

  it('refuses a third-party SMS whose sender name reveals the card debt, in both locales', () => {
    for (const locale of ['zh-CN', 'en'] as const) {
      const def = get('early.sms.third_party', locale);
      expect(lintTemplate(def)).toEqual([]);
      const f = lintTemplate(def, { senders: cardCentreEverywhere });
      const wording = f.filter((x) => x.ruleId === 'third-party-debt-wording');
      expect(wording.length).toBeGreaterThan(0);
      expect(wording[0]).toMatchObject({ severity: 'error', location: { part: 'sms' } });
      expect(wording[0].message).toContain(
        locale === 'en' ? 'THIRD_PARTY_SENDER_NAME_EN' : 'THIRD_PARTY_SENDER_NAME',
      );
    }
  });

  it('refuses card words typed into a third-party template, zh and en', () => {
    const zh = get('early.sms.third_party', 'zh-CN');
    zh.parts.sms = '{{@bank.name}}：请转告{{customerName}}致电卡中心。回复TD退订';
    expect(ids(lintTemplate(zh))).toContain('third-party-debt-wording');
    const en = get('early.sms.third_party', 'en');
    en.parts.sms =
      '{{@bank.name}}: please ask {{customerName}} to call the card team. Reply STOP to opt out.';
    expect(lintTemplate(en).map((x) => x.message)).toContain('third-party text mentions "card"');
  });

  it('warns over 2 segments and refuses over the configured maximum', () => {
    const three = smsDef(`${'a'.repeat(400)} Reply STOP to opt out.`, { locale: 'en' });
    expect(lintTemplate(three).filter((x) => x.ruleId.startsWith('sms-segment'))).toEqual([
      {
        ruleId: 'sms-segment-budget',
        severity: 'warning',
        message: 'example SMS needs 3 GSM-7 segments (budget 2; 160/153 characters per segment)',
        location: { part: 'sms' },
      },
    ]);
    expect(
      lintTemplate(three, { maxSmsSegments: 2 }).filter((x) => x.ruleId.startsWith('sms-segment')),
    ).toMatchObject([{ ruleId: 'sms-segment-limit', severity: 'error' }]);
  });

  it('refuses an English SMS that renders the Chinese bank name (UCS-2, 4-5 segments)', () => {
    const def = get('early.sms.reminder', 'en');
    const chineseName = {
      ...DEFAULT_SENDERS,
      debtor: { ...DEFAULT_SENDERS.debtor, en: { ...DEFAULT_SENDERS.debtor.en, name: '示例银行信用卡中心' } },
    };
    const f = lintTemplate(def, { senders: chineseName });
    expect(f.find((x) => x.ruleId === 'locale-mixed-script')).toMatchObject({
      severity: 'error',
      location: { part: 'sms' },
    });
    expect(f.find((x) => x.ruleId === 'locale-mixed-script')?.message).toContain('BANK_NAME_EN');
    const seg = f.find((x) => x.ruleId === 'sms-segment-limit');
    expect(seg?.message).toMatch(/needs [45] UCS-2 segments/);
    // With the English name the same template is GSM-7 in at most 2 segments.
    expect(lintTemplate(def)).toEqual([]);
  });

  it('refuses a schema pattern RE2 cannot run in linear time', () => {
    const def = smsDef('{{amountDue}} 回复TD退订', {
      schema: { type: 'object', properties: { amountDue: { type: 'string', pattern: '^(a)\\1$' } } },
    });
    const f = lintTemplate(def);
    expect(f.find((x) => x.ruleId === 'schema-invalid')?.message).toMatch(/invalid JSON Schema/);
  });

  it('reports a loop over the rendering budget instead of running it', () => {
    const def = smsDef('{{#each items}}{{#each ../items}}{{x}}{{/each}}{{/each}} 回复TD退订', {
      exampleData: { amountDue: '1.00', items: Array.from({ length: 200 }, () => ({ x: 'a' })) },
    });
    const started = Date.now();
    const f = lintTemplate(def, { renderLimits: { maxIterations: 1000, maxOutputChars: 1_000_000 } });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(f.find((x) => x.ruleId === 'example-render-failed')?.message).toContain(
      'loops more than 1000 times',
    );
  });
});

describe('lintTemplate provider registrations (smsProviders)', () => {
  const reg = (
    kind: 'aliyun' | 'tencent',
    text: string,
    params: [string, string][],
    over: Partial<SmsRegistration> = {},
  ): SmsRegistration => ({
    kind,
    locale: 'zh-CN',
    templateCode: kind === 'aliyun' ? 'SMS_1' : '1001',
    signName: '示例银行信用卡中心',
    text,
    params: params.map(([name, expr]) => ({ name, expr })),
    ...over,
  });
  const body = '【{{@bank.name}}】您好，应还{{cny amountDue}}元。回复TD退订';
  const registered = (registrations: SmsRegistration[], over: Partial<TemplateDefinition> = {}) =>
    smsDef(body, { registrations, ...over });
  const good = [
    reg('aliyun', '您好，应还${amount}元。回复TD退订', [['amount', '{{cny amountDue}}']]),
    reg('tencent', '您好，应还{1}元。回复TD退订', [['1', '{{cny amountDue}}']]),
  ];
  const regFindings = (f: LintFinding[]) => f.filter((x) => x.ruleId.startsWith('sms-registration'));

  it('checks nothing unless provider kinds are configured (callers behave as before)', () => {
    expect(lintTemplate(smsDef(body))).toEqual([]);
    expect(lintTemplate(registered([reg('tencent', '不一样{1}', [['1', '{{amountDue}}']])]))).toEqual([]);
  });

  it('the default pack fills every Aliyun registration; Tencent at 12 characters refuses the long dates and amounts', () => {
    const run = (opts: Parameters<typeof lintTemplate>[1]) =>
      pack.flatMap((d) =>
        lintTemplate(d, opts).map((f) => `${d.key} ${d.locale} ${f.ruleId} ${f.location.part}`),
      );
    expect(run({ smsProviders: ['aliyun'] })).toEqual([]);
    expect(run({ smsProviders: ['aliyun', 'tencent'] })).toEqual([
      'early.sms.reminder en sms-registration-variable registrations.tencent',
      'reminder.sms.due en sms-registration-variable registrations.tencent',
      'reminder.sms.due en sms-registration-variable registrations.tencent',
      'reminder.sms.due zh-CN sms-registration-variable registrations.tencent',
    ]);
    // An account without Tencent's 12-character limit (enterprise) passes its own limit.
    expect(run({ smsProviders: ['aliyun', 'tencent'], smsVariableMaxLength: { tencent: 35 } })).toEqual([]);
  });

  it('sms-registration-missing for each configured kind without a registration', () => {
    const f = lintTemplate(registered([good[0]]), { smsProviders: ['aliyun', 'tencent'] });
    expect(regFindings(f)).toEqual([
      {
        ruleId: 'sms-registration-missing',
        severity: 'error',
        message:
          'no tencent registration for zh-CN: tencent sends registered templates only (add registrations.tencent.zh-CN to template.json)',
        location: { part: 'registrations.tencent' },
      },
    ]);
    // A registration for another locale does not count.
    const en = registered([{ ...good[0], locale: 'en' }]);
    expect(ids(lintTemplate(en, { smsProviders: ['aliyun'] }))).toEqual(['sms-registration-missing']);
    // Other channels need none.
    expect(
      regFindings(lintTemplate(get('early.email.reminder', 'zh-CN'), { smsProviders: ['aliyun'] })),
    ).toEqual([]);
  });

  it('a matching registration passes for both kinds', () => {
    expect(lintTemplate(registered(good), { smsProviders: ['aliyun', 'tencent'] })).toEqual([]);
  });

  it('sms-registration-variable: the example value breaks the length or character rules', () => {
    const def = registered(good, { exampleData: { amountDue: '1234567890.12' } });
    const f = regFindings(lintTemplate(def, { smsProviders: ['aliyun', 'tencent'] }));
    expect(f).toEqual([
      {
        ruleId: 'sms-registration-variable',
        severity: 'error',
        message:
          'example: tencent variable {1} is 16 characters ("1,234,567,890.12"), over the 12 a tencent variable may have',
        location: { part: 'registrations.tencent' },
      },
    ]);
    const brackets = smsDef('【{{@bank.name}}】您好，{{amountDue}}。回复TD退订', {
      exampleData: { amountDue: '【通知】' },
      registrations: [reg('aliyun', '您好，${x}。回复TD退订', [['x', '{{amountDue}}']])],
    });
    expect(regFindings(lintTemplate(brackets, { smsProviders: ['aliyun'] }))).toMatchObject([
      { ruleId: 'sms-registration-variable', message: expect.stringContaining('contains "【"') },
    ]);
  });

  it('sms-registration-link: a link-like Tencent variable', () => {
    const def = smsDef('【{{@bank.name}}】详见{{amountDue}}。回复TD退订', {
      exampleData: { amountDue: 't.cn/A6x' },
      registrations: [
        reg('tencent', '详见{1}。回复TD退订', [['1', '{{amountDue}}']]),
        reg('aliyun', '详见${x}。回复TD退订', [['x', '{{amountDue}}']]),
      ],
    });
    const f = regFindings(lintTemplate(def, { smsProviders: ['aliyun', 'tencent'] }));
    expect(f).toEqual([
      {
        ruleId: 'sms-registration-link',
        severity: 'error',
        message: expect.stringContaining('tencent variable {1} ("t.cn/A6x") looks like a link'),
        location: { part: 'registrations.tencent' },
      },
    ]);
  });

  it('sms-registration-mismatch says where the example text and the registration differ', () => {
    const def = registered([
      reg('aliyun', '您好，本期应还${amount}元。回复TD退订', [['amount', '{{cny amountDue}}']]),
    ]);
    const f = regFindings(lintTemplate(def, { smsProviders: ['aliyun'] }));
    expect(f).toEqual([
      {
        ruleId: 'sms-registration-mismatch',
        severity: 'error',
        message:
          'example: the filled aliyun template SMS_1 differs from the rendered SMS at character 15: ' +
          'rendered "…例银行信用卡中心】您好，应还10.00元。回复T…", registered "…例银行信用卡中心】您好，本期应还10.00元。回…"',
        location: { part: 'registrations.aliyun' },
      },
    ]);
    // The sign name is part of what the debtor reads.
    const sign = registered([{ ...good[0], signName: '别的银行' }]);
    expect(ids(lintTemplate(sign, { smsProviders: ['aliyun'] }))).toEqual(['sms-registration-mismatch']);
    // The pack's registrations follow their bodies: an edited body no longer matches.
    const edited = get('mid.sms.notice', 'zh-CN');
    edited.parts.sms = (edited.parts.sms as string).replace('请尽快还款', '请您尽快还款');
    expect(ids(lintTemplate(edited, { smsProviders: ['aliyun', 'tencent'] }))).toEqual([
      'sms-registration-mismatch',
      'sms-registration-mismatch',
    ]);
  });

  it('a param that does not render is reported, not thrown', () => {
    const def = registered([
      reg('aliyun', '您好，应还${amount}元。回复TD退订', [['amount', '{{cny nothing}}']]),
    ]);
    const f = regFindings(lintTemplate(def, { smsProviders: ['aliyun'] }));
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      ruleId: 'sms-registration-mismatch',
      location: { part: 'registrations.aliyun' },
    });
    expect(f[0].message).toMatch(/^aliyun param amount \("\{\{cny nothing\}\}"\) does not render: /);
  });

  it('every registration rule id is documented', () => {
    for (const id of [
      'sms-registration-missing',
      'sms-registration-variable',
      'sms-registration-link',
      'sms-registration-mismatch',
    ])
      expect(Object.keys(LINT_RULES)).toContain(id);
  });
});
