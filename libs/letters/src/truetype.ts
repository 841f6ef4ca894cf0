import { createHash } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';

/*
 * Our own TrueType subset encoder for the letter fonts (replaces fontkit's TTFSubset and pdfkit's EmbeddedFont).
 *
 * A subset is written with glyph ids renumbered densely (CID = subset glyph id, CIDToGIDMap /Identity):
 *   CID 0 = .notdef, CIDs 1..a = the "stable" glyphs (sorted by original id), then the per-letter glyphs.
 * The stable part is what letters from the same template and bank share (labels, letterhead, template wording, see
 * render.ts); its glyf bytes, their deflate segment and Adler-32 are cached per process, so a letter only compresses
 * the small tables and its own extra glyphs. The FontFile2 stream is one valid zlib stream made of independently
 * compressed raw-deflate segments (each but the last ends on a byte boundary with a sync flush), with the Adler-32 of
 * the whole program combined from the parts. Output depends only on the glyph lists, so it is deterministic.
 */

const MOD_ADLER = 65521;

export function adler32(buf: Uint8Array, start = 1): number {
  let a = start & 0xffff;
  let b = start >>> 16;
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const end = Math.min(n, i + 5552);
    for (; i < end; i++) {
      a += buf[i];
      b += a;
    }
    a %= MOD_ADLER;
    b %= MOD_ADLER;
  }
  return ((b << 16) | a) >>> 0;
}

/** zlib's adler32_combine: the Adler-32 of A followed by B from adler(A), adler(B) and B's length. */
export function adler32Combine(adler1: number, adler2: number, len2: number): number {
  const rem = len2 % MOD_ADLER;
  let sum1 = adler1 & 0xffff;
  let sum2 = (rem * sum1) % MOD_ADLER;
  sum1 += (adler2 & 0xffff) + MOD_ADLER - 1;
  sum2 += (adler1 >>> 16) + (adler2 >>> 16) + MOD_ADLER - rem;
  if (sum1 >= MOD_ADLER) sum1 -= MOD_ADLER;
  if (sum1 >= MOD_ADLER) sum1 -= MOD_ADLER;
  if (sum2 >= MOD_ADLER << 1) sum2 -= MOD_ADLER << 1;
  if (sum2 >= MOD_ADLER) sum2 -= MOD_ADLER;
  return ((sum2 << 16) | sum1) >>> 0;
}

/** A raw-deflate segment that can be followed by other segments (ends with a sync flush, not final). */
export interface DeflateSegment {
  deflated: Buffer;
  adler: number;
  length: number;
}

export function deflateSegment(data: Buffer, level = 6): DeflateSegment {
  return {
    deflated: deflateRawSync(data, { level, finishFlush: constants.Z_SYNC_FLUSH }),
    adler: adler32(data),
    length: data.length,
  };
}

const textSegments = new Map<string, DeflateSegment>();
const MAX_TEXT_SEGMENTS = 256;

/** A deflate segment for `text` (latin1), compressed once per process and reused while cached. */
export function cachedSegment(text: string): DeflateSegment {
  let seg = textSegments.get(text);
  if (!seg) {
    seg = deflateSegment(Buffer.from(text, 'latin1'), 9);
    if (textSegments.size >= MAX_TEXT_SEGMENTS) textSegments.clear();
    textSegments.set(text, seg);
  }
  return seg;
}

/** Data as stored (uncompressed, non-final) deflate blocks: no zlib call, 5 bytes of overhead per 64 KiB. */
export function storedSegment(data: Buffer): DeflateSegment {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += 0xffff) {
    const chunk = data.subarray(at, at + 0xffff);
    const header = Buffer.alloc(5);
    header.writeUInt16LE(chunk.length, 1);
    header.writeUInt16LE(~chunk.length & 0xffff, 3);
    parts.push(header, chunk);
  }
  return { deflated: Buffer.concat(parts), adler: adler32(data), length: data.length };
}

/** An empty final block with fixed codes (ends a stream of non-final segments). */
const FINAL_EMPTY = Buffer.from([0x03, 0x00]);
/** Below this size the last part is stored rather than compressed (one native zlib call costs ~0.1 ms). */
const STORE_BELOW = 512;

/** Joins segments and a last part (compressed here unless tiny) into one zlib stream. */
export function zlibJoin(segments: DeflateSegment[], last: Buffer, level = 6): Buffer {
  let adler = 1;
  for (const s of segments) adler = adler32Combine(adler, s.adler, s.length);
  adler = adler32Combine(adler, adler32(last), last.length);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(adler);
  const end =
    last.length < STORE_BELOW
      ? [...(last.length ? [storedSegment(last).deflated] : []), FINAL_EMPTY]
      : [deflateRawSync(last, { level })];
  return Buffer.concat([Buffer.from([0x78, 0x9c]), ...segments.map((s) => s.deflated), ...end, tail]);
}

/** Sum of big-endian uint32 words (OpenType table checksum); `buf.length` is a multiple of 4. */
function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i += 4) sum = (sum + buf.readUInt32BE(i)) >>> 0;
  return sum;
}

const pad4 = (n: number): number => (n + 3) & ~3;

interface Table {
  offset: number;
  length: number;
}

/** Composite-glyph flags (OpenType glyf table). */
const ARG_1_AND_2_ARE_WORDS = 0x0001;
const WE_HAVE_A_SCALE = 0x0008;
const MORE_COMPONENTS = 0x0020;
const WE_HAVE_AN_X_AND_Y_SCALE = 0x0040;
const WE_HAVE_A_TWO_BY_TWO = 0x0080;

/** The stable (cached) part of a subset: .notdef + sorted stable glyphs, and their composite components. */
interface StablePart {
  gids: number[];
  cidOf: Map<number, number>;
  glyf: Buffer;
  /** loca (long) entries 0..gids.length and hmtx entries of the stable glyphs. */
  loca: Buffer;
  hmtx: Buffer;
  segment: DeflateSegment;
  checksum: number;
}

export interface EncodedSubset {
  /** Original glyph id for each CID. */
  gids: number[];
  /** CID of original glyph `gid` (which must be in the subset). */
  cid(gid: number): number;
  /** CIDs below this belong to the stable (cached) part. */
  stableCount: number;
  /** The FontFile2 stream, zlib-compressed. */
  deflated: Buffer;
  /** Uncompressed length of the font program (`Length1`). */
  length: number;
}

const MAX_STABLE_CACHE = 64;

/** One TrueType (glyf) font file, parsed once per process. */
export class TrueTypeProgram {
  readonly unitsPerEm: number;
  readonly numGlyphs: number;
  private readonly tables = new Map<string, Table>();
  private readonly longLoca: boolean;
  private readonly numberOfHMetrics: number;
  private readonly stable = new Map<string, StablePart>();

  constructor(private readonly data: Buffer) {
    const numTables = data.readUInt16BE(4);
    for (let i = 0; i < numTables; i++) {
      const at = 12 + i * 16;
      this.tables.set(data.toString('latin1', at, at + 4), {
        offset: data.readUInt32BE(at + 8),
        length: data.readUInt32BE(at + 12),
      });
    }
    for (const tag of ['head', 'hhea', 'maxp', 'hmtx', 'loca', 'glyf']) {
      if (!this.tables.has(tag))
        throw new Error(`letters: font has no '${tag}' table (TrueType outlines required)`);
    }
    const head = this.table('head');
    this.unitsPerEm = head.readUInt16BE(18);
    this.longLoca = head.readInt16BE(50) === 1;
    this.numGlyphs = this.table('maxp').readUInt16BE(4);
    this.numberOfHMetrics = this.table('hhea').readUInt16BE(34);
  }

  private table(tag: string): Buffer {
    const t = this.tables.get(tag);
    if (!t) throw new Error(`letters: font has no '${tag}' table`);
    return this.data.subarray(t.offset, t.offset + t.length);
  }

  /** FontDescriptor /Flags as pdfkit computes them (fixed pitch, serif, symbolic, script, italic). */
  pdfFlags(): number {
    const os2 = this.tables.get('OS/2');
    const familyClass = os2 && os2.length >= 32 ? this.data.readInt16BE(os2.offset + 30) >> 8 : 0;
    const post = this.tables.get('post');
    let flags = 1 << 2;
    if (post && this.data.readUInt32BE(post.offset + 12) !== 0) flags |= 1 << 0;
    if (familyClass >= 1 && familyClass <= 7) flags |= 1 << 1;
    if (familyClass === 10) flags |= 1 << 3;
    if (this.table('head').readUInt16BE(44) & 2) flags |= 1 << 6;
    return flags;
  }

  /** Advance width of glyph `gid` in font units (hmtx). */
  advanceWidth(gid: number): number {
    const hmtx = this.tables.get('hmtx') as Table;
    return this.data.readUInt16BE(hmtx.offset + Math.min(gid, this.numberOfHMetrics - 1) * 4);
  }

  /** Raw glyf bytes of glyph `gid` (empty for glyphs without outline). */
  glyph(gid: number): Buffer {
    const loca = this.tables.get('loca') as Table;
    const glyf = this.tables.get('glyf') as Table;
    let start: number;
    let end: number;
    if (this.longLoca) {
      start = this.data.readUInt32BE(loca.offset + gid * 4);
      end = this.data.readUInt32BE(loca.offset + gid * 4 + 4);
    } else {
      start = this.data.readUInt16BE(loca.offset + gid * 2) * 2;
      end = this.data.readUInt16BE(loca.offset + gid * 2 + 2) * 2;
    }
    return this.data.subarray(glyf.offset + start, glyf.offset + end);
  }

  /** Component glyph ids of a composite glyph (empty for simple glyphs), with their byte positions. */
  private components(g: Buffer): { gid: number; at: number }[] {
    if (g.length < 10 || g.readInt16BE(0) >= 0) return [];
    const out: { gid: number; at: number }[] = [];
    let p = 10;
    let flags: number;
    do {
      flags = g.readUInt16BE(p);
      out.push({ gid: g.readUInt16BE(p + 2), at: p + 2 });
      p += 4 + (flags & ARG_1_AND_2_ARE_WORDS ? 4 : 2);
      if (flags & WE_HAVE_A_SCALE) p += 2;
      else if (flags & WE_HAVE_AN_X_AND_Y_SCALE) p += 4;
      else if (flags & WE_HAVE_A_TWO_BY_TWO) p += 8;
    } while (flags & MORE_COMPONENTS);
    return out;
  }

  /** Appends the components of the composite glyphs in `list[from..]` (transitively) that `has` does not know. */
  private close(list: number[], has: (gid: number) => boolean, add: (gid: number) => void, from = 0): void {
    for (let i = from; i < list.length; i++) {
      for (const c of this.components(this.glyph(list[i]))) {
        if (!has(c.gid)) {
          add(c.gid);
          list.push(c.gid);
        }
      }
    }
  }

  /** Glyph bytes with composite component ids rewritten to CIDs, padded to 4 bytes. */
  private glyphOut(gid: number, cidOf: (gid: number) => number): Buffer {
    const g = this.glyph(gid);
    const comps = this.components(g);
    const out = Buffer.alloc(pad4(g.length));
    g.copy(out);
    for (const c of comps) out.writeUInt16BE(cidOf(c.gid), c.at);
    return out;
  }

  /** hmtx entry (advance, lsb) of original glyph `g`, written at `at`. */
  private metrics(g: number, out: Buffer, at: number): void {
    const hmtx = this.table('hmtx');
    const last = this.numberOfHMetrics - 1;
    out.writeUInt16BE(hmtx.readUInt16BE(Math.min(g, last) * 4), at);
    out.writeInt16BE(
      g <= last
        ? hmtx.readInt16BE(g * 4 + 2)
        : hmtx.readInt16BE(this.numberOfHMetrics * 4 + (g - last - 1) * 2),
      at + 2,
    );
  }

  private stablePart(sortedStable: number[]): StablePart {
    const key = sortedStable.join(',');
    let part = this.stable.get(key);
    if (!part) {
      const gids = [0, ...sortedStable];
      const cidOf = new Map(gids.map((g, i) => [g, i]));
      this.close(
        gids,
        (g) => cidOf.has(g),
        (g) => cidOf.set(g, cidOf.size),
      );
      const chunks: Buffer[] = [];
      const loca = Buffer.alloc((gids.length + 1) * 4);
      const hmtx = Buffer.alloc(gids.length * 4);
      let at = 0;
      gids.forEach((gid, i) => {
        const b = this.glyphOut(gid, (g) => cidOf.get(g) as number);
        chunks.push(b);
        at += b.length;
        loca.writeUInt32BE(at, (i + 1) * 4);
        this.metrics(gid, hmtx, i * 4);
      });
      const glyf = Buffer.concat(chunks);
      // Level 9 once per process: the stable part is reused by every letter of the same template.
      part = { gids, cidOf, glyf, loca, hmtx, segment: deflateSegment(glyf, 9), checksum: checksum(glyf) };
      if (this.stable.size >= MAX_STABLE_CACHE) this.stable.clear();
      this.stable.set(key, part);
    }
    return part;
  }

  /**
   * Builds the subset: CID 0 .notdef, then `stable` (sorted here), then `extra` in the given order (glyphs already
   * in the stable part are skipped). Returns the original glyph id of every CID and the compressed program.
   */
  subset(stable: number[], extra: number[]): EncodedSubset {
    const part = this.stablePart([...new Set(stable)].sort((a, b) => a - b));
    const stableCount = part.gids.length;
    const gids = part.gids.slice();
    const extraCid = new Map<number, number>();
    const has = (g: number): boolean => part.cidOf.has(g) || extraCid.has(g);
    const add = (g: number): void => {
      extraCid.set(g, gids.length);
    };
    for (const g of extra) {
      if (!has(g)) {
        add(g);
        gids.push(g);
      }
    }
    this.close(gids, has, add, stableCount);
    const cidOf = (g: number): number => part.cidOf.get(g) ?? (extraCid.get(g) as number);

    const n = gids.length;
    const extraChunks: Buffer[] = [];
    const loca = Buffer.alloc((n + 1) * 4);
    part.loca.copy(loca);
    const hmtx = Buffer.alloc(n * 4);
    part.hmtx.copy(hmtx);
    let at = part.glyf.length;
    for (let i = stableCount; i < n; i++) {
      const b = this.glyphOut(gids[i], cidOf);
      extraChunks.push(b);
      at += b.length;
      loca.writeUInt32BE(at, (i + 1) * 4);
      this.metrics(gids[i], hmtx, i * 4);
    }
    const extraGlyf = Buffer.concat(extraChunks);

    const head = Buffer.from(this.table('head'));
    head.writeUInt32BE(0, 8); // checkSumAdjustment, set below
    head.writeInt16BE(1, 50); // long loca
    const hhea = Buffer.from(this.table('hhea'));
    hhea.writeUInt16BE(n, 34);
    const maxp = Buffer.from(this.table('maxp'));
    maxp.writeUInt16BE(n, 4);

    // File order: directory (stored), glyf (its stable part is a cached deflate segment), then the other tables.
    const tables: [string, Buffer][] = [
      ['head', head],
      ['hhea', hhea],
      ['maxp', maxp],
    ];
    for (const tag of ['cvt ', 'fpgm', 'prep']) if (this.tables.has(tag)) tables.push([tag, this.table(tag)]);
    tables.push(['hmtx', hmtx], ['loca', loca]);
    const numTables = tables.length + 1;
    const glyfLength = part.glyf.length + extraGlyf.length;
    const dirLength = 12 + numTables * 16;
    const entries: { tag: string; sum: number; offset: number; length: number }[] = [
      {
        tag: 'glyf',
        sum: (part.checksum + checksum(extraGlyf)) >>> 0,
        offset: dirLength,
        length: glyfLength,
      },
    ];
    let offset = dirLength + glyfLength;
    const rest: Buffer[] = [extraGlyf];
    for (const [tag, buf] of tables) {
      const padded = buf.length % 4 ? Buffer.concat([buf, Buffer.alloc(4 - (buf.length % 4))]) : buf;
      entries.push({ tag, sum: checksum(padded), offset, length: buf.length });
      offset += padded.length;
      rest.push(buf);
      if (padded !== buf) rest.push(Buffer.alloc(padded.length - buf.length));
    }
    const dir = Buffer.alloc(dirLength);
    dir.writeUInt32BE(0x00010000, 0);
    dir.writeUInt16BE(numTables, 4);
    const pow2 = 2 ** Math.floor(Math.log2(numTables));
    dir.writeUInt16BE(pow2 * 16, 6);
    dir.writeUInt16BE(Math.log2(pow2), 8);
    dir.writeUInt16BE(numTables * 16 - pow2 * 16, 10);
    entries
      .slice()
      .sort((a, b) => (a.tag < b.tag ? -1 : 1))
      .forEach((e, i) => {
        const at = 12 + i * 16;
        dir.write(e.tag, at, 'latin1');
        dir.writeUInt32BE(e.sum, at + 4);
        dir.writeUInt32BE(e.offset, at + 8);
        dir.writeUInt32BE(e.length, at + 12);
      });
    let total = checksum(dir);
    for (const e of entries) total = (total + e.sum) >>> 0;
    head.writeUInt32BE((0xb1b0afba - total) >>> 0, 8); // `rest` holds `head` itself, so the stream sees this

    const deflated = zlibJoin([storedSegment(dir), part.segment], Buffer.concat(rest));
    return { gids, stableCount, cid: cidOf, deflated, length: offset };
  }
}

/** Six capital letters naming a subset (`ABCDEF+Font`), derived from its glyph list. */
export function subsetTag(gids: number[], salt: string): string {
  const h = createHash('sha1').update(salt).update(Uint16Array.from(gids)).digest();
  let tag = '';
  for (let i = 0; i < 6; i++) tag += String.fromCharCode(65 + (h[i] % 26));
  return tag;
}
