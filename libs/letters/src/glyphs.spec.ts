import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { TemplateDataError } from '#libs/core';
import {
  amountProblems,
  deadlineProblems,
  DEFAULT_FALLBACK_FONTS,
  glyphProblems,
  layoutLetter,
  loadLetterFonts,
  preflightLetter,
  renderLetterPdf,
  sampleDemandLetter,
  toCents,
} from './index.js';
import type { LetterInput } from './types.js';

/*
 * Fallback fonts (HanaMin A/B from Debian's fonts-hanazono, scripts/install-system-deps.sh) for characters Noto Sans
 * SC lacks, painted alike by poppler, Ghostscript and MuPDF (ghostscript, mupdf-tools from the same script), the refusal of characters no font has, the envelope endorsement, and byte-identical output whatever
 * order the process met the glyphs in (checked in fresh processes on the built dist).
 */

const tool = (name: string): string => {
  const path = `/usr/bin/${name}`;
  if (!existsSync(path)) throw new Error(`${path} missing: run bash scripts/install-system-deps.sh`);
  return path;
};
const run = (name: string, args: string[]): string => execFileSync(tool(name), args, { encoding: 'utf8' });
const squash = (s: string): string => s.replace(/\s+/g, '');

let dir: string;
const write = (name: string, data: Buffer): string => {
  const file = join(dir, name);
  writeFileSync(file, data);
  return file;
};

beforeAll(() => {
  for (const f of DEFAULT_FALLBACK_FONTS)
    if (!existsSync(f))
      throw new Error(`${f} missing: run bash scripts/install-system-deps.sh (fonts-hanazono)`);
  dir = mkdtempSync(join(tmpdir(), 'letters-glyphs-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const RARE = ['𠮷', '龘', '喆', '堃'];
const NAME = RARE.join('');

function rareLetter(overrides: Partial<LetterInput> = {}): LetterInput {
  return sampleDemandLetter({
    documentId: 'DOC-RARE-1',
    recipient: { name: '𠮷龘喆堃', addressLines: ['北京市朝阳区𠮷祥路 8 号'], postcode: '100020' },
    bodyMarkdown:
      '尊敬的 **𠮷龘喆堃** 先生/女士：\n\n您的欠款明细如下。\n\n| 姓名 | 金额 |\n|---|---:|\n| 𠮷龘 | 1.00 |',
    attachments: [{ title: '还款承诺书', bodyMarkdown: '本人 𠮷龘喆堃 承诺还款。' }],
    ...overrides,
  });
}

/** Every Unicode text a PDF's ToUnicode CMaps map to, from the (Flate) streams. */
function toUnicodeTargets(pdf: Buffer): string[] {
  const out: string[] = [];
  const s = pdf.toString('latin1');
  const re = /stream\r?\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    const start = m.index + m[0].length;
    const end = s.indexOf('endstream', start);
    try {
      const text = inflateSync(pdf.subarray(start, end)).toString('latin1');
      if (!text.includes('beginbfchar')) continue;
      for (const e of text.matchAll(/<([0-9a-f]{4})> <([0-9a-f]+)>/g)) {
        const units = e[2].match(/.{4}/g)?.map((h) => parseInt(h, 16)) ?? [];
        out.push(String.fromCharCode(...units));
      }
    } catch {
      /* not a Flate stream */
    }
  }
  return out;
}

describe('fallback font chain', () => {
  let file: string;
  let pdf: Buffer;
  beforeAll(async () => {
    pdf = await renderLetterPdf(rareLetter());
    file = write('rare.pdf', pdf);
  });

  it('prints 𠮷 龘 喆 堃 as text in the address, the salutation, a table and the form', () => {
    const pages = run('pdftotext', ['-enc', 'UTF-8', file, '-']).split('\f');
    const p1 = squash(pages[0]);
    expect(p1).toContain('𠮷龘喆堃收');
    expect(p1).toContain('北京市朝阳区𠮷祥路8号');
    expect(p1).toContain('尊敬的𠮷龘喆堃先生/女士');
    expect(p1).toMatch(/姓名金额(1\.00𠮷龘|𠮷龘1\.00)/);
    expect(squash(pages[1])).toContain('本人𠮷龘喆堃承诺还款');
  });

  it('embeds the fallback font as a subset with a ToUnicode map next to Noto Sans SC', () => {
    const lines = run('pdffonts', [file]).trim().split('\n').slice(2);
    expect(lines.some((l) => /\+NotoSansSC-Regular/.test(l))).toBe(true);
    expect(lines.some((l) => /\+HanaMin[AB]/.test(l))).toBe(true);
    for (const line of lines) {
      expect(line).toMatch(/^[A-Z]{6}\+/);
      expect(line).toMatch(/\bCID TrueType\b/);
      expect(line).toMatch(/\byes\s+yes\s+yes\s+\d+\s+\d+\s*$/);
    }
    expect(toUnicodeTargets(pdf)).toEqual(expect.arrayContaining(RARE));
  });

  it('never paints .notdef: every shown glyph of the content maps to a character', () => {
    const text = run('pdftotext', ['-enc', 'UTF-8', file, '-']);
    expect(text).not.toContain('\uFFFD');
    // Glyph 0 (CID 0) is never shown.
    const s = pdf.toString('latin1');
    for (const m of s.matchAll(/stream\r?\n/g)) {
      const start = (m.index ?? 0) + m[0].length;
      let content: string;
      try {
        content = inflateSync(pdf.subarray(start, s.indexOf('endstream', start))).toString('latin1');
      } catch {
        continue;
      }
      for (const tj of content.matchAll(/\[<([0-9a-f]*)>/g)) {
        for (const cid of tj[1].match(/.{4}/g) ?? []) expect(cid).not.toBe('0000');
      }
    }
  });

  it('a character no font has is refused, naming it, and never drawn', async () => {
    const bad = rareLetter({
      recipient: { name: '王\u{31350}', addressLines: ['北京市'], postcode: '100020' },
    });
    await expect(renderLetterPdf(bad)).rejects.toBeInstanceOf(TemplateDataError);
    await expect(renderLetterPdf(bad)).rejects.toThrow(/U\+31350/);
    const fields = glyphProblems([{ path: 'recipient.name', value: '王\u{31350}' }], bad);
    expect(fields).toEqual([{ path: 'recipient.name', message: expect.stringContaining('U+31350') }]);
    const fonts = loadLetterFonts();
    expect(fonts.uncovered('𠮷龘喆堃 王 abc\n')).toEqual([]);
    expect(fonts.uncovered('a\u{31350}\u{E000}')).toEqual([0x31350, 0xe000]);
  });
});

/** A binary PGM/PPM (P5/P6, comments allowed) as a luminance array. */
function readPnm(buf: Buffer): { w: number; h: number; lum: Uint8Array } {
  const tokens: string[] = [];
  let at = 2;
  const magic = buf.toString('latin1', 0, 2);
  while (tokens.length < 3) {
    while (/\s/.test(String.fromCharCode(buf[at]))) at++;
    if (buf[at] === 0x23) {
      while (buf[at] !== 0x0a) at++;
      continue;
    }
    let t = '';
    while (!/\s/.test(String.fromCharCode(buf[at]))) t += String.fromCharCode(buf[at++]);
    tokens.push(t);
  }
  at++; // the single whitespace after maxval
  const [w, h] = [Number(tokens[0]), Number(tokens[1])];
  const channels = magic === 'P6' ? 3 : 1;
  const lum = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const o = at + i * channels;
    lum[i] = channels === 3 ? Math.round((buf[o] + buf[o + 1] + buf[o + 2]) / 3) : buf[o];
  }
  return { w, h, lum };
}

describe('Ghostscript and MuPDF', () => {
  it('paint the rare characters as poppler does; MuPDF extracts them as text', async () => {
    for (const t of ['gs', 'mutool', 'pdftoppm']) tool(t);
    const file = write('rare-other.pdf', await renderLetterPdf(rareLetter()));
    const mu = squash(
      execFileSync(tool('mutool'), ['draw', '-q', '-F', 'txt', '-o', '-', file, '1'], { encoding: 'utf8' }),
    );
    expect(mu).toContain(`${NAME}收`);
    expect(mu).toContain(`尊敬的${NAME}`);
    // Ghostscript's txtwrite garbles UTF-16 surrogate pairs, so 𠮷 (plane 2) is checked in pixels below.
    const gsText = spawnSync(
      tool('gs'),
      ['-q', '-dNOPAUSE', '-dBATCH', '-dSAFER', '-sDEVICE=txtwrite', '-o', '-', file],
      {
        encoding: 'utf8',
      },
    );
    expect(gsText.status).toBe(0);
    expect(gsText.stderr).not.toMatch(/error/i);
    expect(squash(gsText.stdout)).toContain('龘喆堃收');

    const rasters: Record<string, ReturnType<typeof readPnm>> = {};
    execFileSync(tool('pdftoppm'), ['-r', '72', '-f', '1', '-l', '1', file, join(dir, 'pp')]);
    rasters.poppler = readPnm(readFileSync(join(dir, 'pp-1.ppm')));
    const gs = spawnSync(
      tool('gs'),
      [
        '-q',
        '-dNOPAUSE',
        '-dBATCH',
        '-dSAFER',
        '-sDEVICE=ppmraw',
        '-r72',
        '-dFirstPage=1',
        '-dLastPage=1',
        '-o',
        join(dir, 'gs.ppm'),
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(gs.status).toBe(0);
    expect(gs.stderr).not.toMatch(/error/i);
    rasters.ghostscript = readPnm(readFileSync(join(dir, 'gs.ppm')));
    execFileSync(tool('mutool'), [
      'draw',
      '-q',
      '-r',
      '72',
      '-F',
      'pnm',
      '-o',
      join(dir, 'mu.ppm'),
      file,
      '1',
    ]);
    rasters.mupdf = readPnm(readFileSync(join(dir, 'mu.ppm')));

    // The rare name's word boxes (address window and salutation) from poppler, inked alike in all three renders.
    const boxes = [
      ...run('pdftotext', ['-bbox', '-f', '1', '-l', '1', file, '-']).matchAll(
        /<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/g,
      ),
    ]
      .filter((m) => m[5].startsWith(NAME))
      .map((m) => [+m[1], +m[2], +m[3], +m[4]]);
    expect(boxes.length).toBe(2);
    for (const [x0, y0, x1, y1] of boxes) {
      const ink = (r: ReturnType<typeof readPnm>): number => {
        let n = 0;
        for (let y = Math.floor(y0); y < Math.ceil(y1); y++)
          for (let x = Math.floor(x0); x < Math.ceil(x1); x++) if (r.lum[y * r.w + x] < 128) n++;
        return n;
      };
      const base = ink(rasters.poppler);
      expect(base).toBeGreaterThan(40);
      for (const name of ['ghostscript', 'mupdf']) {
        const v = ink(rasters[name]);
        expect({ name, ratio: Math.round((v / base) * 10) / 10 }).toEqual({
          name,
          ratio: expect.any(Number),
        });
        expect(v / base).toBeGreaterThan(0.7);
        expect(v / base).toBeLessThan(1.4);
      }
    }
  });
});

describe('envelope endorsement', () => {
  it('prints the service class the letter is sent with, and none for a copy', async () => {
    const p1 = async (input: LetterInput): Promise<string> =>
      run('pdftotext', ['-enc', 'UTF-8', '-l', '1', write('e.pdf', await renderLetterPdf(input)), '-']);
    const ordinary = await p1(sampleDemandLetter({ service: 'ordinary' }));
    expect(ordinary).toContain('平信');
    expect(ordinary).not.toContain('挂号信');
    expect(await p1(sampleDemandLetter({ service: 'registered' }))).toContain('挂号信');
    const en = await p1(sampleDemandLetter({ service: 'ordinary', locale: 'en' }));
    expect(en).toContain('ORDINARY MAIL');
    expect(en).not.toContain('REGISTERED');
    const copy = await p1(sampleDemandLetter({ service: undefined }));
    expect(copy).not.toMatch(/挂号信|平信/);
  });
});

describe('accept-time checks', () => {
  it('amounts: total = principal + interest and fees, exactly in cents', () => {
    expect(toCents('23456.78')).toBe(2345678n);
    expect(toCents('0.1')).toBe(10n);
    expect(toCents('1.234')).toBeNull();
    const ok = { outstandingBalance: '23456.78', principal: '20000.00', interestAndFees: '3456.78' };
    expect(amountProblems(ok)).toEqual([]);
    // 0.1 + 0.2 is 0.3 in cents (no float drift).
    expect(amountProblems({ outstandingBalance: '0.3', principal: '0.1', interest: '0.2' })).toEqual([]);
    expect(amountProblems({ ...ok, outstandingBalance: '23456.79' })).toEqual([
      { path: 'data.outstandingBalance', message: expect.stringContaining('23456.78') },
    ]);
    expect(amountProblems({ outstandingBalance: '5', principal: '1', interest: '1', fees: '3' })).toEqual([]);
    // Nothing to check without the parts.
    expect(amountProblems({ outstandingBalance: '5', overdueAmount: '7' })).toEqual([]);
  });

  it('deadline: after the letter date', () => {
    expect(deadlineProblems({ repayBy: '2026-11-20' }, '2026-11-05')).toEqual([]);
    expect(deadlineProblems({ repayBy: '2026-11-05' }, '2026-11-05')).toEqual([
      { path: 'data.repayBy', message: expect.stringContaining('2026-11-05') },
    ]);
    expect(deadlineProblems({ repayBy: '2026-10-01' }, '2026-11-05')[0].path).toBe('data.repayBy');
  });

  it('the envelope window check is the layout: refused exactly when the layout refuses', () => {
    const fonts = loadLetterFonts();
    const lines = (n: number, s: string): string[] => Array.from({ length: n }, () => s);
    let fits = 0;
    let refused = 0;
    for (let n = 1; n <= 8; n++) {
      const input = sampleDemandLetter({
        recipient: {
          name: '王小明',
          addressLines: lines(n, '北京市朝阳区示例街道示例小区 8 号院'),
          postcode: '100020',
        },
      });
      let layoutOk = true;
      try {
        layoutLetter(input, fonts);
      } catch (err) {
        expect(err).toBeInstanceOf(TemplateDataError);
        layoutOk = false;
      }
      let checkOk = true;
      try {
        preflightLetter(input, { sources: [], data: {}, addressPath: 'recipient.address' });
      } catch (err) {
        expect((err as TemplateDataError).fields.map((f) => f.path)).toEqual(['recipient.address']);
        checkOk = false;
      }
      expect(checkOk).toBe(layoutOk);
      if (layoutOk) fits++;
      else refused++;
    }
    expect(fits).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});

describe('determinism across processes', () => {
  const cli = new URL('../../../dist/libs/letters/src/render-cli.js', import.meta.url).pathname;

  it('renders identical bytes in fresh processes whatever glyph order the process met first', () => {
    if (!existsSync(cli)) throw new Error(`${cli} missing: run npm run build`);
    // "•" and "·" share a glyph in Noto Sans SC: the first one a process meets used to win the ToUnicode entry.
    const target = rareLetter({
      bodyMarkdown: '甲 · 乙 • 丙\n\n- 项目\n\n𠮷 · 龘',
      documentId: 'DOC-DET-1',
    });
    const warmDot = sampleDemandLetter({ documentId: 'W1', bodyMarkdown: '中 · 点 𠮷', title: '·' });
    const warmBullet = sampleDemandLetter({
      documentId: 'W2',
      bodyMarkdown: '- 项 •\n\n堃 • 喆',
      title: '•',
    });
    const runs = [[warmDot, warmBullet, target], [warmBullet, warmDot, target], [target]].map((inputs, i) => {
      const file = join(dir, `inputs-${i}.json`);
      writeFileSync(file, JSON.stringify(inputs));
      const out = join(dir, `det-${i}.pdf`);
      const lines = execFileSync(process.execPath, [cli, file, out], { encoding: 'utf8' }).trim().split('\n');
      return { sha: lines[lines.length - 1], pdf: readFileSync(out) };
    });
    expect(runs[0].sha).toMatch(/^[0-9a-f]{64}$/);
    expect(runs[1].sha).toBe(runs[0].sha);
    expect(runs[2].sha).toBe(runs[0].sha);
    // Text extraction is the letter's own: both characters are present as written somewhere.
    const text = run('pdftotext', ['-enc', 'UTF-8', write('det.pdf', runs[0].pdf), '-']);
    expect(text).toMatch(/[·•]/);
  });
});
