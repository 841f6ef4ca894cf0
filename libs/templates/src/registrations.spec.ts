import { describe, it, expect, beforeAll } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TemplateDataError, type Locale } from '#libs/core';
import { registrationValueRenderer, renderTemplate } from './engine.js';
import { DEFAULT_SENDERS, sampleContext, senderFor } from './lint.js';
import { loadTemplatePack } from './pack.js';
import { exportTemplatePack } from './store/export.js';
import {
  checkRegistration,
  fillRegistration,
  fillRegistrations,
  looksLikeLink,
  PROVIDER_SMS_RULES,
  registrationFor,
  SmsRegistrationError,
} from './registrations.js';
import type { RenderContext, SmsRegistration, TemplateDefinition } from './types.js';

const PACK_DIR = new URL('../../../templates', import.meta.url).pathname;

let pack: TemplateDefinition[];
beforeAll(() => {
  pack = loadTemplatePack(PACK_DIR);
});

const get = (key: string, locale: Locale) =>
  structuredClone(pack.find((d) => d.key === key && d.locale === locale) as TemplateDefinition);

/** The context the service signs with (as in pack.spec.ts). */
const ctxFor = (def: TemplateDefinition): RenderContext => ({
  ...sampleContext(def.locale),
  bank: senderFor(DEFAULT_SENDERS, def.audience, def.locale),
});

function fill(def: TemplateDefinition, kind: 'aliyun' | 'tencent', data: unknown = def.exampleData) {
  const ctx = ctxFor(def);
  const body = renderTemplate(def, data, ctx).sms?.text ?? '';
  const reg = registrationFor(def, kind) as SmsRegistration;
  return fillRegistration(def, reg, body, registrationValueRenderer(def, data, ctx));
}

function smsDef(sms: string, registrations: SmsRegistration[]): TemplateDefinition {
  return {
    key: 'early.sms.reg',
    locale: 'zh-CN',
    stage: 'early',
    channel: 'sms',
    audience: 'debtor',
    version: 1,
    schema: {
      type: 'object',
      properties: { amountDue: { type: 'string' }, note: { type: 'string' } },
    },
    exampleData: { amountDue: '10.00', note: 'x' },
    parts: { sms },
    registrations,
  };
}

const aliyun = (text: string, params: Record<string, string>): SmsRegistration => ({
  kind: 'aliyun',
  locale: 'zh-CN',
  templateCode: 'SMS_1',
  signName: '示例银行信用卡中心',
  text,
  params: Object.entries(params).map(([name, expr]) => ({ name, expr })),
});
const tencent = (text: string, params: string[]): SmsRegistration => ({
  kind: 'tencent',
  locale: 'zh-CN',
  templateCode: '1001',
  signName: '示例银行信用卡中心',
  text,
  params: params.map((expr, i) => ({ name: String(i + 1), expr })),
});

describe('the pack', () => {
  it('registers every SMS template with both kinds in both locales, normalised per locale', () => {
    const sms = pack.filter((d) => d.channel === 'sms');
    expect(sms).toHaveLength(8);
    for (const def of sms) {
      expect(def.registrations?.map((r) => `${r.kind}/${r.locale}`).sort()).toEqual([
        `aliyun/${def.locale}`,
        `tencent/${def.locale}`,
      ]);
      const t = registrationFor(def, 'tencent') as SmsRegistration;
      expect(t.params.map((p) => p.name)).toEqual(t.params.map((_, i) => String(i + 1)));
    }
    expect(pack.filter((d) => d.channel !== 'sms').every((d) => d.registrations === undefined)).toBe(true);
  });

  it('fills the Aliyun registration of every SMS template from its example, equal to the body', () => {
    for (const def of pack.filter((d) => d.channel === 'sms')) {
      const body = renderTemplate(def, def.exampleData, ctxFor(def)).sms?.text as string;
      const filled = fill(def, 'aliyun');
      expect(filled.kind).toBe('aliyun');
      // zh-CN bodies carry the sign as their 【…】 prefix; English ones do not (the gateway adds it).
      expect(filled.text).toBe(def.locale === 'zh-CN' ? body : `【${filled.signName}】${body}`);
    }
  });

  it('fills early.sms.reminder for Tencent in order, values exactly as the body shows them', () => {
    const filled = fill(get('early.sms.reminder', 'zh-CN'), 'tencent');
    expect(filled).toEqual({
      kind: 'tencent',
      templateCode: '2193844',
      signName: '示例银行信用卡中心',
      params: [
        { name: '1', value: '张三' },
        { name: '2', value: '1234' },
        { name: '3', value: '3,280.50' },
        { name: '4', value: '2026年10月25日' },
        { name: '5', value: '7' },
        { name: '6', value: '400-800-0000' },
      ],
      text: expect.stringMatching(/^【示例银行信用卡中心】张三您好，您尾号1234的信用卡有3,280\.50元/),
    });
  });

  it('reminder.sms.due: the optional minimum payment rides in the amount variable, never empty', () => {
    const def = get('reminder.sms.due', 'zh-CN');
    const withMin = fill(def, 'aliyun');
    expect(withMin.params.find((p) => p.name === 'amount')?.value).toBe('5,620.00元（最低还款562.00元）');
    const { minimumPayment: _omit, ...data } = def.exampleData;
    const without = fill(def, 'aliyun', data);
    expect(without.params.find((p) => p.name === 'amount')?.value).toBe('5,620.00元');
    expect(without.text).toContain('本期应还5,620.00元，到期还款日');
  });

  it('refuses a value over the Tencent limit, naming the param and the rule', () => {
    // 12 characters per Tencent variable: the amount with its minimum payment is 22.
    const def = get('reminder.sms.due', 'zh-CN');
    let err: unknown;
    try {
      fill(def, 'tencent');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SmsRegistrationError);
    expect(err).toBeInstanceOf(TemplateDataError);
    const e = err as SmsRegistrationError;
    expect(e.code).toBe('template_data');
    expect(e.violations).toEqual([
      {
        rule: 'max-length',
        param: '3',
        message: expect.stringContaining(
          'tencent variable {3} is 22 characters ("5,620.00元（最低还款562.00元）"), over the 12',
        ),
      },
    ]);
    expect(e.fields).toEqual([{ path: 'registrations.tencent.params.3', message: e.violations[0].message }]);
    expect(e.extra).toMatchObject({ kind: 'tencent', templateCode: '2193850', rules: ['max-length'] });
    // Without the minimum payment it fits.
    const { minimumPayment: _omit, ...data } = def.exampleData;
    expect(fill(def, 'tencent', data).params[2]).toEqual({ name: '3', value: '5,620.00元' });
  });
});

describe('fillRegistration rules', () => {
  const render = (def: TemplateDefinition, data: unknown = def.exampleData) => {
    const ctx = sampleContext('zh-CN');
    return {
      body: renderTemplate(def, data, ctx).sms?.text as string,
      value: registrationValueRenderer(def, data, ctx),
    };
  };

  it('renders params with the helpers and @-context of the body', () => {
    const reg = aliyun('${name}您好，应还${amount}元。回复TD退订', {
      name: '{{@recipientName}}',
      amount: '{{cny amountDue}}',
    });
    const def = smsDef('【{{@bank.name}}】{{@recipientName}}您好，应还{{cny amountDue}}元。回复TD退订', [
      reg,
    ]);
    const { body, value } = render(def, { amountDue: '1234.5' });
    expect(fillRegistration(def, reg, body, value)).toEqual({
      kind: 'aliyun',
      templateCode: 'SMS_1',
      signName: '示例银行信用卡中心',
      params: [
        { name: 'name', value: '张三' },
        { name: 'amount', value: '1,234.50' },
      ],
      text: '【示例银行信用卡中心】张三您好，应还1,234.50元。回复TD退订',
    });
  });

  it('the sign prefix of the body is optional; trailing whitespace is ignored', () => {
    const reg = aliyun('应还${amount}元。', { amount: '{{amountDue}}' });
    const values = [{ name: 'amount', value: '10.00' }];
    expect(checkRegistration(reg, values, '应还10.00元。  \n').violations).toEqual([]);
    expect(checkRegistration(reg, values, '【示例银行信用卡中心】应还10.00元。').violations).toEqual([]);
    // A body signed with another name is a mismatch: the debtor would read a different sign.
    const other = checkRegistration(reg, values, '【别的银行】应还10.00元。').violations;
    expect(other.map((v) => v.rule)).toEqual(['text-mismatch']);
    // Leading whitespace is not normalised.
    expect(checkRegistration(reg, values, ' 应还10.00元。').violations.map((v) => v.rule)).toEqual([
      'text-mismatch',
    ]);
  });

  it('detects a registered text that differs from the body and says where', () => {
    const reg = aliyun('${name}您好，您的账单应还${amount}元。回复TD退订', {
      name: '{{@recipientName}}',
      amount: '{{amountDue}}',
    });
    const def = smsDef('【{{@bank.name}}】{{@recipientName}}您好，本期应还{{amountDue}}元。回复TD退订', [
      reg,
    ]);
    const { body, value } = render(def);
    expect(() => fillRegistration(def, reg, body, value)).toThrow(SmsRegistrationError);
    try {
      fillRegistration(def, reg, body, value);
    } catch (err) {
      const e = err as SmsRegistrationError;
      expect(e.violations).toHaveLength(1);
      expect(e.violations[0].rule).toBe('text-mismatch');
      expect(e.violations[0].message).toBe(
        'the filled aliyun template SMS_1 differs from the rendered SMS at character 17: ' +
          'rendered "…行信用卡中心】张三您好，本期应还10.00元。回…", registered "…行信用卡中心】张三您好，您的账单应还10.00元…"',
      );
      expect(e.fields[0].path).toBe('registrations.aliyun.text');
      expect(e.message).toContain('early.sms.reg (zh-CN) cannot be sent as aliyun template SMS_1');
    }
  });

  it('a param whose expression renders something else than the body is a mismatch', () => {
    const reg = aliyun('应还${amount}元。回复TD退订', { amount: '{{amountDue}}' });
    const def = smsDef('应还{{cny amountDue}}元。回复TD退订', [reg]);
    const { body, value } = render(def, { amountDue: '1234.5' });
    expect(() => fillRegistration(def, reg, body, value)).toThrow(
      /differs from the rendered SMS at character 4: rendered "应还1,234.50元。回复T…", registered "应还1234.5元/,
    );
  });

  it('Tencent fills {n} from params in order', () => {
    const reg = tencent('{2}您好，尾号{1}。回复TD退订', ['{{note}}', '{{@recipientName}}']);
    const def = smsDef('{{@recipientName}}您好，尾号{{note}}。回复TD退订', [reg]);
    const { body, value } = render(def, { note: '1234' });
    const filled = fillRegistration(def, reg, body, value);
    expect(filled.params).toEqual([
      { name: '1', value: '1234' },
      { name: '2', value: '张三' },
    ]);
    expect(filled.text).toBe('【示例银行信用卡中心】张三您好，尾号1234。回复TD退订');
  });

  it('refuses links in Tencent variables, not in Aliyun ones', () => {
    for (const link of ['https://bank.example.cn/p', 'www.example.com', 't.cn/A6x', 'bank.example.cn']) {
      const t = tencent('详见{1}。', ['{{note}}']);
      const v = checkRegistration(t, [{ name: '1', value: link }], `详见${link}。`).violations;
      expect(v.map((x) => [x.rule, x.param])).toEqual(
        link.length > 12
          ? [
              ['max-length', '1'],
              ['link', '1'],
            ]
          : [['link', '1']],
      );
      const a = aliyun('详见${url}。', { url: '{{note}}' });
      expect(checkRegistration(a, [{ name: 'url', value: link }], `详见${link}。`).violations).toEqual([]);
    }
    const t = tencent('详见{1}。', ['{{note}}']);
    expect(
      checkRegistration(t, [{ name: '1', value: 't.cn/A6x' }], '详见t.cn/A6x。').violations[0].message,
    ).toMatch(/tencent variable \{1\} \("t\.cn\/A6x"\) looks like a link/);
    for (const plain of ['5,620.00', '2026年11月1日', '400-800-0000', 'Zhang San', '1 November 2026'])
      expect(looksLikeLink(plain)).toBe(false);
  });

  it('refuses characters the gateway does not accept', () => {
    const a = aliyun('您好${name}。', { name: '{{note}}' });
    const v = checkRegistration(a, [{ name: 'name', value: '【张三】' }], '您好【张三】。').violations;
    expect(v).toEqual([
      {
        rule: 'forbidden-char',
        param: 'name',
        message: 'aliyun variable ${name} ("【张三】") contains "【", which aliyun does not accept',
      },
    ]);
    const t = tencent('应还{1}。', ['{{note}}']);
    expect(
      checkRegistration(t, [{ name: '1', value: '¥10' }], '应还¥10。').violations.map((x) => x.rule),
    ).toEqual(['forbidden-char']);
  });

  it('length is counted in characters (code points), per provider', () => {
    const a = aliyun('${x}', { x: '{{note}}' });
    const ok = '字'.repeat(PROVIDER_SMS_RULES.aliyun.maxVariableLength);
    expect(checkRegistration(a, [{ name: 'x', value: ok }], ok).violations).toEqual([]);
    const over = `${ok}字`;
    expect(checkRegistration(a, [{ name: 'x', value: over }], over).violations.map((x) => x.rule)).toEqual([
      'max-length',
    ]);
    const emoji = '😀'.repeat(12); // 24 UTF-16 units, 12 characters
    const t = tencent('{1}', ['{{note}}']);
    expect(checkRegistration(t, [{ name: '1', value: emoji }], emoji).violations).toEqual([]);
    // An account with a higher limit passes its rules.
    const long = '一二三四五六七八九十一二三';
    expect(checkRegistration(t, [{ name: '1', value: long }], long).violations).toHaveLength(1);
    expect(
      checkRegistration(t, [{ name: '1', value: long }], long, {
        ...PROVIDER_SMS_RULES.tencent,
        maxVariableLength: 20,
      }).violations,
    ).toEqual([]);
  });

  it('reports every violation at once', () => {
    const t = tencent('{1}，{2}', ['{{note}}', '{{note}}']);
    const v = checkRegistration(
      t,
      [
        { name: '1', value: 'https://bank.example.cn/pay' },
        { name: '2', value: 'ok' },
      ],
      '别的文字',
    ).violations;
    expect(v.map((x) => `${x.rule}:${x.param ?? ''}`)).toEqual(['max-length:1', 'link:1', 'text-mismatch:']);
  });

  it('a param the data cannot render throws TemplateDataError naming the expression', () => {
    const reg = aliyun('${x}', { x: '{{missing}}' });
    const def = smsDef('x', [reg]);
    const value = registrationValueRenderer(def, {}, sampleContext('zh-CN'));
    expect(() => value('{{missing}}')).toThrow(TemplateDataError);
    expect(() => value('{{cny note}}')).toThrow(/registration "\{\{cny note\}\}"/);
  });

  it('fillRegistrations fills each configured kind the template has, with per-kind rules', () => {
    const def = get('reminder.sms.due', 'zh-CN');
    const ctx = ctxFor(def);
    const body = renderTemplate(def, def.exampleData, ctx).sms?.text as string;
    const value = registrationValueRenderer(def, def.exampleData, ctx);
    const aliyunOnly = fillRegistrations(def, body, value, ['aliyun']);
    expect(Object.keys(aliyunOnly)).toEqual(['aliyun']);
    expect(aliyunOnly.aliyun?.text).toBe(body);
    expect(() => fillRegistrations(def, body, value, ['aliyun', 'tencent'])).toThrow(SmsRegistrationError);
    const lifted = fillRegistrations(def, body, value, ['aliyun', 'tencent'], {
      tencent: { ...PROVIDER_SMS_RULES.tencent, maxVariableLength: 35 },
    });
    expect(lifted.tencent?.templateCode).toBe('2193850');
    expect(lifted.tencent?.text).toBe(body);
    expect(fillRegistrations({ ...def, registrations: undefined }, body, value, ['aliyun'])).toEqual({});
  });

  it('registrationFor picks kind and locale', () => {
    const def = get('mid.sms.notice', 'en');
    expect(registrationFor(def, 'aliyun')?.templateCode).toBe('SMS_4802155');
    expect(registrationFor(def, 'tencent')?.templateCode).toBe('2193849');
    expect(registrationFor(def, 'aliyun', 'zh-CN')).toBeUndefined();
    expect(registrationFor({ locale: 'en' }, 'aliyun')).toBeUndefined();
  });
});

describe('exportTemplatePack', () => {
  it('writes registrations back in template.json so the pack loads them again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regs-export-'));
    try {
      await exportTemplatePack(pack, dir);
      const back = loadTemplatePack(dir);
      for (const d of back) {
        const cur = pack.find((x) => x.key === d.key && x.locale === d.locale);
        expect(d.registrations).toEqual(cur?.registrations);
      }
      expect(back.filter((d) => d.registrations?.length)).toHaveLength(8);
      const manifest = JSON.parse(readFileSync(join(dir, 'mid.sms.notice', 'template.json'), 'utf8')) as {
        registrations: { tencent: { en: { params: string[] } } };
      };
      expect(manifest.registrations.tencent.en.params[0]).toBe('{{@recipientName}}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loadTemplatePack validates registrations', () => {
  const withManifest = (key: string, edit: (m: Record<string, unknown>) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'regs-'));
    cpSync(PACK_DIR, dir, { recursive: true });
    const file = join(dir, key, 'template.json');
    const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(m);
    writeFileSync(file, JSON.stringify(m));
    try {
      return () => loadTemplatePack(dir);
    } finally {
      setTimeout(() => rmSync(dir, { recursive: true, force: true }), 5000).unref();
    }
  };
  type Regs = Record<string, Record<string, Record<string, unknown>>>;
  const regs = (m: Record<string, unknown>) => m.registrations as Regs;

  it.each<[string, string, (m: Record<string, unknown>) => void, RegExp]>([
    [
      'unknown kind',
      'early.sms.reminder',
      (m) => (regs(m).huawei = regs(m).aliyun),
      /registrations: unknown provider kind "huawei" \(known: aliyun, tencent\)/,
    ],
    [
      'registrations on an email template',
      'early.email.reminder',
      (m) => (m.registrations = {}),
      /"registrations" are for SMS templates only/,
    ],
    [
      'placeholder without a param',
      'early.sms.reminder',
      (m) => delete (regs(m).aliyun['zh-CN'].params as Record<string, string>).card,
      /registrations\.aliyun\.zh-CN\.text uses \$\{card\} but params has no "card"/,
    ],
    [
      'param not in the text',
      'early.sms.reminder',
      (m) => ((regs(m).aliyun.en.params as Record<string, string>).extra = '{{cardLast4}}'),
      /registrations\.aliyun\.en\.params\.extra is not a placeholder of the text/,
    ],
    [
      'Tencent numbering with a gap',
      'mid.sms.notice',
      (m) => (regs(m).tencent['zh-CN'].text = String(regs(m).tencent['zh-CN'].text).replace('{5}', '{7}')),
      /registrations\.tencent\.zh-CN: Tencent placeholders must be numbered \{1\}\.\.\{5\} to match the 5 params \(the text has \{1\}, \{2\}, \{3\}, \{4\}, \{7\}\)/,
    ],
    [
      'Tencent params not matching the count',
      'mid.sms.notice',
      (m) => (regs(m).tencent.en.params as string[]).push('{{cardLast4}}'),
      /Tencent placeholders must be numbered \{1\}\.\.\{6\} to match the 6 params/,
    ],
    [
      'Tencent named placeholder',
      'mid.sms.notice',
      (m) => (regs(m).tencent.en.text = `${String(regs(m).tencent.en.text)} {name}`),
      /malformed placeholder "\{name\}"/,
    ],
    [
      'Aliyun malformed placeholder',
      'mid.sms.notice',
      (m) => (regs(m).aliyun.en.text = `${String(regs(m).aliyun.en.text)} \${1x}`),
      /malformed placeholder "\$\{1x\}"/,
    ],
    [
      'a param that does not compile',
      'mid.sms.notice',
      (m) => ((regs(m).aliyun.en.params as Record<string, string>).card = '{{#if cardLast4}}'),
      /registrations\.aliyun\.en\.params\.card/,
    ],
    [
      'a missing template code',
      'mid.sms.notice',
      (m) => (regs(m).tencent.en.templateCode = ''),
      /registrations\.tencent\.en\.templateCode must be a non-empty string/,
    ],
    [
      'a sign name in brackets',
      'mid.sms.notice',
      (m) => (regs(m).tencent.en.signName = '【Example Bank】'),
      /signName is written without 【】/,
    ],
    [
      'a sign in the text',
      'mid.sms.notice',
      (m) => (regs(m).aliyun['zh-CN'].text = `【示例银行信用卡中心】${String(regs(m).aliyun['zh-CN'].text)}`),
      /registrations\.aliyun\.zh-CN\.text: 【】 delimit the sign name/,
    ],
    [
      'an unknown locale',
      'mid.sms.notice',
      (m) => (regs(m).tencent.fr = regs(m).tencent.en),
      /registrations\.tencent\.fr: unknown locale "fr"/,
    ],
    [
      'a reserved Aliyun name',
      'early.sms.third_party',
      (m) => {
        const r = regs(m).aliyun.en;
        r.text = String(r.text).replace('${name}', '${nick}');
        const p = r.params as Record<string, string>;
        p.nick = p.name;
        delete p.name;
      },
      /Aliyun does not accept the variable name "nick"/,
    ],
  ])('%s', (_name, key, edit, message) => {
    const load = withManifest(key, edit);
    expect(load).toThrow(message);
    expect(load).toThrow(new RegExp(`template pack: .*${key.replace(/\./g, '\\.')}/template\\.json`));
  });
});
