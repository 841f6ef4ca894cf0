import { describe, it, expect, beforeAll, afterEach } from '@jest/globals';
import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAGES, type Locale } from '#libs/core';
import { renderTemplate } from './engine.js';
import { DEFAULT_SENDERS, sampleContext, senderFor } from './lint.js';
import { loadTemplatePack } from './pack.js';
import type { TemplateDefinition } from './types.js';

const PACK_DIR = new URL('../../../templates', import.meta.url).pathname;

const EXPECTED_KEYS = [
  'early.email.reminder',
  'early.sms.reminder',
  'early.sms.third_party',
  'early.voice.reminder',
  'late.email.demand',
  'late.email.demand_copy',
  'late.letter.demand',
  'legal.letter.pre_litigation',
  'mid.email.notice',
  'mid.letter.notice',
  'mid.sms.notice',
  'reminder.sms.due',
];

/** Every string leaf of a value (the rendered texts). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

let pack: TemplateDefinition[];
beforeAll(() => {
  pack = loadTemplatePack(PACK_DIR);
});

describe('default pack', () => {
  it('has every template in zh-CN and en, sorted, version 1', () => {
    expect([...new Set(pack.map((d) => d.key))]).toEqual(EXPECTED_KEYS);
    for (const key of EXPECTED_KEYS) {
      expect(pack.filter((d) => d.key === key).map((d) => d.locale)).toEqual(['en', 'zh-CN']);
    }
    expect(pack.every((d) => d.version === 1)).toBe(true);
  });

  it('covers every stage x channel of the design', () => {
    const combos = new Set(pack.filter((d) => d.audience === 'debtor').map((d) => `${d.stage}/${d.channel}`));
    for (const c of [
      'reminder/sms',
      'early/sms',
      'early/email',
      'mid/email',
      'mid/sms',
      'mid/letter',
      'late/letter',
      'late/email',
      'legal/letter',
    ]) {
      expect(combos).toContain(c);
    }
    expect(new Set(pack.map((d) => d.stage))).toEqual(new Set(STAGES));
    expect(pack.filter((d) => d.audience === 'third_party').map((d) => d.key)).toEqual([
      'early.sms.third_party',
      'early.sms.third_party',
    ]);
  });

  it('makes each definition self-contained with the partials it uses', () => {
    const demand = pack.find((d) => d.key === 'late.letter.demand' && d.locale === 'zh-CN');
    expect(Object.keys(demand?.partials ?? {}).sort()).toEqual([
      'letter-bank-contact',
      'letter-legal-basis',
      'letter-objection',
      'letter-repay',
      'letter-rights',
      'letter-seal',
    ]);
    const sms = pack.find((d) => d.key === 'early.sms.reminder' && d.locale === 'en');
    expect(sms?.partials).toEqual({ 'sms-opt-out': 'Reply STOP to opt out.' });
  });
});

describe.each(EXPECTED_KEYS)('%s renders its example data', (key) => {
  it.each(['zh-CN', 'en'] as Locale[])('in %s', (locale) => {
    const def = pack.find((d) => d.key === key && d.locale === locale) as TemplateDefinition;
    // Signed as the service signs: the English name in English, a neutral name to third parties.
    const ctx = { ...sampleContext(locale), bank: senderFor(DEFAULT_SENDERS, def.audience, locale) };
    const msg = renderTemplate(def, def.exampleData, ctx);
    expect(msg.channel).toBe(def.channel);
    expect(msg).toMatchSnapshot();

    const all = strings(msg).join('\n');
    expect(all).not.toMatch(/\{\{|\}\}/);
    expect(all).toContain(ctx.bank.phone);
    expect(all).toContain(ctx.recipientName);

    const data = def.exampleData as Record<string, unknown>;
    if (def.channel === 'voice') {
      // Anyone may answer a call: it asks for a call back and says nothing about the debt.
      expect(all).not.toMatch(/\d[\d,]*\.\d\d|CNY|元|欠|逾期|debt|overdue|past due|owe/i);
      expect(all).not.toContain(String(data.cardLast4));
    } else if (def.audience === 'third_party') {
      expect(all).toContain(String(data.customerName));
      // The sender name included: 【…信用卡中心】 alone would tell a relative about the debt.
      expect(all).not.toMatch(/\d[\d,]*\.\d\d|CNY|元|欠|逾期|信用|卡|debt|overdue|card|credit/i);
    } else {
      expect(all).toContain(String(data.cardLast4));
    }
    if (msg.sms) {
      expect(msg.sms.text).toMatch(locale === 'en' ? /Reply STOP to opt out\.$/ : /回复TD退订$/);
      expect(msg.sms.segments).toBeGreaterThanOrEqual(1);
      expect(msg.sms.segments).toBeLessThanOrEqual(2);
      if (locale === 'en') expect(msg.sms.encoding).toBe('GSM-7');
      if (locale === 'en') expect(msg.sms.text).not.toMatch(/\p{Script=Han}/u);
    }
    if (msg.email) {
      expect(msg.email.subject).not.toContain('\n');
      expect(msg.email.html).toMatch(/^<!DOCTYPE html>/);
      expect(msg.email.html).toContain(`href="${ctx.unsubscribeUrl}"`);
      expect(msg.email.text).toContain(String(ctx.unsubscribeUrl));
      expect(msg.email.html).toContain(ctx.bank.complaintChannel);
    }
    if (msg.letter) {
      expect(msg.letter.title.length).toBeGreaterThan(2);
      expect(msg.letter.markdown).toContain(ctx.bank.complaintChannel);
      expect(msg.letter.markdown).toContain(ctx.bank.address);
    }
    const amount = data.amountDue ?? data.overdueAmount ?? data.outstandingBalance;
    if (typeof amount === 'string' && def.channel !== 'voice') {
      const [int, cents] = amount.split('.');
      expect(all).toContain(`${Number(int).toLocaleString('en-US')}.${(cents ?? '').padEnd(2, '0')}`);
    }
  });
});

describe('demand letters', () => {
  it('late.letter.demand carries the commitment form and every art. 69 element (zh-CN)', () => {
    const def = pack.find(
      (d) => d.key === 'late.letter.demand' && d.locale === 'zh-CN',
    ) as TemplateDefinition;
    const letter = renderTemplate(def, def.exampleData, sampleContext('zh-CN')).letter;
    expect(letter?.title).toBe('信用卡逾期欠款催收函');
    expect(letter?.markdown).toContain('张三：');
    expect(letter?.markdown).toContain('**23,456.78 元**（大写：贰万叁仟肆佰伍拾陆元柒角捌分）');
    expect(letter?.markdown).toContain('《信用卡领用合约》');
    expect(letter?.markdown).toContain('## 四、您的权利与义务');
    expect(letter?.markdown).toContain('## 六、异议与证据提交');
    expect(letter?.markdown).toContain('印章');
    expect(letter?.markdown).toContain('**2026年11月20日**');
    expect(letter?.attachments).toHaveLength(1);
    expect(letter?.attachments[0].title).toBe('还款承诺书');
    // Escaped for the letter's Markdown, so the mask's asterisks print as written (not as bold markers).
    expect(letter?.attachments[0].markdown).toContain(`1101${'\\*'.repeat(10)}1234`);
    expect(letter?.attachments[0].markdown).not.toContain('110101199001011234');
  });

  it('the commitment form leaves a blank for the ID number when none is given', () => {
    const def = pack.find((d) => d.key === 'late.letter.demand' && d.locale === 'en') as TemplateDefinition;
    const { idNumber: _omit, ...data } = def.exampleData;
    const letter = renderTemplate(def, data, sampleContext('en')).letter;
    expect(letter?.attachments[0].title).toBe('Repayment Commitment');
    expect(letter?.attachments[0].markdown).toContain('resident ID number: ____________________');
  });

  it('the pre-litigation notice never claims proceedings have started', () => {
    for (const locale of ['zh-CN', 'en'] as Locale[]) {
      const def = pack.find(
        (d) => d.key === 'legal.letter.pre_litigation' && d.locale === locale,
      ) as TemplateDefinition;
      const md = renderTemplate(def, def.exampleData, sampleContext(locale)).letter?.markdown ?? '';
      expect(md).toMatch(
        locale === 'en' ? /does not mean that proceedings have started/ : /本函不代表已经起诉/,
      );
      expect(md).toMatch(locale === 'en' ? /3 collection notices/ : /送达催收通知 3 次/);
    }
  });
});

describe('loadTemplatePack errors name the file', () => {
  let dir: string;
  const fresh = () => {
    dir = mkdtempSync(join(tmpdir(), 'pack-'));
    cpSync(PACK_DIR, dir, { recursive: true });
    return dir;
  };
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('invalid JSON', () => {
    fresh();
    const file = join(dir, 'early.sms.reminder', 'template.json');
    writeFileSync(file, '{ "stage": ');
    expect(() => loadTemplatePack(dir)).toThrow(`${file}: not valid JSON`);
  });

  it('unknown channel', () => {
    fresh();
    const file = join(dir, 'mid.sms.notice', 'template.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"channel": "sms"', '"channel": "fax"'));
    expect(() => loadTemplatePack(dir)).toThrow(`${file}: channel must be one of`);
  });

  it('Handlebars syntax error', () => {
    fresh();
    const file = join(dir, 'mid.sms.notice', 'en.sms.hbs');
    writeFileSync(file, 'Hello {{#if x}} never closed');
    expect(() => loadTemplatePack(dir)).toThrow(file);
  });

  it('missing part', () => {
    fresh();
    unlinkSync(join(dir, 'early.email.reminder', 'zh-CN.text.hbs'));
    expect(() => loadTemplatePack(dir)).toThrow(
      `${join(dir, 'early.email.reminder', 'zh-CN.text.hbs')}: missing`,
    );
  });

  it('unexpected file and unknown partial', () => {
    fresh();
    writeFileSync(join(dir, 'mid.sms.notice', 'fr.sms.hbs'), 'Bonjour');
    expect(() => loadTemplatePack(dir)).toThrow(join(dir, 'mid.sms.notice', 'fr.sms.hbs'));
    unlinkSync(join(dir, 'mid.sms.notice', 'fr.sms.hbs'));
    writeFileSync(join(dir, 'mid.sms.notice', 'en.sms.hbs'), 'x {{> no-such-part}}');
    expect(() => loadTemplatePack(dir)).toThrow(/mid\.sms\.notice: unknown partial "no-such-part"/);
  });

  it('key that does not match stage and channel', () => {
    fresh();
    const file = join(dir, 'mid.sms.notice', 'template.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"stage": "mid"', '"stage": "late"'));
    expect(() => loadTemplatePack(dir)).toThrow(`${file}: key "mid.sms.notice" must start with "late.sms."`);
  });
});
