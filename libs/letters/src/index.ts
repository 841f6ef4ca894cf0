export type {
  BankIdentity,
  LetterAttachment,
  LetterInput,
  LetterLocale,
  LetterRecipient,
  Rect,
} from './types.js';
export { parseMarkdown, parseInline, isCjk } from './markdown.js';
export type { InlineRun, MarkdownBlock, TableAlign } from './markdown.js';
export { defaultFontPaths, loadLetterFonts } from './fonts.js';
export type { LetterFontPaths, LetterFonts } from './fonts.js';
export {
  A4,
  ADDRESS_WINDOW,
  ADDRESS_WINDOW_MM,
  DL_ENVELOPE_WINDOW_MM,
  MM,
  bodyDigest,
  layoutLetter,
  validateLetterInput,
} from './layout.js';
export type { DrawOp, LetterLayout, PageLayout } from './layout.js';
export { renderLetterPdf, renderLetterPdfToStream } from './render.js';
export type { RenderOptions, RenderResult } from './render.js';
/** Invented sample letters (previews, tests, benchmarks). */
export { SAMPLE_BANK, sampleDemandLetter, sampleStatementLetter } from './fixtures/demand-letter.js';
