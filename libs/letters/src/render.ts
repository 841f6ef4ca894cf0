import { PassThrough } from 'node:stream';
import PDFDocument from 'pdfkit';
import QRCode from 'qrcode';
import { loadLetterFonts, type LetterFontPaths, type LetterFonts } from './fonts.js';
import { layoutLetter, type DrawOp, type LetterLayout } from './layout.js';
import type { LetterInput } from './types.js';

export interface RenderOptions {
  /** Font files to use instead of the bundled Noto Sans SC (parsed once per process and path). */
  fonts?: LetterFontPaths;
}

export interface RenderResult {
  pages: number;
}

type PdfDoc = PDFKit.PDFDocument;

/** pdfkit 0.20 accepts a parsed fontkit font as a font source; @types/pdfkit 0.17 does not know it yet. */
type FontSource = Parameters<PdfDoc['registerFont']>[1];
const asFontSource = (font: LetterFonts['regular']): FontSource => font as unknown as FontSource;

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
  const qr = QRCode.create(url, { errorCorrectionLevel: 'M' });
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

/** pdfkit 0.20 internals used by the fast text path (stable within 0.20.x; see docs/letters.md). */
interface GlyphPosition {
  xAdvance: number;
  advanceWidth: number;
  xOffset: number;
  yOffset: number;
}
interface EmbeddedFontInternals {
  id: string;
  ref(): PDFKit.PDFKitReference;
  encode(text: string): [string[], GlyphPosition[]];
}
interface DocInternals {
  _font: EmbeddedFontInternals;
  page: { fonts: Record<string, PDFKit.PDFKitReference>; height: number };
}

const num = (n: number): string => String(Math.round(n * 100) / 100);

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

/**
 * Writes one page's text as a single BT/ET block straight into the content stream (glyph encoding, subsetting and
 * ToUnicode still go through pdfkit's embedded font). pdfkit's `text()` costs a save/transform/BT/ET per call,
 * which dominated the render time of a letter. Glyph offsets (mark positioning) get their own Tm, as in pdfkit.
 */
function textBlock(
  doc: PdfDoc,
  ops: Extract<DrawOp, { op: 'text' }>[],
  fonts: Record<'R' | 'B', EmbeddedFontInternals>,
): void {
  const internals = doc as unknown as DocInternals;
  const page = internals.page;
  const h = page.height;
  const out: string[] = [`q 1 0 0 -1 0 ${num(h)} cm BT`];
  let font: EmbeddedFontInternals | null = null;
  let size = 0;
  let color = '';
  for (const op of ops) {
    const f = fonts[op.bold ? 'B' : 'R'];
    if (f !== font || op.size !== size) {
      font = f;
      size = op.size;
      if (page.fonts[f.id] == null) page.fonts[f.id] = f.ref();
      out.push(`/${f.id} ${num(size)} Tf`);
    }
    if (op.color !== color) {
      color = op.color;
      out.push(`${rgb(color)} rg`);
    }
    const [encoded, positions] = f.encode(op.text);
    out.push(`1 0 0 1 ${num(op.x)} ${num(h - op.y)} Tm`);
    // Same TJ construction as pdfkit: one hex string per run of glyphs, a kerning number where advances differ.
    let tj = '[';
    let last = 0;
    let x = op.x;
    const scale = size / 1000;
    for (let i = 0; i < positions.length; i++) {
      const p = positions[i];
      if (p.xOffset || p.yOffset) {
        if (last < i) tj += `<${encoded.slice(last, i).join('')}>`;
        out.push(
          `${tj}] TJ`,
          `1 0 0 1 ${num(x + p.xOffset * scale)} ${num(h - op.y + p.yOffset * scale)} Tm`,
          `[<${encoded[i]}>] TJ`,
        );
        out.push(`1 0 0 1 ${num(x + p.xAdvance * scale)} ${num(h - op.y)} Tm`);
        tj = '[';
        last = i + 1;
      } else if (p.xAdvance !== p.advanceWidth) {
        tj += `<${encoded.slice(last, i + 1).join('')}> ${num(p.advanceWidth - p.xAdvance)} `;
        last = i + 1;
      }
      x += p.xAdvance * scale;
    }
    if (last < positions.length) tj += `<${encoded.slice(last).join('')}>`;
    out.push(`${tj}] TJ`);
  }
  out.push('ET Q');
  doc.addContent(out.join('\n'));
}

function paint(
  doc: PdfDoc,
  layout: LetterLayout,
  qr: { ref: PDFKit.PDFKitReference; modules: number },
): void {
  // Resolve pdfkit's per-document embedded fonts once.
  const internals = doc as unknown as DocInternals;
  const fonts = {} as Record<'R' | 'B', EmbeddedFontInternals>;
  for (const key of ['R', 'B'] as const) {
    doc.font(key);
    fonts[key] = internals._font;
  }
  for (const page of layout.pages) {
    doc.addPage({ size: 'A4', margin: 0 });
    const texts: Extract<DrawOp, { op: 'text' }>[] = [];
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
    if (texts.length) textBlock(doc, texts, fonts);
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

function createDocument(input: LetterInput, fonts: LetterFonts): PdfDoc {
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
  // PDF/A needs every Info date mirrored in XMP; pdfkit writes only CreateDate.
  const iso = `${date.toISOString().split('.')[0]}Z`;
  doc.appendXML(`
        <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
            <xmp:ModifyDate>${iso}</xmp:ModifyDate>
            <xmp:MetadataDate>${iso}</xmp:MetadataDate>
        </rdf:Description>
        `);
  doc.registerFont('R', asFontSource(fonts.regular));
  doc.registerFont('B', asFontSource(fonts.bold));
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
      doc = createDocument(input, fonts);
      out.once('error', reject);
      out.once('finish', () => resolve({ pages }));
      doc.once('error', reject);
      doc.pipe(out);
      paint(doc, layout, qrXObject(doc, input.verifyUrl));
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
