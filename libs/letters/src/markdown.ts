/**
 * Parser for the small Markdown subset used in letter bodies. Pure: string in, block tree out.
 *
 * Supported:
 * - headings `# ` (level 1) and `## ` (level 2); deeper headings (`###`...) are treated as level 2
 * - paragraphs (consecutive lines; a line break between two CJK characters joins without a space)
 * - `**bold**` inline (unmatched `**` stays literal); a backslash before any ASCII punctuation prints that character
 *   (as in CommonMark: `\*`, `\|`, `\#`, `1\.` ...), which is how template data values are escaped
 * - unordered lists with `- `, ordered lists with `1. ` (numbering starts at the first item's number);
 *   indented or lazy continuation lines join the current item
 * - pipe tables: a header row, a separator row (`|---|:--:|--:|` gives left/center/right alignment),
 *   then body rows; missing cells are filled with empty cells, extra cells are dropped
 */

export interface InlineRun {
  text: string;
  bold: boolean;
}

export type TableAlign = 'left' | 'center' | 'right';

export type MarkdownBlock =
  | { kind: 'heading'; level: 1 | 2; content: InlineRun[] }
  | { kind: 'paragraph'; content: InlineRun[] }
  | { kind: 'list'; ordered: boolean; start: number; items: InlineRun[][] }
  | { kind: 'table'; align: TableAlign[]; header: InlineRun[][]; rows: InlineRun[][][] };

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}-\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/** True for characters after/before which a soft line break must not become a space (CJK and full-width). */
export function isCjk(ch: string): boolean {
  const cp = ch.codePointAt(0) ?? 0;
  return (
    (cp >= 0x2e80 && cp <= 0x9fff) || // radicals, kana, CJK symbols/punctuation, unified ideographs
    (cp >= 0xac00 && cp <= 0xd7af) || // hangul
    (cp >= 0xf900 && cp <= 0xfaff) || // compatibility ideographs
    (cp >= 0xfe30 && cp <= 0xfe4f) || // CJK compatibility forms
    (cp >= 0xff00 && cp <= 0xffef) || // half/full-width forms
    (cp >= 0x20000 && cp <= 0x3ffff) // extension B+
  );
}

function joinSoft(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  const last = Array.from(a).pop() ?? '';
  const first = b.codePointAt(0) === undefined ? '' : String.fromCodePoint(b.codePointAt(0) as number);
  return isCjk(last) || isCjk(first) ? a + b : `${a} ${b}`;
}

/** Characters a backslash escapes (CommonMark's ASCII punctuation). */
const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** Parses `**bold**` and backslash escapes into runs; adjacent runs of the same style are merged. */
export function parseInline(source: string): InlineRun[] {
  // Tokenise into text pieces and `**` markers, honouring backslash escapes.
  type Tok = { t: 'text'; v: string } | { t: 'star' };
  const toks: Tok[] = [];
  let buf = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\' && i + 1 < source.length && ASCII_PUNCTUATION.includes(source[i + 1])) {
      buf += source[i + 1];
      i++;
    } else if (ch === '*' && source[i + 1] === '*') {
      if (buf) toks.push({ t: 'text', v: buf });
      buf = '';
      toks.push({ t: 'star' });
      i++;
    } else {
      buf += ch;
    }
  }
  if (buf) toks.push({ t: 'text', v: buf });

  // Pair markers left to right; an unpaired trailing marker is literal text.
  const starIdx = toks.flatMap((tok, i) => (tok.t === 'star' ? [i] : []));
  const unpaired = starIdx.length % 2 === 1 ? starIdx[starIdx.length - 1] : -1;
  const runs: InlineRun[] = [];
  let bold = false;
  const push = (text: string, isBold: boolean): void => {
    if (!text) return;
    const prev = runs[runs.length - 1];
    if (prev && prev.bold === isBold) prev.text += text;
    else runs.push({ text, bold: isBold });
  };
  toks.forEach((tok, i) => {
    if (tok.t === 'text') push(tok.v, bold);
    else if (i === unpaired) push('**', bold);
    else bold = !bold;
  });
  return runs;
}

function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === '|') {
      cur += '\\|';
      i++;
    } else if (s[i] === '|') {
      cells.push(cur.trim());
      cur = '';
    } else {
      cur += s[i];
    }
  }
  cells.push(cur.trim());
  return cells;
}

function isTableStart(lines: string[], i: number): boolean {
  return (
    lines[i].trim().startsWith('|') &&
    i + 1 < lines.length &&
    TABLE_SEPARATOR.test(lines[i + 1]) &&
    lines[i + 1].includes('-')
  );
}

function startsBlock(lines: string[], i: number): boolean {
  const line = lines[i];
  return HEADING.test(line) || BULLET.test(line) || ORDERED.test(line) || isTableStart(lines, i);
}

/** Parses the Markdown subset into blocks. Never throws: unknown syntax is kept as paragraph text. */
export function parseMarkdown(source: string): MarkdownBlock[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const blocks: MarkdownBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      blocks.push({
        kind: 'heading',
        level: heading[1].length === 1 ? 1 : 2,
        content: parseInline(heading[2]),
      });
      i++;
      continue;
    }
    if (isTableStart(lines, i)) {
      const header = splitRow(line);
      const width = header.length;
      const align: TableAlign[] = splitRow(lines[i + 1])
        .slice(0, width)
        .map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : 'left'));
      while (align.length < width) align.push('left');
      const rows: InlineRun[][][] = [];
      i += 2;
      while (i < lines.length && lines[i].trim().startsWith('|')) {
        const cells = splitRow(lines[i]).slice(0, width);
        while (cells.length < width) cells.push('');
        rows.push(cells.map(parseInline));
        i++;
      }
      blocks.push({ kind: 'table', align, header: header.map(parseInline), rows });
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    if (bullet || ordered) {
      const isOrdered = ordered !== null;
      const start = ordered ? Number(ordered[1]) : 1;
      const items: string[] = [];
      while (i < lines.length) {
        const cur = lines[i];
        const b = BULLET.exec(cur);
        const o = b ? null : ORDERED.exec(cur);
        if ((isOrdered && o) || (!isOrdered && b)) {
          items.push((o ? o[2] : (b as RegExpExecArray)[1]).trim());
          i++;
        } else if (cur.trim() === '' || b || o || HEADING.test(cur) || isTableStart(lines, i)) {
          break;
        } else {
          items[items.length - 1] = joinSoft(items[items.length - 1], cur.trim());
          i++;
        }
      }
      blocks.push({ kind: 'list', ordered: isOrdered, start, items: items.map(parseInline) });
      continue;
    }
    let text = line.trim();
    i++;
    while (i < lines.length && lines[i].trim() !== '' && !startsBlock(lines, i)) {
      text = joinSoft(text, lines[i].trim());
      i++;
    }
    blocks.push({ kind: 'paragraph', content: parseInline(text) });
  }
  return blocks;
}
