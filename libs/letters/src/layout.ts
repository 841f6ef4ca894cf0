import { createHash } from 'node:crypto';
import { TemplateDataError, ValidationError, type ProblemField } from '#libs/core';
import type { LetterFonts } from './fonts.js';
import { labelsFor, type LetterLabels } from './labels.js';
import { isCjk, parseMarkdown, type InlineRun, type MarkdownBlock, type TableAlign } from './markdown.js';
import type { LetterInput, Rect } from './types.js';

/*
 * Page geometry (all in PDF points, origin top-left, y downwards). See docs/letters.md.
 *
 * Envelope: DL (220 x 110 mm) window envelope per DIN 680, window 90 x 45 mm, 20 mm from the left edge and
 * 15 mm from the bottom edge. The letter follows DIN 5008 form B: folded into thirds (fold marks at 105 and
 * 210 mm), its 85 x 45 mm address field, 20 mm from the left and 45 mm from the top edge, shows through the window.
 */

export const MM = 72 / 25.4;
export const A4 = { width: 595.28, height: 841.89 } as const;

/** The DIN 5008 form B address field in millimetres (the part of the page visible through the DL window). */
export const ADDRESS_WINDOW_MM: Readonly<Rect> = Object.freeze({ x: 20, y: 45, width: 85, height: 45 });
/** {@link ADDRESS_WINDOW_MM} in PDF points, origin top-left. Everything in the recipient block lies inside it. */
export const ADDRESS_WINDOW: Readonly<Rect> = Object.freeze({
  x: ADDRESS_WINDOW_MM.x * MM,
  y: ADDRESS_WINDOW_MM.y * MM,
  width: ADDRESS_WINDOW_MM.width * MM,
  height: ADDRESS_WINDOW_MM.height * MM,
});
/** The DL envelope's window (DIN 680) in millimetres, relative to the envelope's top-left corner. */
export const DL_ENVELOPE_WINDOW_MM: Readonly<Rect> = Object.freeze({ x: 20, y: 50, width: 90, height: 45 });

const LEFT = 25 * MM;
const RIGHT = 190 * MM;
const CONTENT_W = RIGHT - LEFT;
const WINDOW_INSET = 5 * MM;
const RETURN_ZONE_H = 17.7 * MM;
const FIRST_BODY_TOP = 96 * MM;
const NEXT_BODY_TOP = 22 * MM;
const BODY_BOTTOM = 262 * MM;
const FOOTER_RULE = 265 * MM;
const QR_SIZE = 20 * MM;
const QR_X = RIGHT - QR_SIZE;
const QR_Y = 268.5 * MM;

const BLACK = '#1a1a1a';
const GREY = '#5c5c5c';
const RULE = '#8c8c8c';
const ACCENT = '#9b1c1c';
const TABLE_HEAD_BG = '#ececec';

const BODY_SIZE = 10;
/**
 * Body line height per locale, in multiples of the font size: CJK text needs more space between lines than Latin
 * text (10 pt on 14 pt vs 10 pt on 13 pt).
 */
const BODY_LEADING: Readonly<Record<LetterInput['locale'], number>> = Object.freeze({
  'zh-CN': 1.4,
  en: 1.3,
});
/** Space after a paragraph or list, in body lines. */
const PARAGRAPH_GAP = 0.25;
const TABLE_SIZE = 9;
const TABLE_LEADING = 1.45;
const CELL_PAD_X = 3;
const CELL_PAD_Y = 2.5;

export type DrawOp =
  | {
      op: 'text';
      /** Left edge and baseline. */
      x: number;
      y: number;
      text: string;
      bold: boolean;
      size: number;
      /** Measured advance width in points. */
      width: number;
      color: string;
    }
  | { op: 'line'; x1: number; y1: number; x2: number; y2: number; width: number; color: string }
  | { op: 'rect'; x: number; y: number; w: number; h: number; fill: string }
  | { op: 'image'; path: string; x: number; y: number; w: number; h: number }
  | { op: 'qr'; x: number; y: number; size: number };

export interface PageLayout {
  ops: DrawOp[];
}

export interface LetterLayout {
  pages: PageLayout[];
  /** Where the recipient lines were placed (points, top-left origin); lies inside {@link ADDRESS_WINDOW}. */
  addressBlock: Rect;
  /** Full SHA-256 hex digest of the body content (see {@link bodyDigest}). */
  digest: string;
}

/**
 * SHA-256 (hex) of the letter's body content: UTF-8 of `JSON.stringify([title, bodyMarkdown,
 * [[attachmentTitle, attachmentBodyMarkdown], ...]])`. The footer prints its first 16 hex digits.
 */
export function bodyDigest(input: Pick<LetterInput, 'title' | 'bodyMarkdown' | 'attachments'>): string {
  const parts = [
    input.title,
    input.bodyMarkdown,
    (input.attachments ?? []).map((a) => [a.title, a.bodyMarkdown]),
  ];
  return createHash('sha256').update(JSON.stringify(parts), 'utf8').digest('hex');
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Checks the parts of the input the layout depends on; throws {@link ValidationError} listing every problem. */
export function validateLetterInput(input: LetterInput): void {
  const fields: ProblemField[] = [];
  const need = (path: string, v: unknown): void => {
    if (typeof v !== 'string' || v.trim() === '')
      fields.push({ path, message: 'must be a non-empty string' });
  };
  need('documentId', input.documentId);
  need('caseId', input.caseId);
  need('title', input.title);
  need('verifyUrl', input.verifyUrl);
  need('recipient.name', input.recipient?.name);
  need('bank.name', input.bank?.name);
  need('bank.phone', input.bank?.phone);
  if (typeof input.bodyMarkdown !== 'string')
    fields.push({ path: 'bodyMarkdown', message: 'must be a string' });
  if (input.service !== undefined && input.service !== 'ordinary' && input.service !== 'registered')
    fields.push({ path: 'service', message: "must be 'ordinary' or 'registered'" });
  if (input.locale !== 'zh-CN' && input.locale !== 'en')
    fields.push({ path: 'locale', message: "must be 'zh-CN' or 'en'" });
  const m = DATE.exec(input.date ?? '');
  const valid =
    m !== null &&
    (() => {
      const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
      return (
        d.getUTCFullYear() === Number(m[1]) &&
        d.getUTCMonth() === Number(m[2]) - 1 &&
        d.getUTCDate() === Number(m[3])
      );
    })();
  if (!valid) fields.push({ path: 'date', message: 'must be a calendar date YYYY-MM-DD' });
  if (
    !Array.isArray(input.recipient?.addressLines) ||
    input.recipient.addressLines.every((l) => !l?.trim())
  ) {
    fields.push({ path: 'recipient.addressLines', message: 'must contain at least one line' });
  }
  if (!Array.isArray(input.bank?.addressLines))
    fields.push({ path: 'bank.addressLines', message: 'must be an array' });
  (input.attachments ?? []).forEach((a, i) => {
    need(`attachments[${i}].title`, a?.title);
    if (typeof a?.bodyMarkdown !== 'string')
      fields.push({ path: `attachments[${i}].bodyMarkdown`, message: 'must be a string' });
  });
  if (fields.length > 0) throw new ValidationError('Letter input is invalid', fields);
}

// ---------------------------------------------------------------------------------------------------------
// Line breaking

/** Characters that must not start a line (closing punctuation) / end a line (opening punctuation). */
const NO_START = new Set(Array.from('，。、；：？！）》」』】〉〕”’…—·%‰,.;:?!)]}'));
const NO_END = new Set(Array.from('（《「『【〈〔“‘([{'));

interface Atom {
  text: string;
  bold: boolean;
  w: number;
  space: boolean;
}

interface Segment {
  text: string;
  bold: boolean;
  dx: number;
  w: number;
}

interface Line {
  segments: Segment[];
  width: number;
}

function atomize(runs: InlineRun[], size: number, fonts: LetterFonts): Atom[] {
  const atoms: Atom[] = [];
  for (const run of runs) {
    let word = '';
    let spaces = '';
    const flushWord = (): void => {
      if (word)
        atoms.push({ text: word, bold: run.bold, w: fonts.widthEm(word, run.bold) * size, space: false });
      word = '';
    };
    const flushSpaces = (): void => {
      if (spaces)
        atoms.push({ text: ' ', bold: run.bold, w: fonts.widthEm(' ', run.bold) * size, space: true });
      spaces = '';
    };
    for (const ch of run.text) {
      if (ch === ' ' || ch === '\t' || ch === '\n') {
        flushWord();
        spaces += ' ';
      } else if (isCjk(ch)) {
        flushWord();
        flushSpaces();
        atoms.push({ text: ch, bold: run.bold, w: fonts.widthEm(ch, run.bold) * size, space: false });
      } else {
        flushSpaces();
        word += ch;
      }
    }
    flushWord();
    flushSpaces();
  }
  return atoms;
}

function toLine(atoms: Atom[]): Line {
  let end = atoms.length;
  while (end > 0 && atoms[end - 1].space) end--;
  const segments: Segment[] = [];
  let x = 0;
  for (let i = 0; i < end; i++) {
    const a = atoms[i];
    const last = segments[segments.length - 1];
    if (last && last.bold === a.bold) {
      last.text += a.text;
      last.w += a.w;
    } else {
      segments.push({ text: a.text, bold: a.bold, dx: x, w: a.w });
    }
    x += a.w;
  }
  return { segments, width: x };
}

/** Greedy line breaking with simple kinsoku (no closing punctuation at line start, no opening one at line end). */
export function wrapRuns(
  runs: InlineRun[],
  size: number,
  width: number,
  fonts: LetterFonts,
  firstLineWidth = width,
): Line[] {
  const atoms = atomize(runs, size, fonts);
  const lines: Line[] = [];
  let line: Atom[] = [];
  let lw = 0;
  for (let i = 0; i < atoms.length; i++) {
    const a = atoms[i];
    const avail = lines.length === 0 ? firstLineWidth : width;
    if (a.space) {
      if (line.length > 0) {
        line.push(a);
        lw += a.w;
      }
      continue;
    }
    if (lw + a.w <= avail + 0.01) {
      line.push(a);
      lw += a.w;
      continue;
    }
    const hasContent = line.some((x) => !x.space);
    if (!hasContent) {
      // A single word wider than the line: break it between characters.
      const chars = Array.from(a.text);
      if (chars.length > 1) {
        const pieces = chars.map((c) => ({
          text: c,
          bold: a.bold,
          w: fonts.widthEm(c, a.bold) * size,
          space: false,
        }));
        atoms.splice(i, 1, ...pieces);
        i--;
        continue;
      }
      line.push(a);
      lw += a.w;
      continue;
    }
    const carry: Atom[] = [];
    if (NO_START.has(a.text[0]) && line.length > 1 && !line[line.length - 1].space)
      carry.push(line.pop() as Atom);
    while (line.length > 1 && NO_END.has(line[line.length - 1].text)) carry.unshift(line.pop() as Atom);
    lines.push(toLine(line));
    line = [...carry, a];
    lw = line.reduce((s, x) => s + x.w, 0);
  }
  if (line.some((x) => !x.space) || lines.length === 0) lines.push(toLine(line));
  return lines;
}

function lineWidthOf(text: string, bold: boolean, size: number, fonts: LetterFonts): number {
  return fonts.widthEm(text, bold) * size;
}

// ---------------------------------------------------------------------------------------------------------
// Flow

class Flow {
  readonly pages: PageLayout[] = [];
  y = 0;
  private ops: DrawOp[] = [];

  constructor(
    private readonly fonts: LetterFonts,
    private readonly runningHeader: (ops: DrawOp[]) => void,
    /** Body line height in multiples of the font size. */
    readonly leading: number,
  ) {}

  get page(): DrawOp[] {
    return this.ops;
  }

  startFirstPage(ops: DrawOp[], bodyTop: number): void {
    this.ops = ops;
    this.pages.push({ ops });
    this.y = bodyTop;
  }

  newPage(): void {
    this.ops = [];
    this.pages.push({ ops: this.ops });
    this.runningHeader(this.ops);
    this.y = NEXT_BODY_TOP;
  }

  /** Starts a new page unless `height` still fits above the footer. */
  ensure(height: number): void {
    if (!this.fits(height) && !this.atTop) this.newPage();
  }

  /** Whether `height` fits between the current position and the bottom of the body area. */
  fits(height: number): boolean {
    return this.y + height <= BODY_BOTTOM + 0.01;
  }

  /** At the top of a continuation page: moving on would not win any space. */
  get atTop(): boolean {
    return this.y <= NEXT_BODY_TOP + 0.01;
  }

  /** Baseline of a line whose box starts at `top` and is `size * leading` high. */
  baseline(top: number, size: number, leading: number): number {
    const f = this.fonts;
    return top + size * ((leading - (f.ascent - f.descent)) / 2 + f.ascent);
  }

  drawLine(line: Line, x: number, top: number, size: number, leading: number, color: string): void {
    const y = this.baseline(top, size, leading);
    for (const s of line.segments) {
      this.ops.push({ op: 'text', x: x + s.dx, y, text: s.text, bold: s.bold, size, width: s.w, color });
    }
  }

  /** Flows wrapped lines, breaking pages between lines. */
  lines(
    lines: Line[],
    x: number,
    size: number,
    leading: number,
    color = BLACK,
    align: TableAlign = 'left',
    width = 0,
  ): void {
    const lh = size * leading;
    lines.forEach((line) => {
      this.ensure(lh);
      const shift =
        align === 'center' ? (width - line.width) / 2 : align === 'right' ? width - line.width : 0;
      this.drawLine(line, x + shift, this.y, size, leading, color);
      this.y += lh;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Blocks

/** Fewest lines of a paragraph left at the foot of a page (orphans) or carried to the next one (widows). */
const MIN_LINES = 2;

/**
 * Flows a paragraph's lines with widow and orphan control: a page break inside a paragraph leaves at least
 * {@link MIN_LINES} lines on each side (a paragraph of fewer lines than that moves whole). `tail` is the height of
 * what must follow the last line on the same page (the signature block): when it does not fit, the last
 * {@link MIN_LINES} lines move to the next page with it.
 */
function flowParagraphLines(
  flow: Flow,
  lines: Line[],
  draw: (line: Line, index: number) => void,
  lh: number,
  tail: number,
): void {
  const n = lines.length;
  let i = 0;
  while (i < n) {
    const rest = n - i;
    const avail = Math.max(0, Math.floor((BODY_BOTTOM + 0.01 - flow.y) / lh));
    let take: number;
    if (rest <= avail && flow.fits(rest * lh + tail)) take = rest;
    else if (rest <= avail)
      take = rest - Math.min(rest, MIN_LINES); // keep the last lines with the tail
    else {
      take = avail;
      if (rest - take < MIN_LINES) take = rest - MIN_LINES; // no widow
    }
    if (take < MIN_LINES && take < rest) take = 0; // no orphan
    if (take <= 0) {
      if (flow.atTop)
        take = Math.max(1, Math.min(rest, avail)); // a fresh page cannot do better
      else {
        flow.newPage();
        continue;
      }
    }
    for (let k = 0; k < take; k++) {
      draw(lines[i + k], i + k);
      flow.y += lh;
    }
    i += take;
    if (i < n) flow.newPage();
  }
}

function paragraph(flow: Flow, runs: InlineRun[], fonts: LetterFonts, indentFirst: boolean, tail = 0): void {
  const size = BODY_SIZE;
  const indent = indentFirst ? fonts.widthEm('\u4e00', false) * size * 2 : 0;
  const lines = wrapRuns(runs, size, CONTENT_W, fonts, CONTENT_W - indent);
  const lh = size * flow.leading;
  flowParagraphLines(
    flow,
    lines,
    (line, i) => flow.drawLine(line, LEFT + (i === 0 ? indent : 0), flow.y, size, flow.leading, BLACK),
    lh,
    tail === 0 ? 0 : tail + lh * PARAGRAPH_GAP,
  );
  flow.y += lh * PARAGRAPH_GAP;
}

function heading(flow: Flow, level: 1 | 2, runs: InlineRun[], fonts: LetterFonts): void {
  const size = level === 1 ? 13 : 10.5;
  const leading = level === 1 ? 1.5 : flow.leading;
  const bold = runs.map((r) => ({ text: r.text, bold: true }));
  const lines = wrapRuns(bold, size, CONTENT_W, fonts);
  const lh = size * leading;
  flow.y += level === 1 ? 6 : 2;
  // Keep the heading with the first lines of what follows (no orphaned heading at the foot of a page).
  flow.ensure(lh * lines.length + MIN_LINES * BODY_SIZE * flow.leading);
  flow.lines(lines, LEFT, size, leading);
  flow.y += level === 1 ? 2 : 0.5;
}

function list(
  flow: Flow,
  block: Extract<MarkdownBlock, { kind: 'list' }>,
  fonts: LetterFonts,
  tail = 0,
): void {
  const size = BODY_SIZE;
  const lh = size * flow.leading;
  const markerOf = (i: number): string => (block.ordered ? `${block.start + i}.` : '•');
  const widest = Math.max(...block.items.map((_, i) => lineWidthOf(markerOf(i), false, size, fonts)));
  const indentX = LEFT + size * 1.2;
  const textX = indentX + widest + size * 0.5;
  block.items.forEach((item, i) => {
    const lines = wrapRuns(item, size, RIGHT - textX, fonts);
    const last = i === block.items.length - 1;
    // The last item goes with what must follow it (the signature block) when that would not fit after it.
    if (last && tail > 0 && !flow.fits(lines.length * lh + lh * PARAGRAPH_GAP + tail)) flow.ensure(Infinity);
    lines.forEach((line, li) => {
      flow.ensure(lh);
      if (li === 0) {
        const marker = markerOf(i);
        const mw = lineWidthOf(marker, false, size, fonts);
        const y = flow.baseline(flow.y, size, flow.leading);
        // Right-align ordered markers so `9.` and `10.` line up on the dot.
        const mx = block.ordered ? indentX + widest - mw : indentX;
        flow.page.push({ op: 'text', x: mx, y, text: marker, bold: false, size, width: mw, color: BLACK });
      }
      flow.drawLine(line, textX, flow.y, size, flow.leading, BLACK);
      flow.y += lh;
    });
  });
  flow.y += lh * PARAGRAPH_GAP;
}

function columnWidths(block: Extract<MarkdownBlock, { kind: 'table' }>, fonts: LetterFonts): number[] {
  const n = block.header.length;
  const natural = new Array<number>(n).fill(0);
  const minimum = new Array<number>(n).fill(0);
  const measure = (cells: InlineRun[][], bold: boolean): void => {
    cells.forEach((runs, c) => {
      const atoms = atomize(
        runs.map((r) => ({ text: r.text, bold: bold || r.bold })),
        TABLE_SIZE,
        fonts,
      );
      const total = atoms.reduce((s, a) => s + a.w, 0);
      const longest = atoms.reduce((m, a) => (a.space ? m : Math.max(m, a.w)), 0);
      natural[c] = Math.max(natural[c], total + 2 * CELL_PAD_X);
      minimum[c] = Math.max(minimum[c], Math.min(longest, CONTENT_W / n) + 2 * CELL_PAD_X);
    });
  };
  measure(block.header, true);
  for (const row of block.rows) measure(row, false);
  const sumNatural = natural.reduce((a, b) => a + b, 0);
  if (sumNatural <= CONTENT_W) {
    // Spread the spare width in proportion to the natural widths: the table spans the text block.
    return natural.map((w) => (w / sumNatural) * CONTENT_W);
  }
  const sumMin = minimum.reduce((a, b) => a + b, 0);
  if (sumMin >= CONTENT_W) return minimum.map((w) => (w / sumMin) * CONTENT_W);
  const spare = CONTENT_W - sumMin;
  const flex = natural.map((w, i) => w - minimum[i]);
  const sumFlex = flex.reduce((a, b) => a + b, 0);
  return minimum.map((w, i) => w + (sumFlex > 0 ? (flex[i] / sumFlex) * spare : spare / n));
}

function table(
  flow: Flow,
  block: Extract<MarkdownBlock, { kind: 'table' }>,
  fonts: LetterFonts,
  tail = 0,
): void {
  const widths = columnWidths(block, fonts);
  const lh = TABLE_SIZE * TABLE_LEADING;
  const wrapRow = (cells: InlineRun[][], bold: boolean): Line[][] =>
    cells.map((runs, c) =>
      wrapRuns(
        runs.map((r) => ({ text: r.text, bold: bold || r.bold })),
        TABLE_SIZE,
        widths[c] - 2 * CELL_PAD_X,
        fonts,
      ),
    );
  const header = wrapRow(block.header, true);
  const rowHeight = (cells: Line[][]): number =>
    Math.max(1, ...cells.map((l) => l.length)) * lh + 2 * CELL_PAD_Y;
  const headerH = rowHeight(header);

  const drawRow = (cells: Line[][], h: number, isHeader: boolean): void => {
    const top = flow.y;
    const ops = flow.page;
    if (isHeader) ops.push({ op: 'rect', x: LEFT, y: top, w: CONTENT_W, h, fill: TABLE_HEAD_BG });
    let x = LEFT;
    cells.forEach((lines, c) => {
      const inner = widths[c] - 2 * CELL_PAD_X;
      const align = isHeader ? 'left' : block.align[c];
      lines.forEach((line, li) => {
        const shift =
          align === 'center' ? (inner - line.width) / 2 : align === 'right' ? inner - line.width : 0;
        flow.drawLine(
          line,
          x + CELL_PAD_X + shift,
          top + CELL_PAD_Y + li * lh,
          TABLE_SIZE,
          TABLE_LEADING,
          BLACK,
        );
      });
      x += widths[c];
    });
    const line = (x1: number, y1: number, x2: number, y2: number): void => {
      ops.push({ op: 'line', x1, y1, x2, y2, width: 0.5, color: RULE });
    };
    line(LEFT, top, RIGHT, top);
    line(LEFT, top + h, RIGHT, top + h);
    let vx = LEFT;
    line(vx, top, vx, top + h);
    for (const w of widths) {
      vx += w;
      line(vx, top, vx, top + h);
    }
    flow.y += h;
  };

  flow.y += 2;
  // Header plus the first row stay together.
  const firstRow = block.rows.length > 0 ? wrapRow(block.rows[0], false) : null;
  const tailAfter = tail > 0 ? BODY_SIZE * flow.leading * 0.5 + tail : 0;
  flow.ensure(headerH + (firstRow ? rowHeight(firstRow) : 0) + (block.rows.length <= 1 ? tailAfter : 0));
  drawRow(header, headerH, true);
  block.rows.forEach((row, r) => {
    const cells = r === 0 && firstRow ? firstRow : wrapRow(row, false);
    const h = rowHeight(cells);
    // The last row goes with what must follow the table (the signature block) when both do not fit.
    const after = r === block.rows.length - 1 ? tailAfter : 0;
    if (flow.y + h > BODY_BOTTOM + 0.01 || (r > 0 && flow.y + h + after > BODY_BOTTOM + 0.01)) {
      flow.newPage();
      drawRow(header, headerH, true); // repeated header row on every continuation page
    }
    drawRow(cells, h, false);
  });
  flow.y += BODY_SIZE * flow.leading * 0.5;
}

/** Flows the blocks; `tail` is the height that must follow the last block on its page (the signature block). */
function blocks(
  flow: Flow,
  list_: MarkdownBlock[],
  fonts: LetterFonts,
  indentParagraphs: boolean,
  tail = 0,
): void {
  list_.forEach((b, i) => {
    const t = i === list_.length - 1 ? tail : 0;
    if (b.kind === 'paragraph') paragraph(flow, b.content, fonts, indentParagraphs, t);
    else if (b.kind === 'heading') heading(flow, b.level, b.content, fonts);
    else if (b.kind === 'list') list(flow, b, fonts, t);
    else table(flow, b, fonts, t);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Fixed page furniture

function text(
  ops: DrawOp[],
  fonts: LetterFonts,
  s: string,
  x: number,
  y: number,
  size: number,
  bold = false,
  color = BLACK,
): number {
  const width = lineWidthOf(s, bold, size, fonts);
  ops.push({ op: 'text', x, y, text: s, bold, size, width, color });
  return width;
}

/** Shrinks `s` to fit `maxWidth` (down to `minSize`), then truncates it with an ellipsis. */
function fitted(
  fonts: LetterFonts,
  s: string,
  size: number,
  minSize: number,
  maxWidth: number,
  bold = false,
): [string, number] {
  let sz = size;
  while (sz > minSize && lineWidthOf(s, bold, sz, fonts) > maxWidth) sz -= 0.25;
  if (lineWidthOf(s, bold, sz, fonts) <= maxWidth) return [s, sz];
  const chars = Array.from(s);
  while (chars.length > 1 && lineWidthOf(`${chars.join('')}…`, bold, sz, fonts) > maxWidth) chars.pop();
  return [`${chars.join('')}…`, sz];
}

function letterhead(ops: DrawOp[], input: LetterInput, fonts: LetterFonts, L: LetterLabels): void {
  const bank = input.bank;
  ops.push({ op: 'rect', x: LEFT, y: 11 * MM, w: 2.2 * MM, h: 21 * MM, fill: ACCENT });
  const x = LEFT + 5 * MM;
  const [name, nameSize] = fitted(fonts, bank.name, 16, 11, RIGHT - x, true);
  text(ops, fonts, name, x, 17.5 * MM, nameSize, true, BLACK);
  const address = [...bank.addressLines.filter((l) => l.trim()), bank.postcode ?? '']
    .filter(Boolean)
    .join('  ');
  const contact = [`${L.phone}${L.colon}${bank.phone}`, bank.website ?? ''].filter(Boolean).join('    ');
  const [a, as] = fitted(fonts, address, 8.5, 6.5, RIGHT - x);
  text(ops, fonts, a, x, 24.5 * MM, as, false, GREY);
  const [c, cs] = fitted(fonts, contact, 8.5, 6.5, RIGHT - x);
  text(ops, fonts, c, x, 29.5 * MM, cs, false, GREY);
  ops.push({ op: 'line', x1: LEFT, y1: 36 * MM, x2: RIGHT, y2: 36 * MM, width: 0.8, color: BLACK });
  // DIN 5008 fold marks (105 mm, 210 mm) and punch mark (148.5 mm) at the left edge.
  for (const [yMm, len] of [
    [105, 5],
    [148.5, 7],
    [210, 5],
  ] as const) {
    ops.push({
      op: 'line',
      x1: 4 * MM,
      y1: yMm * MM,
      x2: (4 + len) * MM,
      y2: yMm * MM,
      width: 0.3,
      color: RULE,
    });
  }
}

function addressBlock(ops: DrawOp[], input: LetterInput, fonts: LetterFonts, L: LetterLabels): Rect {
  const w = ADDRESS_WINDOW;
  const x = w.x + WINDOW_INSET;
  const maxW = w.width - 2 * WINDOW_INSET;
  // Return-address zone (top 17.7 mm of the field): sender line and the registered-mail endorsement.
  const sender = [input.bank.name, ...input.bank.addressLines, input.bank.postcode ?? '']
    .filter((s) => s.trim())
    .join(' ');
  const [s, ss] = fitted(fonts, sender, 7, 5.5, maxW);
  text(ops, fonts, s, x, w.y + 5 * MM, ss, false, GREY);
  ops.push({
    op: 'line',
    x1: x,
    y1: w.y + 6.3 * MM,
    x2: x + maxW,
    y2: w.y + 6.3 * MM,
    width: 0.3,
    color: RULE,
  });
  if (input.service) text(ops, fonts, L.service[input.service], x, w.y + 12.5 * MM, 9, true, BLACK);

  // Address zone (bottom 27.3 mm): up to 6 lines.
  const r = input.recipient;
  const raw =
    input.locale === 'zh-CN'
      ? [r.postcode ?? '', ...r.addressLines, L.recipientLine(r.name)]
      : [r.name, ...r.addressLines, r.postcode ?? ''];
  const rows = raw.map((l) => l.trim()).filter(Boolean);
  const zoneTop = w.y + RETURN_ZONE_H;
  const zoneH = w.height - RETURN_ZONE_H - 1 * MM;
  for (const size of [10, 9, 8]) {
    const leading = 1.25;
    const lines = rows.flatMap((row, i) => {
      const bold = input.locale === 'zh-CN' ? i === rows.length - 1 : i === 0;
      return wrapRuns([{ text: row, bold }], size, maxW, fonts);
    });
    const lh = size * leading;
    if (lines.length * lh > zoneH) continue;
    let top = zoneTop;
    let widest = 0;
    for (const line of lines) {
      const y = top + (lh - size * (fonts.ascent - fonts.descent)) / 2 + size * fonts.ascent;
      for (const seg of line.segments) {
        ops.push({
          op: 'text',
          x: x + seg.dx,
          y,
          text: seg.text,
          bold: seg.bold,
          size,
          width: seg.w,
          color: BLACK,
        });
      }
      widest = Math.max(widest, line.width);
      top += lh;
    }
    return { x, y: zoneTop, width: widest, height: lines.length * lh };
  }
  throw new TemplateDataError('The recipient address does not fit the envelope window (6 lines of 75 mm)', [
    { path: 'recipient.addressLines', message: 'too long for the envelope window' },
  ]);
}

/**
 * Problems of the recipient block in the envelope window, measured exactly as {@link layoutLetter} places it
 * (same fonts, sizes and wrapping): empty when it fits. Used at accept so a letter that would fail at send is refused.
 */
export function addressWindowProblems(input: LetterInput, fonts: LetterFonts): ProblemField[] {
  try {
    addressBlock([], input, fonts, labelsFor(input.locale));
    return [];
  } catch (err) {
    if (err instanceof TemplateDataError) return err.fields;
    throw err;
  }
}

function infoBlock(ops: DrawOp[], input: LetterInput, fonts: LetterFonts, L: LetterLabels): void {
  const x = 125 * MM;
  const maxW = RIGHT - x;
  const size = 9;
  const lh = size * 1.55;
  let top = ADDRESS_WINDOW.y + 5 * MM;
  const rows: [string, string][] = [
    [L.caseNo, input.caseId],
    [L.documentNo, input.documentId],
    [L.date, L.formatDate(input.date)],
  ];
  for (const [label, value] of rows) {
    const lines = wrapRuns(
      [
        { text: `${label}${L.colon}`, bold: true },
        { text: value, bold: false },
      ],
      size,
      maxW,
      fonts,
    );
    for (const line of lines) {
      const y = top + (lh - size * (fonts.ascent - fonts.descent)) / 2 + size * fonts.ascent;
      for (const seg of line.segments) {
        ops.push({
          op: 'text',
          x: x + seg.dx,
          y,
          text: seg.text,
          bold: seg.bold,
          size,
          width: seg.w,
          color: BLACK,
        });
      }
      top += lh;
    }
  }
}

function titleBlock(flow: Flow, title: string, fonts: LetterFonts, label?: string): void {
  if (label) {
    const size = 9;
    const w = lineWidthOf(label, false, size, fonts);
    flow.page.push({
      op: 'text',
      x: LEFT,
      y: flow.baseline(flow.y, size, 1.5),
      text: label,
      bold: false,
      size,
      width: w,
      color: GREY,
    });
    flow.y += size * 1.5;
  }
  const size = 15;
  const lines = wrapRuns([{ text: title, bold: true }], size, CONTENT_W, fonts);
  flow.lines(lines, LEFT, size, 1.5, BLACK, 'center', CONTENT_W);
  flow.y += 2 * MM;
}

/** Side of the seal image's square. */
const SEAL_SIZE = 36 * MM;
/** Space above the signature block. */
const SIGNATURE_GAP = 1.5 * MM;

interface SignatureMetrics {
  names: Line[];
  noteInline: boolean;
  nameTop: number;
  dateBaseline: number;
  /** Height reserved on the page: the text, or the seal's square when there is one (whichever is taller). */
  height: number;
}

function signatureMetrics(input: LetterInput, fonts: LetterFonts, L: LetterLabels): SignatureMetrics {
  const colW = RIGHT - SIGNATURE_X;
  const nameLh = SIGNATURE_NAME_SIZE * 1.5;
  const names = wrapRuns([{ text: input.bank.name, bold: true }], SIGNATURE_NAME_SIZE, colW, fonts);
  const noteW = lineWidthOf(L.sealNote, false, SIGNATURE_NOTE_SIZE, fonts);
  // The seal note goes after the bank name when it fits on the name's last line, else on a line of its own.
  const noteInline = names[names.length - 1].width + 2 * MM + noteW <= colW;
  // Baselines from the top of the block: [signed-for line,] bank name line(s), [seal note,] date; 2 mm below the date.
  const nameTop = 5 * MM + (L.signedFor ? 5 * MM : 0);
  const dateBaseline = nameTop + names.length * nameLh + (noteInline ? 0 : 6 * MM);
  const textHeight = dateBaseline + 2 * MM;
  const height = input.sealImagePath ? Math.max(textHeight, SEAL_SIZE) : textHeight;
  return { names, noteInline, nameTop, dateBaseline, height };
}

/** Height the signature block needs below the body's last line (gap included). */
function signatureHeight(input: LetterInput, fonts: LetterFonts, L: LetterLabels): number {
  return SIGNATURE_GAP + signatureMetrics(input, fonts, L).height;
}

const SIGNATURE_X = 115 * MM;
const SIGNATURE_NAME_SIZE = 11;
const SIGNATURE_NOTE_SIZE = 9;

function signature(flow: Flow, input: LetterInput, fonts: LetterFonts, L: LetterLabels): void {
  const colX = SIGNATURE_X;
  const nameSize = SIGNATURE_NAME_SIZE;
  const nameLh = nameSize * 1.5;
  const noteSize = SIGNATURE_NOTE_SIZE;
  const noteGap = 2 * MM;
  const { names, noteInline, nameTop, dateBaseline, height } = signatureMetrics(input, fonts, L);
  flow.y += SIGNATURE_GAP;
  flow.ensure(height);
  const top = flow.y;
  const ops = flow.page;
  if (L.signedFor) text(ops, fonts, L.signedFor, colX, top + 5 * MM, noteSize, false, GREY);
  let y = top + nameTop;
  for (const line of names) {
    for (const seg of line.segments) {
      ops.push({
        op: 'text',
        x: colX + seg.dx,
        y,
        text: seg.text,
        bold: true,
        size: nameSize,
        width: seg.w,
        color: BLACK,
      });
    }
    y += nameLh;
  }
  if (noteInline)
    text(
      ops,
      fonts,
      L.sealNote,
      colX + names[names.length - 1].width + noteGap,
      y - nameLh,
      noteSize,
      false,
      GREY,
    );
  else text(ops, fonts, L.sealNote, colX, y, noteSize, false, GREY);
  text(ops, fonts, L.formatDate(input.date), colX, top + dateBaseline, BODY_SIZE, false, BLACK);
  if (input.sealImagePath) {
    // The seal is stamped over the bank name and the date, as a seal is, inside the block's own reserved height:
    // never over the body above it, the page header or the footer.
    ops.push({
      op: 'image',
      path: input.sealImagePath,
      x: colX + 8 * MM,
      y: top,
      w: SEAL_SIZE,
      h: SEAL_SIZE,
    });
  }
  flow.y += height;
}

function runningHeader(input: LetterInput, fonts: LetterFonts): (ops: DrawOp[]) => void {
  return (ops) => {
    const size = 7.5;
    const right = input.documentId;
    const rw = lineWidthOf(right, false, size, fonts);
    const [left, ls] = fitted(fonts, `${input.bank.name} · ${input.title}`, size, 6, CONTENT_W - rw - 6 * MM);
    text(ops, fonts, left, LEFT, 14 * MM, ls, false, GREY);
    text(ops, fonts, right, RIGHT - rw, 14 * MM, size, false, GREY);
    ops.push({ op: 'line', x1: LEFT, y1: 16 * MM, x2: RIGHT, y2: 16 * MM, width: 0.4, color: RULE });
  };
}

function footer(
  ops: DrawOp[],
  input: LetterInput,
  fonts: LetterFonts,
  L: LetterLabels,
  digest: string,
  n: number,
  total: number,
): void {
  ops.push({ op: 'line', x1: LEFT, y1: FOOTER_RULE, x2: RIGHT, y2: FOOTER_RULE, width: 0.4, color: RULE });
  const size = 7.5;
  const maxW = QR_X - LEFT - 5 * MM;
  const line1 = `${L.documentNo}${L.colon}${input.documentId}    ${L.bodyDigest}${L.colon}${digest.slice(0, 16)}`;
  const [a, as] = fitted(fonts, line1, size, 6, maxW);
  text(ops, fonts, a, LEFT, 270 * MM, as, false, GREY);
  const [b, bs] = fitted(fonts, L.verify(input.verifyUrl), size, 5.5, maxW);
  text(ops, fonts, b, LEFT, 274.5 * MM, bs, false, GREY);
  const page = L.page(n, total);
  const pw = lineWidthOf(page, false, 8.5, fonts);
  text(ops, fonts, page, LEFT + (CONTENT_W - pw) / 2, 286 * MM, 8.5, false, BLACK);
  ops.push({ op: 'qr', x: QR_X, y: QR_Y, size: QR_SIZE });
}

/**
 * Lays out a letter into pages of draw operations: letterhead, window-envelope address block, info block, title,
 * body, signature/seal, attachments (each from a new page), then running headers, footers and page numbers.
 * Deterministic and free of I/O apart from the (cached) font metrics.
 */
export function layoutLetter(input: LetterInput, fonts: LetterFonts): LetterLayout {
  validateLetterInput(input);
  const L = labelsFor(input.locale);
  const digest = bodyDigest(input);
  const flow = new Flow(fonts, runningHeader(input, fonts), BODY_LEADING[input.locale]);
  const first: DrawOp[] = [];
  letterhead(first, input, fonts, L);
  const addr = addressBlock(first, input, fonts, L);
  infoBlock(first, input, fonts, L);
  flow.startFirstPage(first, FIRST_BODY_TOP);
  titleBlock(flow, input.title, fonts);
  const zh = input.locale === 'zh-CN';
  // The signature block never stands alone on a page: the body's last lines go with it.
  blocks(flow, parseMarkdown(input.bodyMarkdown), fonts, zh, signatureHeight(input, fonts, L));
  signature(flow, input, fonts, L);
  (input.attachments ?? []).forEach((att, i) => {
    flow.newPage();
    titleBlock(flow, att.title, fonts, L.attachment(i + 1));
    blocks(flow, parseMarkdown(att.bodyMarkdown), fonts, zh);
  });
  const total = flow.pages.length;
  flow.pages.forEach((p, i) => footer(p.ops, input, fonts, L, digest, i + 1, total));
  return { pages: flow.pages, addressBlock: addr, digest };
}
