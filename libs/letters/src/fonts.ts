import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as fontkit from 'fontkit';

/**
 * The letter fonts: Noto Sans SC (SIL Open Font License 1.1) as static TrueType files from the npm package
 * `@expo-google-fonts/noto-sans-sc`. TrueType (glyf) rather than the CFF/OTF build because pdfkit's CFF subsetter
 * keeps an entry for every global subroutine of a CID font, which made each letter ~80 KB larger.
 *
 * Each font file is read and parsed ONCE per process (per distinct path) and the parsed fontkit object is handed to
 * every pdfkit document (pdfkit 0.20 accepts a fontkit font as a font source), so a letter only pays for subsetting
 * the glyphs it uses. Text widths are measured with the same shaping pdfkit uses and memoised per process.
 */

export interface LetterFontPaths {
  regular: string;
  bold: string;
}

export interface LetterFonts {
  readonly regular: fontkit.Font;
  readonly bold: fontkit.Font;
  /** Ascender/descender of the regular font in em (descender negative). */
  readonly ascent: number;
  readonly descent: number;
  /** Advance width of `text` in em (multiply by the font size for points). Memoised. */
  widthEm(text: string, bold: boolean): number;
}

const requireFromHere = createRequire(import.meta.url);

/** Paths of the bundled Noto Sans SC Regular/Bold TTF files. */
export function defaultFontPaths(): LetterFontPaths {
  return {
    regular: requireFromHere.resolve('@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf'),
    bold: requireFromHere.resolve('@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf'),
  };
}

const MAX_WIDTH_CACHE = 50_000;

class FontSet implements LetterFonts {
  readonly ascent: number;
  readonly descent: number;
  private readonly widths = [new Map<string, number>(), new Map<string, number>()];

  constructor(
    readonly regular: fontkit.Font,
    readonly bold: fontkit.Font,
  ) {
    this.ascent = regular.ascent / regular.unitsPerEm;
    this.descent = regular.descent / regular.unitsPerEm;
  }

  widthEm(text: string, bold: boolean): number {
    const cache = this.widths[bold ? 1 : 0];
    let w = cache.get(text);
    if (w === undefined) {
      const font = bold ? this.bold : this.regular;
      w = font.layout(text).advanceWidth / font.unitsPerEm;
      if (cache.size >= MAX_WIDTH_CACHE) cache.clear();
      cache.set(text, w);
    }
    return w;
  }
}

const loaded = new Map<string, LetterFonts>();

/** The fontkit internals the per-process caches below hook into (fontkit 2.0.x). */
interface GlyphInternals {
  _decode?: () => unknown;
}
type LayoutFn = (text: string, features?: unknown, ...rest: unknown[]) => fontkit.GlyphRun;

const MAX_RUN_CACHE = 20_000;

/**
 * Makes one parsed font cheap to reuse across many documents:
 * - glyph outlines: fontkit caches Glyph objects per font but its TrueType subsetter re-decodes every used glyph's
 *   outline in every document (`_decode`, only to detect composite glyphs); memoise the decoded outline per glyph;
 * - shaping: pdfkit shapes each word per document; keep a bounded process-wide cache of shaped runs for calls
 *   without explicit features. pdfkit scales the `positions` of a run in place, so every hit gets fresh copies.
 */
function shareAcrossDocuments(font: fontkit.Font): void {
  const getGlyph = font.getGlyph.bind(font);
  const memoised = new WeakSet<object>();
  font.getGlyph = (id: number, codePoints?: number[]) => {
    const glyph = getGlyph(id, codePoints);
    const internals = glyph as unknown as GlyphInternals;
    if (glyph && !memoised.has(glyph) && typeof internals._decode === 'function') {
      const decode = internals._decode.bind(glyph);
      let done = false;
      let decoded: unknown;
      internals._decode = () => {
        if (!done) {
          decoded = decode();
          done = true;
        }
        return decoded;
      };
      memoised.add(glyph);
    }
    return glyph;
  };

  const layout = (font.layout as LayoutFn).bind(font);
  const runs = new Map<string, fontkit.GlyphRun>();
  const shared: LayoutFn = (text, features, ...rest) => {
    if (features !== undefined || rest.length > 0 || typeof text !== 'string')
      return layout(text, features, ...rest);
    let run = runs.get(text);
    if (!run) {
      run = layout(text);
      if (runs.size >= MAX_RUN_CACHE) runs.clear();
      runs.set(text, run);
    }
    return Object.assign(Object.create(Object.getPrototypeOf(run) as object) as fontkit.GlyphRun, run, {
      glyphs: run.glyphs.slice(),
      positions: run.positions.map((p) => ({ ...p })),
    });
  };
  (font as { layout: LayoutFn }).layout = shared;
}

function openFont(path: string): fontkit.Font {
  const font = fontkit.create(readFileSync(path));
  if (!('layout' in font) || typeof font.layout !== 'function') {
    throw new Error(`letters: ${path} is a font collection; pass a single TrueType/OpenType font`);
  }
  shareAcrossDocuments(font);
  return font;
}

/** Returns the process-wide parsed fonts for `paths` (default: bundled Noto Sans SC), loading them on first use. */
export function loadLetterFonts(paths: LetterFontPaths = defaultFontPaths()): LetterFonts {
  const key = `${paths.regular}\u0000${paths.bold}`;
  let fonts = loaded.get(key);
  if (!fonts) {
    fonts = new FontSet(openFont(paths.regular), openFont(paths.bold));
    loaded.set(key, fonts);
  }
  return fonts;
}
