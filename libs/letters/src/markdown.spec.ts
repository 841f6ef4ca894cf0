import { describe, expect, it } from '@jest/globals';
import { isCjk, parseInline, parseMarkdown } from './markdown.js';

describe('parseInline', () => {
  it('splits bold runs and merges neighbours of the same style', () => {
    expect(parseInline('欠款 **26,543.21 元**，请还款')).toEqual([
      { text: '欠款 ', bold: false },
      { text: '26,543.21 元', bold: true },
      { text: '，请还款', bold: false },
    ]);
  });

  it('keeps an unmatched ** literal and honours backslash escapes', () => {
    expect(parseInline('a **b')).toEqual([{ text: 'a **b', bold: false }]);
    expect(parseInline('\\*\\*not bold\\*\\* a\\|b')).toEqual([{ text: '**not bold** a|b', bold: false }]);
  });
});

describe('parseMarkdown', () => {
  it('parses headings, paragraphs and joins soft line breaks (no space between CJK)', () => {
    const blocks = parseMarkdown('# 标题\n\n第一行\n第二行\nand more\nwords\n\n## Sub ##\ntext');
    expect(blocks).toEqual([
      { kind: 'heading', level: 1, content: [{ text: '标题', bold: false }] },
      { kind: 'paragraph', content: [{ text: '第一行第二行and more words', bold: false }] },
      { kind: 'heading', level: 2, content: [{ text: 'Sub', bold: false }] },
      { kind: 'paragraph', content: [{ text: 'text', bold: false }] },
    ]);
  });

  it('maps deeper headings to level 2', () => {
    expect(parseMarkdown('### x')).toEqual([
      { kind: 'heading', level: 2, content: [{ text: 'x', bold: false }] },
    ]);
  });

  it('parses bullet and ordered lists with their start number and continuation lines', () => {
    const blocks = parseMarkdown('- one\n- **two**\n  continued\n\n3. c\n4. d\nlazy');
    expect(blocks).toEqual([
      {
        kind: 'list',
        ordered: false,
        start: 1,
        items: [
          [{ text: 'one', bold: false }],
          [
            { text: 'two', bold: true },
            { text: ' continued', bold: false },
          ],
        ],
      },
      {
        kind: 'list',
        ordered: true,
        start: 3,
        items: [[{ text: 'c', bold: false }], [{ text: 'd lazy', bold: false }]],
      },
    ]);
  });

  it('a list marker line directly after a paragraph starts a list', () => {
    const blocks = parseMarkdown('intro\n- item');
    expect(blocks.map((b) => b.kind)).toEqual(['paragraph', 'list']);
  });

  it('parses pipe tables with alignment, padding short rows and dropping extra cells', () => {
    const blocks = parseMarkdown(
      '| A | B | C |\n|:---|---:|:-:|\n| 1 | **2** |\n| x | y | z | extra |\n\nafter',
    );
    expect(blocks[0]).toEqual({
      kind: 'table',
      align: ['left', 'right', 'center'],
      header: [[{ text: 'A', bold: false }], [{ text: 'B', bold: false }], [{ text: 'C', bold: false }]],
      rows: [
        [[{ text: '1', bold: false }], [{ text: '2', bold: true }], []],
        [[{ text: 'x', bold: false }], [{ text: 'y', bold: false }], [{ text: 'z', bold: false }]],
      ],
    });
    expect(blocks[1]).toEqual({ kind: 'paragraph', content: [{ text: 'after', bold: false }] });
  });

  it('keeps escaped pipes inside cells and treats a pipe line without separator as text', () => {
    const [t] = parseMarkdown('| a \\| b | c |\n|---|---|\n| 1 | 2 |');
    expect(t.kind === 'table' && t.header[0]).toEqual([{ text: 'a | b', bold: false }]);
    expect(parseMarkdown('| just text |')).toEqual([
      { kind: 'paragraph', content: [{ text: '| just text |', bold: false }] },
    ]);
  });

  it('normalises CRLF and ignores blank input', () => {
    expect(parseMarkdown('a\r\nb')).toEqual([{ kind: 'paragraph', content: [{ text: 'a b', bold: false }] }]);
    expect(parseMarkdown('\n  \n')).toEqual([]);
  });
});

describe('isCjk', () => {
  it('recognises ideographs and full-width punctuation but not Latin', () => {
    expect(isCjk('中')).toBe(true);
    expect(isCjk('，')).toBe(true);
    expect(isCjk('a')).toBe(false);
    expect(isCjk('1')).toBe(false);
  });
});
