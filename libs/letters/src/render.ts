import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { deflateSync } from 'node:zlib';
import PDFDocument from 'pdfkit';
import QRCode from 'qrcode';
import { loadLetterFonts, type LetterFace, type LetterFontPaths, type LetterFonts } from './fonts.js';
import { cachedSegment, subsetTag, zlibJoin } from './truetype.js';
import { layoutLetter, type DrawOp, type LetterLayout } from './layout.js';
import type { LetterInput } from './types.js';
import { TemplateDataError } from '#libs/core';

export interface RenderOptions {
  /** Font files to use instead of the bundled Noto Sans SC (parsed once per process and path). */
  fonts?: LetterFontPaths;
}

export interface RenderResult {
  pages: number;
}

type PdfDoc = PDFKit.PDFDocument;

/** Ends a reference that has no stream data (@types/pdfkit wants an argument). */
const endRef = (ref: PDFKit.PDFKitReference): void => (ref as unknown as { end(): void }).end();

/** Any value pdfkit's dictionary serializer accepts (typed loosely by @types/pdfkit). */
type FontSource = string;

/** Options pdfkit 0.20 understands but @types/pdfkit 0.17 does not describe. */
interface DocOptions extends Omit<PDFKit.PDFDocumentOptions, 'font'> {
  font: null;
}

/** Characters pdfkit's XMP writer would emit unescaped; replaced in Info/XMP strings so the XML stays valid. */
function xmpSafe(s: string): string {
  return s.replace(/&/g, '＆').replace(/</g, '‹').replace(/>/g, '›');
}

function utcDate(isoDate: string): Date {
  const [y, m, d] = isoDate.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

/** Builds the QR code as one Form XObject (runs of dark modules as rectangles, 1 unit per module). */
function qrXObject(doc: PdfDoc, url: string): { ref: PDFKit.PDFKitReference; modules: number } {
  // Byte mode and a fixed mask pattern: segment optimisation and evaluating all eight masks (the defaults) cost
  // more than the rest of the QR code.
  const qr = QRCode.create([{ data: Buffer.from(url, 'utf8'), mode: 'byte' }], {
    errorCorrectionLevel: 'M',
    maskPattern: 0,
  });
  const n = qr.modules.size;
  const data = qr.modules.data;
  const quiet = 2;
  const size = n + 2 * quiet;
  let path = '';
  for (let r = 0; r < n; r++) {
    let c = 0;
    while (c < n) {
      if (!data[r * n + c]) {
        c++;
        continue;
      }
      const start = c;
      while (c < n && data[r * n + c]) c++;
      path += `${start + quiet} ${size - quiet - r - 1} ${c - start} 1 re\n`;
    }
  }
  const ref = doc.ref({ Type: 'XObject', Subtype: 'Form', BBox: [0, 0, size, size], Resources: {} });
  ref.end(`q 1 1 1 rg 0 0 ${size} ${size} re f 0 0 0 rg\n${path}f Q\n`);
  return { ref, modules: size };
}

/** pdfkit 0.20 internals used here (stable within 0.20.x; see docs/letters.md). */
interface DocInternals {
  page: { fonts: Record<string, PDFKit.PDFKitReference>; height: number };
}

/** A token pdfkit writes verbatim into a dictionary (its serializer falls back to `${value}` for non-plain objects). */
class Raw {
  constructor(private readonly text: string) {}
  get [Symbol.toStringTag](): string {
    return 'Raw';
  }
  toString(): string {
    return this.text;
  }
}
const raw = (text: string): FontSource => new Raw(text) as unknown as FontSource;

const num = (n: number): string => String(Math.round(n * 100) / 100);

const HEX: string[] = [];
const hex4 = (cid: number): string => (HEX[cid] ??= cid.toString(16).padStart(4, '0'));

const rgbCache = new Map<string, string>();
function rgb(hex: string): string {
  let v = rgbCache.get(hex);
  if (!v) {
    const n = parseInt(hex.slice(1), 16);
    v = `${num(((n >> 16) & 255) / 255)} ${num(((n >> 8) & 255) / 255)} ${num((n & 255) / 255)}`;
    rgbCache.set(hex, v);
  }
  return v;
}

type TextOp = Extract<DrawOp, { op: 'text' }>;

/** One embedded font (face) of one document: CID = index in `gids` (see truetype.ts). */
interface DocFont {
  id: string;
  face: LetterFace;
  ref: PDFKit.PDFKitReference;
  cid: (gid: number) => number;
}

/** Values of the per-letter fields (recipient, ids, date, verification URL). */
function variableValues(input: LetterInput): string[] {
  return [
    input.recipient.name,
    ...input.recipient.addressLines,
    input.recipient.postcode ?? '',
    input.documentId,
    input.caseId,
    input.date,
    input.verifyUrl,
  ]
    .map((v) => v.trim())
    .filter((v) => v.length > 0)
    .sort((x, y) => y.length - x.length);
}

/** Always in the stable part: digits and hex letters (amounts, dates, the digest) differ from letter to letter. */
const ALWAYS_STABLE = '0123456789abcdef';

/**
 * Code points of the fixed text of a letter: everything painted with this face once the values of the per-letter
 * fields are cut out. Glyphs for them form the stable part of the subset, identical for letters of the same
 * template and bank (compressed once per process); the remaining glyphs (the recipient's name and address, ids that
 * use letters the template does not) are compressed per letter.
 */
function stableCodePoints(texts: string[], variable: string[]): Set<number> {
  let text = texts.join('\n');
  for (const v of variable) if (text.includes(v)) text = text.split(v).join('\n');
  const set = new Set<number>();
  for (const ch of text) set.add(ch.codePointAt(0) as number);
  return set;
}

/** The PDF `W` array: ranges of equal widths as `first last w`, other glyphs as `first [w w ...]`. */
function widthsArray(widths: number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < widths.length) {
    let j = i;
    while (j + 1 < widths.length && widths[j + 1] === widths[i]) j++;
    if (j > i) {
      out.push(`${i} ${j} ${num(widths[i])}`);
      i = j + 1;
      continue;
    }
    const list: string[] = [];
    const start = i;
    while (i < widths.length && (i + 1 >= widths.length || widths[i + 1] !== widths[i]))
      list.push(num(widths[i++]));
    out.push(`${start} [${list.join(' ')}]`);
  }
  return `[${out.join(' ')}]`;
}

/**
 * The ToUnicode CMap as one zlib stream: the header and the entries of the stable CIDs are a cached deflate segment,
 * the per-letter entries and the trailer are appended (stored when small).
 */
function toUnicode(gids: number[], stableCount: number, unicode: Map<number, number[]>): Buffer {
  const entries = (from: number, to: number): string => {
    const list: string[] = [];
    for (let cid = from; cid < to; cid++) {
      const cps = unicode.get(gids[cid]);
      if (!cps || cps.length === 0) continue;
      let u = '';
      for (const cp of cps) {
        if (cp > 0xffff) {
          const v = cp - 0x10000;
          u += hex4(0xd800 | (v >>> 10)) + hex4(0xdc00 | (v & 0x3ff));
        } else u += hex4(cp);
      }
      list.push(`<${hex4(cid)}> <${u}>`);
    }
    let out = '';
    for (let i = 0; i < list.length; i += 100) {
      const part = list.slice(i, i + 100);
      out += `${part.length} beginbfchar\n${part.join('\n')}\nendbfchar\n`;
    }
    return out;
  };
  const head = `/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <ffff>
endcodespacerange
`;
  const tail = `endcmap
CMapName currentdict /CMap defineresource pop
end
end
`;
  return zlibJoin(
    [cachedSegment(head + entries(1, stableCount))],
    Buffer.from(entries(stableCount, gids.length) + tail, 'latin1'),
  );
}

/** Lexicographic order of code point sequences (shorter first on a common prefix). */
function compareSeq(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

const hexCp = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** Thrown before a glyph-less character would be painted as .notdef (accept refuses these earlier). */
function notdefError(cps: number[]): TemplateDataError {
  const list = cps.map((cp) => `${String.fromCodePoint(cp)} (${hexCp(cp)})`).join(', ');
  return new TemplateDataError(`No letter font has a glyph for ${list}`, [
    { path: 'letter', message: `no font has a glyph for ${list}` },
  ]);
}

/** Glyph id of each code point per face (the cmap: fixed for the font file), cached per process. */
const cmapCache = new WeakMap<LetterFace, Map<number, number>>();

interface FaceUse {
  stable: number[];
  extra: number[];
  unicode: Map<number, number[]>;
}

/**
 * Which glyphs of one face the letter paints, and the Unicode text of each, independent of the order in which the
 * process met them: fontkit caches one glyph object per glyph id, with the code points of the first string that
 * produced it, so two characters sharing a glyph ("•" and "·") would otherwise map to whichever came first in this
 * process. Here every code point is replaced by the smallest code point of this letter that maps to the same glyph,
 * a glyph's text is the smallest of its candidate sequences, and both glyph lists are sorted.
 */
function faceUse(face: LetterFace, list: string[], fixed: Set<number> | null): FaceUse {
  const font = face.font;
  let cmapGid = cmapCache.get(face);
  if (!cmapGid) cmapCache.set(face, (cmapGid = new Map<number, number>()));
  const gidOf = (cp: number): number => {
    let g = cmapGid.get(cp);
    if (g === undefined) {
      g = font.glyphForCodePoint(cp)?.id ?? 0;
      if (cmapGid.size >= 100_000) cmapGid.clear();
      cmapGid.set(cp, g);
    }
    return g;
  };
  const smallest = new Map<number, number>();
  const letterCps = new Set<number>();
  for (const t of list) for (const ch of t) letterCps.add(ch.codePointAt(0) as number);
  for (const cp of [...letterCps].sort((a, b) => a - b)) {
    const g = gidOf(cp);
    if (g !== 0 && !smallest.has(g)) smallest.set(g, cp);
  }
  const canon = (cp: number): number => smallest.get(gidOf(cp)) ?? cp;
  const candidates = new Map<number, number[][]>();
  const missing: number[] = [];
  for (const t of list) {
    const run = face.shape(t);
    for (let i = 0; i < run.gids.length; i++) {
      const gid = run.gids[i];
      const cps = run.codePoints[i].map(canon);
      if (gid === 0) {
        for (const cp of cps) if (!missing.includes(cp)) missing.push(cp);
        continue;
      }
      const list_ = candidates.get(gid);
      if (!list_) candidates.set(gid, [cps]);
      else if (!list_.some((c) => compareSeq(c, cps) === 0)) list_.push(cps);
    }
  }
  if (missing.length) throw notdefError(missing);
  const unicode = new Map<number, number[]>();
  const stable: number[] = [];
  const extra: number[] = [];
  for (const [gid, list_] of candidates) {
    list_.sort(compareSeq);
    unicode.set(gid, list_[0]);
    const isStable =
      fixed !== null && list_.some((cps) => cps.length > 0 && cps.every((cp) => fixed.has(cp)));
    (isStable ? stable : extra).push(gid);
  }
  stable.sort((a, b) => a - b);
  extra.sort((a, b) => a - b);
  return { stable, extra, unicode };
}

/**
 * Subsets and embeds every face the layout paints with (the regular and bold main fonts, and the fallback fonts a
 * character needed), as Type0 / CIDFontType2 with FontFile2, W and ToUnicode, before any page is written. Returns
 * the fonts by face index (see {@link LetterFonts.faceAt}).
 */
function embedFonts(doc: PdfDoc, layout: LetterLayout, fonts: LetterFonts, input: LetterInput): DocFont[] {
  const variable = variableValues(input);
  const texts: string[][] = Array.from({ length: fonts.faceCount }, () => []);
  for (const page of layout.pages)
    for (const op of page.ops)
      if (op.op === 'text')
        for (const seg of fonts.segments(op.text, op.bold)) texts[seg.face].push(seg.text);
  const out: DocFont[] = [];
  texts.forEach((list, k) => {
    if (k >= 2 && list.length === 0) return;
    const face = fonts.faceAt(k);
    const id = `F${k + 1}`;
    const ref = doc.ref({});
    const docFont: DocFont = { id, face, ref, cid: () => 0 };
    out[k] = docFont;
    if (list.length === 0) {
      endRef(ref);
      return;
    }
    // The main faces keep a stable part (template wording, cached per process); fallback glyphs are all per letter.
    let fixed: Set<number> | null = null;
    if (k < 2) {
      fixed = stableCodePoints(list, variable);
      for (const ch of ALWAYS_STABLE) fixed.add(ch.charCodeAt(0));
      list = [ALWAYS_STABLE, ...list];
    }
    const u = faceUse(face, list, fixed);
    const program = face.program;
    const sub = program.subset(u.stable, u.extra);
    docFont.cid = sub.cid;
    const font = face.font;
    const scale = 1000 / font.unitsPerEm;
    const name = `${subsetTag(sub.gids, font.postscriptName)}+${font.postscriptName.replaceAll(' ', '_')}`;
    const file = doc.ref({ Length1: sub.length, Filter: 'FlateDecode' });
    file.end(sub.deflated);
    const { bbox } = font;
    const descriptor = doc.ref({
      Type: 'FontDescriptor',
      FontName: name,
      Flags: program.pdfFlags(),
      FontBBox: [bbox.minX * scale, bbox.minY * scale, bbox.maxX * scale, bbox.maxY * scale],
      ItalicAngle: font.italicAngle,
      Ascent: font.ascent * scale,
      Descent: font.descent * scale,
      CapHeight: (font.capHeight || font.ascent) * scale,
      XHeight: (font.xHeight || 0) * scale,
      StemV: 0,
      FontFile2: file,
    });
    endRef(descriptor);
    const cidFont = doc.ref({
      Type: 'Font',
      Subtype: 'CIDFontType2',
      BaseFont: name,
      CIDSystemInfo: { Registry: new String('Adobe'), Ordering: new String('Identity'), Supplement: 0 },
      FontDescriptor: descriptor,
      W: raw(widthsArray(sub.gids.map((g) => program.advanceWidth(g) * scale))),
      CIDToGIDMap: 'Identity',
    });
    endRef(cidFont);
    const cmap = doc.ref({ Filter: 'FlateDecode' });
    cmap.end(toUnicode(sub.gids, sub.stableCount, u.unicode));
    Object.assign(ref.data, {
      Type: 'Font',
      Subtype: 'Type0',
      BaseFont: name,
      Encoding: 'Identity-H',
      DescendantFonts: [cidFont],
      ToUnicode: cmap,
    });
    endRef(ref);
  });
  return out;
}

/**
 * Writes one page's text as a single BT/ET block straight into the content stream, with glyph ids from our own
 * shaping cache mapped to the document's subset CIDs. A text op is painted in segments, each with the first face of
 * the chain that has its characters. Glyph offsets (mark positioning) get their own Tm, and a kerning number is
 * written where the positioning advance differs from the glyph width, as pdfkit does.
 */
function textBlock(doc: PdfDoc, ops: TextOp[], fonts: LetterFonts, docFonts: DocFont[]): void {
  const internals = doc as unknown as DocInternals;
  const page = internals.page;
  const h = page.height;
  const out: string[] = [`q 1 0 0 -1 0 ${num(h)} cm BT`];
  let font: DocFont | null = null;
  let size = 0;
  let color = '';
  for (const op of ops) {
    if (op.color !== color) {
      color = op.color;
      out.push(`${rgb(color)} rg`);
    }
    for (const seg of fonts.segments(op.text, op.bold)) {
      const f = docFonts[seg.face];
      if (f !== font || op.size !== size) {
        font = f;
        size = op.size;
        if (page.fonts[f.id] == null) page.fonts[f.id] = f.ref;
        out.push(`/${f.id} ${num(size)} Tf`);
      }
      const x0 = op.x + seg.dxEm * size;
      const run = f.face.shape(seg.text);
      const cidOf = f.cid;
      const gids = run.gids;
      out.push(`1 0 0 1 ${num(x0)} ${num(h - op.y)} Tm`);
      if (run.plain) {
        let s = '[<';
        for (let i = 0; i < gids.length; i++) s += hex4(cidOf(gids[i]));
        out.push(`${s}>] TJ`);
        continue;
      }
      let tj = '[<';
      let x = x0;
      const scale = size / 1000;
      for (let i = 0; i < gids.length; i++) {
        const cid = hex4(cidOf(gids[i]));
        const xOff = run.xOffset[i];
        const yOff = run.yOffset[i];
        if (xOff || yOff) {
          out.push(
            `${tj}>] TJ`,
            `1 0 0 1 ${num(x + xOff * scale)} ${num(h - op.y + yOff * scale)} Tm`,
            `[<${cid}>] TJ`,
            `1 0 0 1 ${num(x + run.xAdvance[i] * scale)} ${num(h - op.y)} Tm`,
          );
          tj = '[<';
        } else {
          tj += cid;
          if (run.xAdvance[i] !== run.width[i]) tj += `> ${num(run.width[i] - run.xAdvance[i])} <`;
        }
        x += run.xAdvance[i] * scale;
      }
      out.push(`${tj}>] TJ`);
    }
  }
  out.push('ET Q');
  doc.addContent(out.join('\n'));
}

function paint(
  doc: PdfDoc,
  layout: LetterLayout,
  qr: { ref: PDFKit.PDFKitReference; modules: number },
  fonts: LetterFonts,
  docFonts: DocFont[],
): void {
  for (const page of layout.pages) {
    doc.addPage({ size: 'A4', margin: 0 });
    const texts: TextOp[] = [];
    const graphics: string[] = [];
    const overlays: DrawOp[] = [];
    for (const op of page.ops) {
      switch (op.op) {
        case 'text':
          texts.push(op);
          break;
        case 'rect':
          graphics.push(`${rgb(op.fill)} rg ${num(op.x)} ${num(op.y)} ${num(op.w)} ${num(op.h)} re f`);
          break;
        case 'line':
          graphics.push(
            `${rgb(op.color)} RG ${num(op.width)} w ${num(op.x1)} ${num(op.y1)} m ${num(op.x2)} ${num(op.y2)} l S`,
          );
          break;
        default:
          overlays.push(op);
      }
    }
    // Backgrounds and rules first, text on top of them, then the seal image and QR code.
    if (graphics.length) doc.addContent(`q\n${graphics.join('\n')}\nQ`);
    if (texts.length) textBlock(doc, texts, fonts, docFonts);
    for (const op of overlays) {
      if (op.op === 'image') {
        doc.image(op.path, op.x, op.y, { fit: [op.w, op.h], align: 'center', valign: 'center' });
      } else if (op.op === 'qr') {
        const scale = op.size / qr.modules;
        doc.page.xobjects.QR = qr.ref;
        // pdfkit's user space is flipped (y down); the form is drawn in PDF's native y-up space.
        doc.addContent(`q ${num(scale)} 0 0 ${num(-scale)} ${num(op.x)} ${num(op.y + op.size)} cm /QR Do Q`);
      }
    }
  }
}

const requireFromHere = createRequire(import.meta.url);
let iccDeflated: Buffer | undefined;

/**
 * pdfkit's PDF/A output intent (sRGB ICC profile), with the profile compressed once per process instead of per
 * document. Same objects as pdfkit 0.20's `_addColorOutputIntent`.
 */
function addColorOutputIntent(this: PdfDoc & { _root: { data: Record<string, unknown> } }): void {
  iccDeflated ??= deflateSync(
    readFileSync(join(dirname(requireFromHere.resolve('pdfkit')), 'data', 'sRGB_IEC61966_2_1.icc')),
    { level: 9 },
  );
  const profile = this.ref({ N: 3, Filter: 'FlateDecode' });
  profile.end(iccDeflated);
  const intent = this.ref({
    Type: 'OutputIntent',
    S: 'GTS_PDFA1',
    Info: new String('sRGB IEC61966-2.1'),
    OutputConditionIdentifier: new String('sRGB IEC61966-2.1'),
    DestOutputProfile: profile,
  });
  endRef(intent);
  this._root.data.OutputIntents = [intent];
}

function createDocument(input: LetterInput): PdfDoc {
  const date = utcDate(input.date);
  const options: DocOptions = {
    size: 'A4',
    margin: 0,
    autoFirstPage: false,
    bufferPages: false,
    compress: true,
    pdfVersion: '1.7',
    subset: 'PDF/A-2b',
    tagged: true,
    lang: input.locale,
    displayTitle: true,
    font: null, // no default Helvetica: every glyph comes from the embedded CJK font
    info: {
      Title: xmpSafe(input.title),
      Author: xmpSafe(input.bank.name),
      Subject: xmpSafe(`${input.caseId} ${input.documentId}`),
      Keywords: xmpSafe(input.documentId),
      Creator: 'collection-notices letters',
      Producer: 'PDFKit',
      CreationDate: date,
      ModDate: date,
    },
  };
  const doc = new PDFDocument(options as unknown as PDFKit.PDFDocumentOptions);
  Object.assign(doc, { _addColorOutputIntent: addColorOutputIntent });
  // PDF/A needs every Info date mirrored in XMP; pdfkit writes only CreateDate.
  const iso = `${date.toISOString().split('.')[0]}Z`;
  doc.appendXML(`
        <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
            <xmp:ModifyDate>${iso}</xmp:ModifyDate>
            <xmp:MetadataDate>${iso}</xmp:MetadataDate>
        </rdf:Description>
        `);
  return doc;
}

/** Renders the letter and writes the PDF to `out`; resolves once `out` has finished. */
export function renderLetterPdfToStream(
  input: LetterInput,
  out: NodeJS.WritableStream,
  options: RenderOptions = {},
): Promise<RenderResult> {
  return new Promise<RenderResult>((resolve, reject) => {
    let doc: PdfDoc;
    let pages: number;
    try {
      const fonts = loadLetterFonts(options.fonts);
      const layout = layoutLetter(input, fonts);
      pages = layout.pages.length;
      doc = createDocument(input);
      out.once('error', reject);
      out.once('finish', () => resolve({ pages }));
      doc.once('error', reject);
      doc.pipe(out);
      const embedded = embedFonts(doc, layout, fonts, input);
      paint(doc, layout, qrXObject(doc, input.verifyUrl), fonts, embedded);
      doc.end();
    } catch (err) {
      reject(err);
    }
  });
}

/** Renders the letter into one Buffer (PDF/A-2b, deterministic for identical input). */
export async function renderLetterPdf(input: LetterInput, options: RenderOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  await renderLetterPdfToStream(input, sink, options);
  return Buffer.concat(chunks);
}
