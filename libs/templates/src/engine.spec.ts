import { describe, it, expect, beforeAll } from '@jest/globals';
import { TemplateDataError } from '#libs/core';
import { renderTemplate, templateCacheStats, TemplateDefinitionError } from './engine.js';
import { loadTemplatePack } from './pack.js';
import type { RenderContext, TemplateDefinition } from './types.js';

const PACK_DIR = new URL('../../../templates', import.meta.url).pathname;

const ctx: RenderContext = {
  bank: {
    name: '示例银行信用卡中心',
    address: '上海市示例路1号',
    phone: '400-800-0000',
    complaintChannel: '客服热线转9',
  },
  recipientName: '张三',
  caseId: 'CASE-1',
};

function def(over: Partial<TemplateDefinition> & Pick<TemplateDefinition, 'parts'>): TemplateDefinition {
  return {
    key: 'early.sms.test',
    locale: 'zh-CN',
    stage: 'early',
    channel: 'sms',
    audience: 'debtor',
    version: 1,
    schema: { type: 'object' },
    exampleData: {},
    ...over,
  };
}

function dataError(fn: () => unknown): TemplateDataError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TemplateDataError) return err;
    throw err;
  }
  throw new Error('expected a TemplateDataError');
}

let pack: TemplateDefinition[];
const find = (key: string, locale: 'zh-CN' | 'en') => {
  const d = pack.find((x) => x.key === key && x.locale === locale);
  if (!d) throw new Error(`missing ${key} ${locale}`);
  return d;
};

beforeAll(() => {
  pack = loadTemplatePack(PACK_DIR);
});

describe('renderTemplate: early.sms.reminder (the data the e2e tests send)', () => {
  const data = { amountDue: '3280.50', dueDate: '2026-10-25', cardLast4: '1234', dpd: 7 };

  it('renders the zh-CN SMS with formatted amount and date, opt-out and segment count', () => {
    const msg = renderTemplate(find('early.sms.reminder', 'zh-CN'), data, ctx);
    expect(msg.channel).toBe('sms');
    expect(msg.sms?.text).toBe(
      '【示例银行信用卡中心】张三您好，您尾号1234的信用卡有3,280.50元在2026年10月25日到期未还，已过7天。如已还款请忽略。可通过手机银行、网上银行或网点还款，如有困难请致电400-800-0000，我们愿意协助。回复TD退订',
    );
    expect(msg.sms?.encoding).toBe('UCS-2');
    expect(msg.sms?.segments).toBe(2);
  });

  it('renders the en SMS in GSM-7 with an English bank name', () => {
    const en = { ...ctx, bank: { ...ctx.bank, name: 'Example Bank' }, recipientName: 'Zhang San' };
    const msg = renderTemplate(find('early.sms.reminder', 'en'), { ...data, dpd: 1 }, en);
    expect(msg.sms?.text).toContain(
      'CNY 3,280.50 on your card ending 1234 was due on 25 October 2026 and is 1 day late.',
    );
    expect(msg.sms?.text).toMatch(/Reply STOP to opt out\.$/);
    expect(msg.sms?.encoding).toBe('GSM-7');
    expect(msg.sms?.segments).toBe(2);
  });

  it('lists every schema problem at once with data.* paths', () => {
    const err = dataError(() =>
      renderTemplate(
        find('early.sms.reminder', 'zh-CN'),
        { amountDue: '12.345', dueDate: 'tomorrow', cardLast4: '12', dpd: 'seven', extra: true },
        ctx,
      ),
    );
    expect(err.status).toBe(422);
    const paths = err.fields.map((f) => f.path).sort();
    expect(paths).toEqual(['data.amountDue', 'data.cardLast4', 'data.dpd', 'data.dueDate', 'data.extra']);
  });

  it('lists every missing required field', () => {
    const err = dataError(() => renderTemplate(find('early.sms.reminder', 'en'), {}, ctx));
    expect(err.fields).toEqual(
      expect.arrayContaining([
        { path: 'data.amountDue', message: 'is required' },
        { path: 'data.dueDate', message: 'is required' },
        { path: 'data.cardLast4', message: 'is required' },
        { path: 'data.dpd', message: 'is required' },
      ]),
    );
    expect(err.fields).toHaveLength(4);
  });

  it('rejects a non-object data payload', () => {
    const err = dataError(() => renderTemplate(find('early.sms.reminder', 'en'), 'x', ctx));
    expect(err.fields[0].path).toBe('data');
  });

  it('reports missing context values', () => {
    const err = dataError(() =>
      renderTemplate(find('early.sms.reminder', 'zh-CN'), data, {
        ...ctx,
        bank: { ...ctx.bank, phone: '' },
        recipientName: '',
      }),
    );
    expect(err.fields.map((f) => f.path)).toEqual(['context.bank.phone', 'context.recipientName']);
  });
});

describe('renderTemplate: strictness', () => {
  it('reports variables the template needs but the schema does not require, all at once', () => {
    const d = def({ parts: { sms: '{{a}} {{b.c}} {{cny amount}} {{#if opt}}{{opt}}{{/if}}' } });
    const err = dataError(() => renderTemplate(d, { b: {} }, ctx));
    expect(err.fields.map((f) => f.path).sort()).toEqual(['data.a', 'data.amount', 'data.b.c']);
  });

  it('turns a helper failure into a data problem', () => {
    const d = def({ parts: { sms: '{{date when}}' } });
    const err = dataError(() => renderTemplate(d, { when: '2026-02-30' }, ctx));
    expect(err.fields[0]).toEqual({ path: 'data', message: expect.stringContaining('not a calendar date') });
  });

  it('refuses helpers outside the whitelist at compile time', () => {
    const d = def({ parts: { sms: '{{log "x"}} {{exec "rm"}}' } });
    expect(() => renderTemplate(d, {}, ctx)).toThrow(TemplateDefinitionError);
  });

  it('refuses unknown partials', () => {
    const d = def({ parts: { sms: 'hi {{> nowhere}}' } });
    expect(() => renderTemplate(d, {}, ctx)).toThrow(/unknown partial "nowhere"/);
  });

  it('reports the position of syntax errors', () => {
    const d = def({ parts: { sms: 'line one\n{{#if x}}never closed' } });
    try {
      renderTemplate(d, { x: 1 }, ctx);
      throw new Error('expected a failure');
    } catch (err) {
      expect(err).toBeInstanceOf(TemplateDefinitionError);
      expect((err as TemplateDefinitionError).part).toBe('sms');
    }
  });

  it('does not expose prototype properties', () => {
    const direct = def({ parts: { sms: '[{{constructor}}][{{a.constructor.name}}]' } });
    const err = dataError(() => renderTemplate(direct, { a: {} }, ctx));
    expect(err.fields.map((f) => f.path).sort()).toEqual(['data.a.constructor.name', 'data.constructor']);
    const viaLookup = def({ parts: { sms: '[{{lookup this "constructor"}}][{{lookup a "__proto__"}}]' } });
    expect(renderTemplate(viaLookup, { a: {} }, ctx).sms?.text).toBe('[][]');
  });

  it('does not HTML-escape SMS text but escapes email HTML only', () => {
    const sms = def({ parts: { sms: '{{name}} & co' } });
    expect(renderTemplate(sms, { name: 'A&B <x>' }, ctx).sms?.text).toBe('A&B <x> & co');

    const email = def({
      key: 'early.email.test',
      channel: 'email',
      parts: { subject: 'Re: {{name}}', html: '<p>{{name}}</p>', text: '{{name}} 退订' },
    });
    const out = renderTemplate(email, { name: '<script>"x"</script>' }, ctx).email;
    expect(out?.html).toBe('<p>&lt;script&gt;&quot;x&quot;&lt;/script&gt;</p>\n');
    expect(out?.text).toBe('<script>"x"</script> 退订\n');
    expect(out?.subject).toBe('Re: <script>"x"</script>');
  });

  it('prefers the definition own partials over the registry', () => {
    const d = def({ parts: { sms: 'x {{> sms-opt-out}}' }, partials: { 'sms-opt-out': 'OWN' } });
    expect(renderTemplate(d, {}, ctx).sms?.text).toBe('x OWN');
    const reg = def({ parts: { sms: 'x {{> sms-opt-out}}' } });
    expect(renderTemplate(reg, {}, ctx).sms?.text).toBe('x 回复TD退订');
  });

  it('accepts draft 2020-12 schemas', () => {
    const d = def({
      parts: { sms: '{{n}}' },
      schema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        required: ['n'],
        properties: { n: { type: 'integer' } },
        $defs: { unused: { type: 'string' } },
      },
    });
    expect(renderTemplate(d, { n: 3 }, ctx).sms?.text).toBe('3');
    expect(dataError(() => renderTemplate(d, { n: 'x' }, ctx)).fields).toEqual([
      { path: 'data.n', message: 'must be integer' },
    ]);
  });

  it('reports a broken schema as a definition error', () => {
    const d = def({ parts: { sms: 'x' }, schema: { type: 'object', properties: { a: { type: 'nope' } } } });
    expect(() => renderTemplate(d, {}, ctx)).toThrow(TemplateDefinitionError);
  });

  it('takes the letter title from the first heading when no title part is given', () => {
    const d = def({
      key: 'mid.letter.test',
      channel: 'letter',
      parts: { letter: '# 通知\n\n正文 {{@caseId}}' },
    });
    const letter = renderTemplate(d, {}, ctx).letter;
    expect(letter?.title).toBe('通知');
    expect(letter?.markdown).toBe('# 通知\n\n正文 CASE-1\n');
    expect(letter?.attachments).toEqual([]);
  });
});

describe('renderTemplate: caching', () => {
  it('compiles a template once and reuses it for equal definitions', () => {
    const d = def({ parts: { sms: 'cache {{n}} {{> sms-opt-out}}' } });
    renderTemplate(d, { n: 0 }, ctx);
    const before = templateCacheStats().compilations;
    for (let i = 1; i <= 500; i++) {
      const copy = structuredClone(d);
      expect(renderTemplate(copy, { n: i }, ctx).sms?.text).toBe(`cache ${i} 回复TD退订`);
    }
    expect(templateCacheStats().compilations).toBe(before);
  });

  it('notices a definition edited in place', () => {
    const d = def({ parts: { sms: 'v1 {{n}}' } });
    expect(renderTemplate(d, { n: 1 }, ctx).sms?.text).toBe('v1 1');
    d.parts.sms = 'v2 {{n}}';
    expect(renderTemplate(d, { n: 1 }, ctx).sms?.text).toBe('v2 1');
    d.partials = { extra: 'E' };
    d.parts.sms = 'v3 {{> extra}}';
    expect(renderTemplate(d, {}, ctx).sms?.text).toBe('v3 E');
  });
});
