import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import * as fontkit from 'fontkit';
import { defaultFontPaths } from './fonts.js';
import {
  TrueTypeProgram,
  adler32,
  adler32Combine,
  cachedSegment,
  deflateSegment,
  storedSegment,
  zlibJoin,
} from './truetype.js';

const data = readFileSync(defaultFontPaths().regular);
const original = fontkit.create(data) as fontkit.Font;
const program = new TrueTypeProgram(data);
const gidsOf = (text: string): number[] => [...new Set(original.layout(text).glyphs.map((g) => g.id))];

describe('zlib stream assembly', () => {
  it('combines Adler-32 checksums like zlib', () => {
    const a = Buffer.from('催收函 demand letter '.repeat(50));
    const b = Buffer.from('还款承诺书 repayment form '.repeat(70));
    expect(adler32Combine(adler32(a), adler32(b), b.length)).toBe(adler32(Buffer.concat([a, b])));
  });

  it('joins stored, cached and compressed segments into one stream zlib inflates (checksum verified)', () => {
    const parts = [
      Buffer.from('x'.repeat(70_000)),
      Buffer.from('header text\n'),
      Buffer.from('yz'.repeat(900)),
    ];
    for (const last of [Buffer.from('tail'.repeat(400)), Buffer.from('short'), Buffer.alloc(0)]) {
      const joined = zlibJoin(
        [storedSegment(parts[0]), cachedSegment(parts[1].toString('latin1')), deflateSegment(parts[2])],
        last,
      );
      expect(inflateSync(joined).equals(Buffer.concat([...parts, last]))).toBe(true);
    }
  });
});

describe('TrueType subset encoder', () => {
  const stable = gidsOf('示例商业银行股份有限公司信用卡中心催收函');
  const extra = gidsOf('王小明 DOC-2025-000123');
  const sub = program.subset(stable, extra);
  const fontFile = inflateSync(sub.deflated);
  const parsed = fontkit.create(fontFile) as fontkit.Font;

  it('numbers glyphs densely: .notdef, the sorted stable glyphs, then the per-letter glyphs', () => {
    expect(sub.gids[0]).toBe(0);
    expect(sub.gids.slice(1, sub.stableCount)).toEqual([...stable].sort((a, b) => a - b));
    expect(sub.gids.slice(sub.stableCount)).toEqual(extra.filter((g) => !stable.includes(g)));
    expect(fontFile.length).toBe(sub.length);
    expect(parsed.numGlyphs).toBe(sub.gids.length);
  });

  it('keeps every glyph outline and advance width of the original font', () => {
    sub.gids.forEach((gid, cid) => {
      const mine = parsed.getGlyph(cid);
      const theirs = original.getGlyph(gid);
      expect(mine.path.toSVG()).toBe(theirs.path.toSVG());
      expect(mine.advanceWidth).toBe(theirs.advanceWidth);
    });
  });

  it('writes valid table checksums and head.checkSumAdjustment', () => {
    const sum = (buf: Buffer): number => {
      const padded = Buffer.concat([buf, Buffer.alloc((4 - (buf.length % 4)) % 4)]);
      let s = 0;
      for (let i = 0; i < padded.length; i += 4) s = (s + padded.readUInt32BE(i)) >>> 0;
      return s;
    };
    const numTables = fontFile.readUInt16BE(4);
    for (let i = 0; i < numTables; i++) {
      const at = 12 + i * 16;
      const tag = fontFile.toString('latin1', at, at + 4);
      const table = Buffer.from(
        fontFile.subarray(
          fontFile.readUInt32BE(at + 8),
          fontFile.readUInt32BE(at + 8) + fontFile.readUInt32BE(at + 12),
        ),
      );
      if (tag === 'head') table.writeUInt32BE(0, 8);
      expect(sum(table)).toBe(fontFile.readUInt32BE(at + 4));
    }
    expect(sum(fontFile)).toBe(0xb1b0afba);
  });

  it('is deterministic and reuses the stable part: same glyphs give the same bytes', () => {
    const again = program.subset([...stable].reverse(), extra);
    expect(again.deflated.equals(sub.deflated)).toBe(true);
    const other = program.subset(stable, gidsOf('李四'));
    expect(other.gids.slice(0, other.stableCount)).toEqual(sub.gids.slice(0, sub.stableCount));
    expect(other.deflated.equals(sub.deflated)).toBe(false);
  });

  it('rejects a font without TrueType outlines', () => {
    const header = Buffer.alloc(12);
    header.writeUInt32BE(0x4f54544f, 0); // 'OTTO', no tables
    expect(() => new TrueTypeProgram(header)).toThrow(/TrueType outlines required/);
  });
});
