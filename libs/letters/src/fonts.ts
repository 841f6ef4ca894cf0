import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as fontkit from 'fontkit';
import { TrueTypeProgram } from './truetype.js';

/**
 * The letter fonts: Noto Sans SC (SIL Open Font License 1.1) as static TrueType files from the npm package
 * `@expo-google-fonts/noto-sans-sc`. TrueType (glyf) rather than the CFF/OTF build because pdfkit's CFF subsetter
 * keeps an entry for every global subroutine of a CID font, which made each letter ~80 KB larger.
 *
 * Each font file is read and parsed ONCE per process (per distinct path): fontkit shapes text (runs memoised per
 * process), our TrueTypeProgram (truetype.ts) writes the subsets. Widths for layout come from the same shaped runs.
 */

export interface LetterFontPaths {
  regular: string;
  bold: string;
  /**
   * Fallback TrueType fonts, in order, for characters the main fonts lack (CJK Extension B and beyond). Used for
   * regular and bold text alike; parsed on first need. Default: {@link DEFAULT_FALLBACK_FONTS} that exist.
   */
  fallback?: string[];
}

/**
 * The fallback chain after Noto Sans SC: HanaMin A (BMP + some of plane 2) and HanaMin B (CJK Extension B..F), from
 * Debian's `fonts-hanazono` (SIL Open Font License 1.1 / Hanazono Font License; installed by
 * scripts/install-system-deps.sh). `LetterFontPaths.fallback` replaces the list.
 */
export const DEFAULT_FALLBACK_FONTS: readonly string[] = Object.freeze([
  '/usr/share/fonts/truetype/hanazono/HanaMinA.ttf',
  '/usr/share/fonts/truetype/hanazono/HanaMinB.ttf',
]);

/** One piece of a text run painted with one face (index into {@link LetterFonts.faceAt}). */
export interface FaceSegment {
  face: number;
  text: string;
  /** Offset of the segment from the start of the run, in em. */
  dxEm: number;
  /** Advance of the segment, in em. */
  widthEm: number;
}

/** Variation selectors: fontkit folds them into the glyph of the preceding character. */
function isVariationSelector(cp: number): boolean {
  return (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef);
}

/** Characters the layout turns into spaces or line breaks (never painted as glyphs). */
export function isLayoutSpace(cp: number): boolean {
  return cp === 0x20 || cp === 0x09 || cp === 0x0a || cp === 0x0d;
}

/** A shaped text run in PDF glyph-space units (1/1000 em), cached per process. */
export interface ShapedRun {
  gids: Uint16Array;
  /** Advance used for positioning (includes kerning). */
  xAdvance: Float64Array;
  /** The glyph's own advance width (what the PDF viewer advances by). */
  width: Float64Array;
  xOffset: Float64Array;
  yOffset: Float64Array;
  /** Unicode code points each glyph stands for (ToUnicode). */
  codePoints: number[][];
  /** true when no glyph needs an offset or a kerning adjustment. */
  plain: boolean;
  /** Total advance in font units. */
  advance: number;
}

/** One face: the parsed fontkit font (shaping), our TrueType reader (subsetting) and the run cache. */
export interface LetterFace {
  readonly font: fontkit.Font;
  readonly program: TrueTypeProgram;
  /** Shapes `text` (memoised per process, bounded). Do not modify the result. */
  shape(text: string): ShapedRun;
}

export interface LetterFonts {
  readonly regular: fontkit.Font;
  readonly bold: fontkit.Font;
  /** Ascender/descender of the regular font in em (descender negative). */
  readonly ascent: number;
  readonly descent: number;
  /** Advance width of `text` in em (multiply by the font size for points), over the font chain. Memoised. */
  widthEm(text: string, bold: boolean): number;
  /** The main face used to paint and embed regular or bold text. */
  face(bold: boolean): LetterFace;
  /** Number of faces: 0 regular, 1 bold, then the fallback fonts. */
  readonly faceCount: number;
  /** Face `i` (loads a fallback font on first use). */
  faceAt(i: number): LetterFace;
  /** Index of the first face of the chain (main regular or bold, then fallbacks) with a glyph for `cp`, or -1. */
  faceFor(cp: number, bold: boolean): number;
  /** `text` cut into runs of the first face of the chain that has each character. Memoised. */
  segments(text: string, bold: boolean): FaceSegment[];
  /**
   * Code points of `text` that the regular or the bold chain has no glyph for (layout spaces and variation
   * selectors excepted), in order of first occurrence.
   */
  uncovered(text: string): number[];
}

const requireFromHere = createRequire(import.meta.url);

/** Paths of the bundled Noto Sans SC Regular/Bold TTF files. */
export function defaultFontPaths(): LetterFontPaths {
  return {
    regular: requireFromHere.resolve('@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf'),
    bold: requireFromHere.resolve('@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf'),
  };
}

/** The fallback fonts in use when none are given: those of {@link DEFAULT_FALLBACK_FONTS} that exist. */
export function defaultFallbackFonts(): string[] {
  return DEFAULT_FALLBACK_FONTS.filter((p) => existsSync(p));
}

const MAX_RUN_CACHE = 50_000;

class Face implements LetterFace {
  private readonly runs = new Map<string, ShapedRun>();
  private readonly scale: number;
  /** fontkit's `unitsPerEm` is a getter that re-reads the head table. */
  readonly unitsPerEm: number;

  constructor(
    readonly font: fontkit.Font,
    readonly program: TrueTypeProgram,
  ) {
    this.unitsPerEm = font.unitsPerEm;
    this.scale = 1000 / this.unitsPerEm;
  }

  shape(text: string): ShapedRun {
    let run = this.runs.get(text);
    if (!run) {
      const r = this.font.layout(text);
      const n = r.glyphs.length;
      const s = this.scale;
      run = {
        gids: new Uint16Array(n),
        xAdvance: new Float64Array(n),
        width: new Float64Array(n),
        xOffset: new Float64Array(n),
        yOffset: new Float64Array(n),
        codePoints: [],
        plain: true,
        advance: r.advanceWidth,
      };
      for (let i = 0; i < n; i++) {
        const g = r.glyphs[i];
        const p = r.positions[i];
        run.gids[i] = g.id;
        run.xAdvance[i] = p.xAdvance * s;
        run.width[i] = g.advanceWidth * s;
        run.xOffset[i] = p.xOffset * s;
        run.yOffset[i] = p.yOffset * s;
        run.codePoints.push(g.codePoints);
        if (p.xOffset || p.yOffset || p.xAdvance !== g.advanceWidth) run.plain = false;
      }
      if (this.runs.size >= MAX_RUN_CACHE) this.runs.clear();
      this.runs.set(text, run);
    }
    return run;
  }
}

class FontSet implements LetterFonts {
  readonly ascent: number;
  readonly descent: number;
  private readonly faces: (Face | undefined)[];
  private readonly widths = [new Map<string, number>(), new Map<string, number>()];
  private readonly segs = [new Map<string, FaceSegment[]>(), new Map<string, FaceSegment[]>()];
  /** Face chosen per code point, for regular and bold text. */
  private readonly choice = [new Map<number, number>(), new Map<number, number>()];

  constructor(
    regular: [fontkit.Font, TrueTypeProgram],
    bold: [fontkit.Font, TrueTypeProgram],
    private readonly fallback: string[],
  ) {
    this.faces = [new Face(...regular), new Face(...bold), ...fallback.map(() => undefined)];
    this.ascent = regular[0].ascent / regular[0].unitsPerEm;
    this.descent = regular[0].descent / regular[0].unitsPerEm;
  }

  get regular(): fontkit.Font {
    return this.faceAt(0).font;
  }

  get bold(): fontkit.Font {
    return this.faceAt(1).font;
  }

  get faceCount(): number {
    return this.faces.length;
  }

  face(bold: boolean): LetterFace {
    return this.faceAt(bold ? 1 : 0);
  }

  faceAt(i: number): Face {
    let f = this.faces[i];
    if (!f) {
      if (i < 2 || i >= this.faces.length) throw new Error(`letters: no font face ${i}`);
      f = new Face(...openFont(this.fallback[i - 2]));
      this.faces[i] = f;
    }
    return f;
  }

  faceFor(cp: number, bold: boolean): number {
    const cache = this.choice[bold ? 1 : 0];
    let i = cache.get(cp);
    if (i === undefined) {
      i = -1;
      const first = bold ? 1 : 0;
      if (this.faceAt(first).font.hasGlyphForCodePoint(cp)) i = first;
      else {
        for (let k = 2; k < this.faces.length; k++) {
          if (this.faceAt(k).font.hasGlyphForCodePoint(cp)) {
            i = k;
            break;
          }
        }
      }
      cache.set(cp, i);
    }
    return i;
  }

  segments(text: string, bold: boolean): FaceSegment[] {
    const cache = this.segs[bold ? 1 : 0];
    let out = cache.get(text);
    if (out) return out;
    const main = bold ? 1 : 0;
    const pieces: { face: number; text: string }[] = [];
    for (const ch of text) {
      const cp = ch.codePointAt(0) as number;
      const last = pieces[pieces.length - 1];
      // Variation selectors stay with the character before them; a character no font has is left to the main face
      // (the renderer refuses to paint it, see render.ts).
      let face: number;
      if (last && isVariationSelector(cp)) face = last.face;
      else {
        face = this.faceFor(cp, bold);
        if (face < 0) face = main;
      }
      if (last && last.face === face) last.text += ch;
      else pieces.push({ face, text: ch });
    }
    let dx = 0;
    out = pieces.map((p) => {
      const f = this.faceAt(p.face);
      const w = f.shape(p.text).advance / f.unitsPerEm;
      const seg = { face: p.face, text: p.text, dxEm: dx, widthEm: w };
      dx += w;
      return seg;
    });
    if (cache.size >= MAX_RUN_CACHE) cache.clear();
    cache.set(text, out);
    return out;
  }

  uncovered(text: string): number[] {
    const out: number[] = [];
    for (const ch of text) {
      const cp = ch.codePointAt(0) as number;
      if (isLayoutSpace(cp) || isVariationSelector(cp)) continue;
      // Either weight may paint any text (bold runs, headings): both chains must have it.
      if ((this.faceFor(cp, false) < 0 || this.faceFor(cp, true) < 0) && !out.includes(cp)) out.push(cp);
    }
    return out;
  }

  widthEm(text: string, bold: boolean): number {
    const cache = this.widths[bold ? 1 : 0];
    let w = cache.get(text);
    if (w === undefined) {
      w = 0;
      for (const seg of this.segments(text, bold)) w += seg.widthEm;
      if (cache.size >= MAX_RUN_CACHE) cache.clear();
      cache.set(text, w);
    }
    return w;
  }
}

const loaded = new Map<string, LetterFonts>();

function openFont(path: string): [fontkit.Font, TrueTypeProgram] {
  const data = readFileSync(path);
  const font = fontkit.create(data);
  if (!('layout' in font) || typeof font.layout !== 'function') {
    throw new Error(`letters: ${path} is a font collection; pass a single TrueType font`);
  }
  return [font, new TrueTypeProgram(data)];
}

/** Returns the process-wide parsed fonts for `paths` (default: bundled Noto Sans SC), loading them on first use. */
export function loadLetterFonts(paths: LetterFontPaths = defaultFontPaths()): LetterFonts {
  const fallback = paths.fallback ?? defaultFallbackFonts();
  const key = [paths.regular, paths.bold, ...fallback].join('\u0000');
  let fonts = loaded.get(key);
  if (!fonts) {
    fonts = new FontSet(openFont(paths.regular), openFont(paths.bold), fallback);
    loaded.set(key, fonts);
  }
  return fonts;
}
