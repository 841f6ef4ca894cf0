import { readFileSync } from 'node:fs';
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
  /** Advance width of `text` in em (multiply by the font size for points). Memoised. */
  widthEm(text: string, bold: boolean): number;
  /** The face used to paint and embed regular or bold text. */
  face(bold: boolean): LetterFace;
}

const requireFromHere = createRequire(import.meta.url);

/** Paths of the bundled Noto Sans SC Regular/Bold TTF files. */
export function defaultFontPaths(): LetterFontPaths {
  return {
    regular: requireFromHere.resolve('@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf'),
    bold: requireFromHere.resolve('@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf'),
  };
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
  private readonly faces: [Face, Face];
  private readonly widths = [new Map<string, number>(), new Map<string, number>()];

  constructor(regular: [fontkit.Font, TrueTypeProgram], bold: [fontkit.Font, TrueTypeProgram]) {
    this.faces = [new Face(...regular), new Face(...bold)];
    this.ascent = regular[0].ascent / regular[0].unitsPerEm;
    this.descent = regular[0].descent / regular[0].unitsPerEm;
  }

  get regular(): fontkit.Font {
    return this.faces[0].font;
  }

  get bold(): fontkit.Font {
    return this.faces[1].font;
  }

  face(bold: boolean): LetterFace {
    return this.faces[bold ? 1 : 0];
  }

  widthEm(text: string, bold: boolean): number {
    const cache = this.widths[bold ? 1 : 0];
    let w = cache.get(text);
    if (w === undefined) {
      const face = this.faces[bold ? 1 : 0];
      w = face.shape(text).advance / face.unitsPerEm;
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
  const key = `${paths.regular}\u0000${paths.bold}`;
  let fonts = loaded.get(key);
  if (!fonts) {
    fonts = new FontSet(openFont(paths.regular), openFont(paths.bold));
    loaded.set(key, fonts);
  }
  return fonts;
}
