import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { ValidationError } from '#libs/core';
import {
  ADDRESS_WINDOW,
  bodyDigest,
  layoutLetter,
  loadLetterFonts,
  renderLetterPdf,
  renderLetterPdfToStream,
  sampleDemandLetter,
  sampleStatementLetter,
} from './index.js';

// Poppler tools come from `bash scripts/install-system-deps.sh` (poppler-utils).
const tool = (name: string): string => {
  const path = `/usr/bin/${name}`;
  if (!existsSync(path)) throw new Error(`${path} missing: run bash scripts/install-system-deps.sh`);
  return path;
};

let dir: string;
const write = (name: string, data: Buffer): string => {
  const file = join(dir, name);
  writeFileSync(file, data);
  return file;
};
const run = (name: string, args: string[]): string => execFileSync(tool(name), args, { encoding: 'utf8' });
const pagesOf = (file: string): number => Number(/Pages:\s+(\d+)/.exec(run('pdfinfo', [file]))?.[1]);
const squash = (s: string): string => s.replace(/\s+/g, '');

/** A small red ring as an RGBA PNG, standing in for the bank's seal. */
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
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - size / 2, y - size / 2);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      const on = d < size / 2 - 1 && d > size / 2 - 6;
      raw[o] = 200;
      raw[o + 3] = on ? 220 : 0;
    }
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'letters-spec-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('zh-CN demand letter with repayment-commitment form', () => {
  let pdf: Buffer;
  let file: string;
  let text: string[];
  const input = () => sampleDemandLetter({ sealImagePath: join(dir, 'seal.png') });

  beforeAll(async () => {
    writeFileSync(join(dir, 'seal.png'), sealPng());
    pdf = await renderLetterPdf(input());
    file = write('demand.pdf', pdf);
    text = run('pdftotext', ['-enc', 'UTF-8', file, '-']).split('\f');
  });

  it('has two pages: the letter and the attachment on its own page', () => {
    expect(pagesOf(file)).toBe(2);
    expect(squash(text[0])).toContain('信用卡逾期欠款催收函');
    expect(squash(text[0])).not.toContain('还款承诺书附件');
    expect(squash(text[1])).toContain(squash('附件1 还款承诺书'));
    expect(squash(text[1])).toContain('承诺人（签字）');
  });

  it('pdftotext returns the Chinese body text, bold runs and table cells included', () => {
    const p1 = squash(text[0]);
    for (const s of [
      '尊敬的王小明先生/女士',
      '26,543.21元',
      '透支本金',
      '21,000.00',
      '一、依据与您的权利',
      '十五日内',
    ]) {
      expect(p1).toContain(s);
    }
    expect(p1).toContain(squash('示例商业银行股份有限公司信用卡中心'));
  });

  it('embeds every font as a subset with a ToUnicode map', () => {
    const lines = run('pdffonts', [file]).trim().split('\n').slice(2);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      expect(line).toMatch(/NotoSansSC/);
      expect(line).toMatch(/^[A-Z]{6}\+/);
      // columns: ... emb sub uni object ID
      expect(line).toMatch(/\byes\s+yes\s+yes\s+\d+\s+\d+\s*$/);
    }
  });

  it('prints page numbers and the footer (document id, body digest prefix, verification URL) on every page', () => {
    const digest = bodyDigest(input()).slice(0, 16);
    text.slice(0, 2).forEach((page, i) => {
      const p = squash(page);
      expect(p).toContain(`第${i + 1}页共2页`);
      expect(p).toContain('DOC-2025-000123');
      expect(p).toContain(digest);
      expect(p).toContain('https://verify.bank.example/d/DOC-2025-000123');
    });
    expect(bodyDigest(input())).toBe(
      createHash('sha256')
        .update(
          JSON.stringify([
            input().title,
            input().bodyMarkdown,
            [['还款承诺书', input().attachments?.[0].bodyMarkdown]],
          ]),
        )
        .digest('hex'),
    );
  });

  it('places the recipient block inside the envelope window (layout and the printed PDF agree)', () => {
    const { addressBlock } = layoutLetter(input(), loadLetterFonts());
    const w = ADDRESS_WINDOW;
    expect(addressBlock.x).toBeGreaterThanOrEqual(w.x);
    expect(addressBlock.y).toBeGreaterThanOrEqual(w.y);
    expect(addressBlock.x + addressBlock.width).toBeLessThanOrEqual(w.x + w.width);
    expect(addressBlock.y + addressBlock.height).toBeLessThanOrEqual(w.y + w.height);

    // Where poppler actually finds the recipient's words on page 1 (points, top-left origin).
    const html = run('pdftotext', ['-bbox', '-f', '1', '-l', '1', file, '-']);
    const words = [
      ...html.matchAll(
        /<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/g,
      ),
    ].map((m) => ({ x0: +m[1], y0: +m[2], x1: +m[3], y1: +m[4], t: m[5] }));
    const wanted = ['100020', '北京市朝阳区示例街道', '501', '王小明'];
    for (const token of wanted) {
      const hits = words.filter((wd) => wd.t.includes(token) && wd.y0 < w.y + w.height);
      expect(hits.length).toBeGreaterThan(0);
      for (const h of hits) {
        expect(h.x0).toBeGreaterThanOrEqual(w.x);
        expect(h.x1).toBeLessThanOrEqual(w.x + w.width);
        expect(h.y0).toBeGreaterThanOrEqual(w.y);
        expect(h.y1).toBeLessThanOrEqual(w.y + w.height);
      }
    }
  });

  it('writes PDF/A-2b: version 1.7, XMP identification, dates taken from the notice date', () => {
    const info = run('pdfinfo', ['-isodates', file]);
    expect(info).toMatch(/PDF version:\s+1\.7/);
    expect(info).toMatch(/CreationDate:\s+2025-03-01T00:00:00Z/);
    expect(info).toMatch(/ModDate:\s+2025-03-01T00:00:00Z/);
    expect(info).toMatch(/Title:\s+信用卡逾期欠款催收函/);
    const meta = run('pdfinfo', ['-meta', file]);
    expect(meta).toContain('<pdfaid:part>2</pdfaid:part>');
    expect(meta).toContain('<pdfaid:conformance>B</pdfaid:conformance>');
    expect(meta).toContain('<xmp:ModifyDate>2025-03-01T00:00:00Z</xmp:ModifyDate>');
    expect(pdf.toString('latin1')).toContain('/OutputIntents');
  });

  it('draws the seal image when a path is given and omits it otherwise', async () => {
    const imgs = run('pdfimages', ['-list', file]);
    expect(imgs).toMatch(/\n\s+1\s+\d+\s+image\s+64\s+64/);
    const without = write('noseal.pdf', await renderLetterPdf(sampleDemandLetter()));
    expect(run('pdfimages', ['-list', without]).trim().split('\n')).toHaveLength(2);
  });

  it('is deterministic: identical input gives identical bytes, also after rendering other letters', async () => {
    const again = await renderLetterPdf(input());
    expect(again.equals(pdf)).toBe(true);
    await renderLetterPdf(sampleDemandLetter({ locale: 'en', documentId: 'OTHER-1', title: 'Other' }));
    const third = await renderLetterPdf(input());
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    expect(sha(third)).toBe(sha(pdf));
    const otherDate = await renderLetterPdf(
      sampleDemandLetter({ sealImagePath: join(dir, 'seal.png'), date: '2025-03-02' }),
    );
    expect(otherDate.equals(pdf)).toBe(false);
  });
});

describe('letters of the same template for other recipients', () => {
  it('embeds the per-letter glyphs (name, address) next to the cached template glyphs', async () => {
    const other = (name: string, street: string) =>
      sampleDemandLetter({
        documentId: 'DOC-2025-777001',
        recipient: { name, addressLines: [street], postcode: '510000' },
      });
    await renderLetterPdf(other('李四', '广州市天河区示例大道 9 号'));
    const file = write('other.pdf', await renderLetterPdf(other('欧阳震华', '杭州市西湖区龙井路 88 号')));
    const p1 = squash(run('pdftotext', ['-enc', 'UTF-8', '-l', '1', file, '-']));
    expect(p1).toContain('欧阳震华收');
    expect(p1).toContain('杭州市西湖区龙井路88号');
    expect(p1).not.toContain('李四');
    const fonts = run('pdffonts', [file]).trim().split('\n').slice(2);
    expect(fonts).toHaveLength(2);
    for (const line of fonts) expect(line).toMatch(/\byes\s+yes\s+yes\s+\d+\s+\d+\s*$/);
  });
});

describe('English letter', () => {
  it('uses English page numbers and labels', async () => {
    const file = write('en.pdf', await renderLetterPdf(sampleDemandLetter({ locale: 'en' })));
    const pages = run('pdftotext', [file, '-']).split('\f');
    expect(squash(pages[0])).toContain('Page1of2');
    expect(squash(pages[1])).toContain('Page2of2');
    expect(pages[0]).toContain('REGISTERED MAIL');
    expect(pages[1]).toContain('Attachment 1');
  });
});

describe('input validation', () => {
  it('rejects an impossible date and empty ids with field paths', async () => {
    const bad = sampleDemandLetter({ date: '2025-02-30', documentId: ' ' });
    await expect(renderLetterPdf(bad)).rejects.toBeInstanceOf(ValidationError);
    let caught: unknown;
    try {
      layoutLetter(bad, loadLetterFonts());
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).fields.map((f) => f.path).sort()).toEqual(['date', 'documentId']);
  });

  it('rejects an address that does not fit the window', () => {
    const long = sampleDemandLetter({
      recipient: {
        name: '王小明',
        addressLines: Array.from({ length: 9 }, (_, i) => `第${i + 1}行地址`),
        postcode: '100020',
      },
    });
    expect(() => layoutLetter(long, loadLetterFonts())).toThrow(/envelope window/);
  });
});

describe('60-page statement letter', () => {
  it('paginates a long table with the header row repeated, streaming with flat memory', async () => {
    const input = sampleStatementLetter(2150);
    const file = join(dir, 'statement.pdf');
    const out = createWriteStream(file);
    const base = process.memoryUsage();
    let peakHeap = base.heapUsed;
    let peakRss = base.rss;
    const timer = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }, 5);
    out.on('drain', () => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    });
    const { pages } = await renderLetterPdfToStream(input, out);
    clearInterval(timer);
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);

    expect(pages).toBeGreaterThanOrEqual(60);
    expect(pagesOf(file)).toBe(pages);
    // A 60-page letter must not hold much more than its display list: bounded growth, far below the file count.
    expect((peakHeap - base.heapUsed) / 2 ** 20).toBeLessThan(96);
    expect((peakRss - base.rss) / 2 ** 20).toBeLessThan(192);

    expect(readFileSync(file).subarray(0, 8).toString('latin1')).toBe('%PDF-1.7');
    const texts = run('pdftotext', ['-layout', file, '-']).split('\f');
    const tablePages = texts.slice(0, pages).filter((p) => p.includes('TX1'));
    expect(tablePages.length).toBe(pages);
    for (const p of tablePages) {
      expect(p).toMatch(/Date\s+Description\s+Reference\s+Amount \(CNY\)/);
    }
    expect(squash(texts[pages - 1])).toContain(`Page${pages}of${pages}`);
    // Rows keep their order across page breaks and none is lost.
    const refs = [...texts.join('\n').matchAll(/TX(\d{6})/g)].map((x) => Number(x[1]));
    expect(refs).toHaveLength(2150);
    expect(refs.every((r, i) => r === 100000 + i)).toBe(true);
  });
});
