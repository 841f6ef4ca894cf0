import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import {
  MM,
  layoutLetter,
  loadLetterFonts,
  renderLetterPdf,
  sampleDemandLetter,
  type DrawOp,
} from './index.js';
import type { LetterInput } from './types.js';

/*
 * Pagination rules: the signature block never stands alone on a page (the body's last 2 lines go with it), a page
 * break inside a body paragraph leaves at least 2 lines on each side, and the seal lies within its own block: never
 * over body text, the running header or the footer. Checked on the layout's draw operations for every body length
 * around the page breaks, and the PDF checked once with poppler.
 */

const fonts = loadLetterFonts();
type TextOp = Extract<DrawOp, { op: 'text' }>;
const texts = (ops: DrawOp[]): TextOp[] => ops.filter((o): o is TextOp => o.op === 'text');
const SIGNATURE_X = 115 * MM;

/** A body of `n` paragraphs; paragraph i repeats its own token `P<i>` `words[i]` times (one text op per line). */
function body(words: number[]): string {
  return words
    .map((w, i) => Array.from({ length: w }, () => `P${String(i).padStart(2, '0')}`).join(' '))
    .join('\n\n');
}

function letter(words: number[], extra: Partial<LetterInput> = {}): LetterInput {
  return sampleDemandLetter({ bodyMarkdown: body(words), attachments: [], locale: 'en', ...extra });
}

/** Lines (distinct baselines) of each paragraph per page: result[page][paragraph] = count. */
function linesPerPage(input: LetterInput, paragraphs: number): number[][] {
  const { pages } = layoutLetter(input, fonts);
  return pages.map((p) => {
    const counts = new Array<number>(paragraphs).fill(0);
    const seen = new Set<string>();
    for (const t of texts(p.ops)) {
      const m = /^P(\d{2})/.exec(t.text);
      if (!m) continue;
      const key = `${m[1]}@${t.y}`;
      if (seen.has(key)) continue;
      seen.add(key);
      counts[Number(m[1])]++;
    }
    return counts;
  });
}

function signaturePage(input: LetterInput): { index: number; ops: DrawOp[]; top: number } {
  const { pages } = layoutLetter(input, fonts);
  for (let i = 0; i < pages.length; i++) {
    const name = texts(pages[i].ops).find((t) => t.bold && t.size === 11 && t.x >= SIGNATURE_X - 0.01);
    if (name) return { index: i, ops: pages[i].ops, top: name.y - 11 };
  }
  throw new Error('no signature block');
}

describe('widows and orphans', () => {
  it('a paragraph split across pages keeps at least 2 lines on each side; 3-line paragraphs never split', () => {
    let splits = 0;
    for (let lead = 0; lead < 12; lead++) {
      // `lead` single-word paragraphs shift where the page break falls, then long and 3-line paragraphs.
      const words = [...new Array<number>(lead).fill(1), 80, 36, 36, 36, 120, 36, 36, 36, 200];
      const per = linesPerPage(letter(words), words.length);
      for (let para = 0; para < words.length; para++) {
        const parts = per.map((p) => p[para]).filter((c) => c > 0);
        const total = parts.reduce((a, b) => a + b, 0);
        if (parts.length > 1) {
          splits++;
          for (const c of parts) expect(c).toBeGreaterThanOrEqual(2);
        }
        if (total <= 3) expect(parts).toHaveLength(1);
      }
    }
    expect(splits).toBeGreaterThan(0); // the cases did cross page breaks
  });
});

describe('the signature block', () => {
  it('is never alone on a page: the last 2 body lines go with it, whatever the body length', () => {
    let moved = 0;
    for (let n = 20; n < 60; n++) {
      const input = letter([n * 23]);
      const sig = signaturePage(input);
      const bodyLines = new Set(
        texts(sig.ops)
          .filter((t) => t.text.startsWith('P00') && t.y < sig.top)
          .map((t) => t.y),
      );
      expect(bodyLines.size).toBeGreaterThanOrEqual(2);
      if (sig.index > 0) moved++;
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('after a final table, its last row goes with the signature block (header row repeated)', () => {
    let moved = 0;
    for (let rows = 20; rows < 60; rows++) {
      const table = [
        '| Ref | Amount |',
        '|---|---:|',
        ...Array.from({ length: rows }, (_, i) => `| R${i} | ${i}.00 |`),
      ];
      const input = sampleDemandLetter({
        locale: 'en',
        attachments: [],
        bodyMarkdown: `${body([60])}\n\n${table.join('\n')}`,
      });
      const sig = signaturePage(input);
      const rowsThere = texts(sig.ops).filter((t) => /^R\d+$/.test(t.text) && t.y < sig.top);
      expect(rowsThere.length).toBeGreaterThanOrEqual(1);
      if (sig.index > 0) {
        moved++;
        expect(texts(sig.ops).some((t) => t.text === 'Ref')).toBe(true);
      }
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('the seal stays inside its block: never over body text, the header or the footer', () => {
    let continuation = 0;
    for (let n = 20; n < 60; n += 1) {
      const input = letter([n * 23], { sealImagePath: '/nonexistent/seal.png' });
      const { pages } = layoutLetter(input, fonts);
      pages.forEach((p, pi) => {
        const seal = p.ops.find((o) => o.op === 'image');
        if (!seal || seal.op !== 'image') return;
        if (pi > 0) continuation++;
        expect(seal.y).toBeGreaterThanOrEqual(16 * MM + 1); // below the running header's rule
        expect(seal.y + seal.h).toBeLessThanOrEqual(265 * MM); // above the footer rule
        for (const t of texts(p.ops)) {
          const top = t.y - t.size * fonts.ascent;
          const bottom = t.y - t.size * fonts.descent;
          const overlapsY = bottom > seal.y && top < seal.y + seal.h;
          const overlapsX = t.x + t.width > seal.x && t.x < seal.x + seal.w;
          if (!overlapsY || !overlapsX) continue;
          // Only the signature block's own text (bank name, seal note, date) lies under the seal.
          expect(t.x).toBeGreaterThanOrEqual(SIGNATURE_X - 0.01);
          expect(t.y).toBeGreaterThan(seal.y);
        }
      });
    }
    expect(continuation).toBeGreaterThan(0);
  });

  it('poppler finds the carried body lines on the signature page of the PDF', async () => {
    const tool = '/usr/bin/pdftotext';
    if (!existsSync(tool)) throw new Error(`${tool} missing: run bash scripts/install-system-deps.sh`);
    // Find a body length whose signature lands on page 2.
    let input: LetterInput | undefined;
    for (let n = 20; n < 60 && !input; n++) {
      const candidate = letter([n * 23]);
      if (signaturePage(candidate).index === 1) input = candidate;
    }
    expect(input).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'letters-pages-'));
    try {
      const file = join(dir, 'sig.pdf');
      writeFileSync(file, await renderLetterPdf(input as LetterInput));
      const page2 = execFileSync(tool, ['-f', '2', '-l', '2', file, '-'], { encoding: 'utf8' });
      expect(page2).toContain('示例商业银行股份有限公司信用卡中心');
      const bodyLines = page2.split('\n').filter((l) => l.startsWith('P00'));
      expect(bodyLines.length).toBeGreaterThanOrEqual(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A red ring as an RGBA PNG (a stand-in seal). */
function sealPng(size = 64): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer): number => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 255] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - size / 2, y - size / 2);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = 220;
      raw[o + 3] = d < size / 2 - 1 && d > size / 2 - 8 ? 255 : 0;
    }
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('the seal in pixels', () => {
  it('on a continuation page, the red seal stays below the body text and the header, above the footer', async () => {
    const tool = '/usr/bin/pdftoppm';
    if (!existsSync(tool)) throw new Error(`${tool} missing: run bash scripts/install-system-deps.sh`);
    const dir = mkdtempSync(join(tmpdir(), 'letters-seal-'));
    try {
      const seal = join(dir, 'seal.png');
      writeFileSync(seal, sealPng());
      let input: LetterInput | undefined;
      for (let n = 20; n < 60 && !input; n++) {
        const candidate = letter([n * 23], { sealImagePath: seal });
        if (signaturePage(candidate).index === 1) input = candidate;
      }
      expect(input).toBeDefined();
      const chosen = input as LetterInput;
      const page = layoutLetter(chosen, fonts).pages[1];
      const bodyBottom = Math.max(
        ...texts(page.ops)
          .filter((t) => t.text.startsWith('P00'))
          .map((t) => t.y - t.size * fonts.descent),
      );
      const pdf = await renderLetterPdf(chosen);
      const file = join(dir, 'seal.pdf');
      writeFileSync(file, pdf);
      const dpi = 72; // 1 px per point
      execFileSync(tool, ['-f', '2', '-l', '2', '-r', String(dpi), file, join(dir, 'p')]);
      const ppm = readFileSync(join(dir, 'p-2.ppm'));
      // P6 header: "P6\n<w> <h>\n255\n"
      const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.toString('latin1', 0, 40));
      expect(header).not.toBeNull();
      const [w, h] = [Number(header?.[1]), Number(header?.[2])];
      const data = ppm.subarray(ppm.length - w * h * 3);
      let top = Infinity;
      let bottom = -Infinity;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const o = (y * w + x) * 3;
          if (data[o] > 150 && data[o + 1] < 110 && data[o + 2] < 110) {
            top = Math.min(top, y);
            bottom = Math.max(bottom, y);
          }
        }
      }
      expect(Number.isFinite(top)).toBe(true); // the seal is painted
      expect(top).toBeGreaterThanOrEqual(Math.floor(bodyBottom)); // not over the carried body lines
      expect(top).toBeGreaterThan(16 * MM); // below the running header's rule
      expect(bottom).toBeLessThan(265 * MM); // above the footer rule
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
