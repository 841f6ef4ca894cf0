import { describe, expect, it } from '@jest/globals';
import { TemplateDataError } from '#libs/core';
import { parseMarkdown } from '#libs/letters';
import { escapeMarkdown, renderTemplate } from './engine.js';
import type { RenderContext, TemplateDefinition } from './types.js';

/*
 * Values that reach a letter's Markdown are escaped for it (the ID mask `1101**1234` must print as written, not
 * in bold), while the template's own Markdown (headings, bold, lists, partials) keeps its meaning.
 */

const ctx: RenderContext = {
  bank: {
    name: '示例银行*信用卡中心',
    address: '上海市浦东新区示例路 100 号',
    phone: '400-000-0000',
    complaintChannel: '客服热线',
  },
  recipientName: '张_三',
  caseId: 'CASE-1',
  notificationId: 'N-1',
  issuedOn: '2026-11-05',
};

function letterDef(letter: string, partials: Record<string, string> = {}): TemplateDefinition {
  return {
    key: 'test.letter.escape',
    locale: 'zh-CN',
    version: 1,
    channel: 'letter',
    stage: 'late',
    audience: 'debtor',
    schema: { type: 'object' },
    parts: {
      letter,
      letterTitle: '标题',
      attachments: [{ title: '附件', letter: '证件：{{#if id}}{{maskId id}}{{/if}}' }],
    },
    partials,
  } as unknown as TemplateDefinition;
}

/** The printed text of a Markdown source: every block's runs, joined. */
function printed(md: string): { text: string; bold: string; kinds: string[] } {
  const blocks = parseMarkdown(md);
  const runs = blocks.flatMap((b) =>
    b.kind === 'list'
      ? b.items.flat()
      : b.kind === 'table'
        ? [...b.header.flat(), ...b.rows.flat(2)]
        : b.content,
  );
  return {
    text: runs.map((r) => r.text).join(''),
    bold: runs
      .filter((r) => r.bold)
      .map((r) => r.text)
      .join(''),
    kinds: blocks.map((b) => b.kind),
  };
}

describe('letter Markdown escaping of data values', () => {
  it('prints the ID mask, asterisks, underscores, backticks and brackets as written', () => {
    const def = letterDef(
      '尊敬的 {{@recipientName}}：证件号 {{mask}}，备注 {{note}}。**应还 {{amount}} 元**',
    );
    const out = renderTemplate(
      def,
      { mask: '1101**1234', note: '_a_ `b` [c](d) <e> ~f~', amount: '1*2', id: '110101199001011234' },
      ctx,
    );
    const letter = out.letter!;
    const p = printed(letter.markdown);
    expect(p.kinds).toEqual(['paragraph']);
    expect(p.text).toBe('尊敬的 张_三：证件号 1101**1234，备注 _a_ `b` [c](d) <e> ~f~。应还 1*2 元');
    // The template's own bold survives; nothing of the values turned bold.
    expect(p.bold).toBe('应还 1*2 元');
    // Attachments are escaped too (maskId's own asterisks), titles are plain text (no Markdown reader).
    expect(printed(letter.attachments[0].markdown).text).toBe('证件：1101**********1234');
    expect(printed(letter.attachments[0].markdown).bold).toBe('');
  });

  it('keeps a value that starts a line from becoming a heading, list item, ordered item or table', () => {
    const def = letterDef('{{a}}\n\n{{b}}\n\n{{c}}\n\n{{d}}\n\n{{e}}\n\n正文');
    const data = {
      a: '# 不是标题',
      b: '- 不是列表',
      c: '12. 不是编号',
      d: '| 不是 | 表格 |\n|---|---|',
      e: '多行\n# 第二行',
    };
    const md = renderTemplate(def, data, ctx).letter!.markdown;
    const blocks = parseMarkdown(md);
    expect(blocks.map((b) => b.kind)).toEqual(Array(6).fill('paragraph'));
    const texts = blocks.map((b) => (b.kind === 'paragraph' ? b.content.map((r) => r.text).join('') : ''));
    expect(texts.slice(0, 3)).toEqual(['# 不是标题', '- 不是列表', '12. 不是编号']);
    expect(texts[3]).toContain('| 不是 | 表格 |');
    expect(texts[4]).toBe('多行# 第二行'); // a soft break between CJK text joins without a space
  });

  it("leaves the template's and partials' own Markdown alone, in blocks and loops too", () => {
    const def = letterDef('# 标题\n\n{{> part}}\n\n{{#each items}}\n- **{{this}}**\n{{/each}}', {
      part: '## 二级 {{x}}',
    });
    const md = renderTemplate(def, { x: '*x*', items: ['1. a', '**b**'] }, ctx).letter!.markdown;
    const blocks = parseMarkdown(md);
    expect(blocks.map((b) => b.kind)).toEqual(['heading', 'heading', 'list']);
    const list = blocks[2] as Extract<(typeof blocks)[number], { kind: 'list' }>;
    expect(list.items.map((i) => i.map((r) => [r.text, r.bold]))).toEqual([
      [['1. a', true]],
      [['**b**', true]],
    ]);
    const h2 = blocks[1] as Extract<(typeof blocks)[number], { kind: 'heading' }>;
    expect(h2.content.map((r) => r.text).join('')).toBe('二级 *x*');
  });

  it('still reports a missing variable by name (strict mode unchanged)', () => {
    const def = letterDef('{{#each items}}{{missing}}{{/each}}');
    let err: unknown;
    try {
      renderTemplate(def, { items: [{ other: 1 }] }, ctx);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateDataError);
    expect((err as TemplateDataError).fields[0].path).toBe('data.missing');
  });

  it('escapeMarkdown: inline characters everywhere, block markers at line starts only', () => {
    expect(escapeMarkdown('1101**1234')).toBe('1101\\*\\*1234');
    expect(escapeMarkdown('a_b`c[d]|e\\f')).toBe('a\\_b\\`c\\[d\\]\\|e\\\\f');
    expect(escapeMarkdown('# x\n- y\n3) z\n+ w')).toBe('\\# x\n\\- y\n3\\) z\n\\+ w');
    expect(escapeMarkdown('2026-11-05 1.5 a-b')).toBe('2026-11-05 1.5 a-b');
    expect(escapeMarkdown(42)).toBe('42');
    expect(escapeMarkdown(undefined)).toBe('');
  });

  it('email and SMS parts are not Markdown-escaped', () => {
    const def = {
      ...letterDef(''),
      channel: 'sms',
      parts: { sms: '证件 {{mask}}' },
    } as unknown as TemplateDefinition;
    expect(renderTemplate(def, { mask: '1101**1234' }, ctx).sms!.text).toBe('证件 1101**1234');
  });
});
