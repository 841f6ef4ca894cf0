export type {
  BankIdentity,
  LetterAttachment,
  LetterInput,
  LetterLocale,
  LetterRecipient,
  LetterService,
  Rect,
} from './types.js';
export { parseMarkdown, parseInline, isCjk } from './markdown.js';
export type { InlineRun, MarkdownBlock, TableAlign } from './markdown.js';
export { DEFAULT_FALLBACK_FONTS, defaultFallbackFonts, defaultFontPaths, loadLetterFonts } from './fonts.js';
export type { FaceSegment, LetterFontPaths, LetterFonts } from './fonts.js';
export {
  amountProblems,
  codePointLabel,
  deadlineProblems,
  glyphProblems,
  preflightLetter,
  toCents,
} from './checks.js';
export type { LetterSource } from './checks.js';
export {
  A4,
  ADDRESS_WINDOW,
  ADDRESS_WINDOW_MM,
  DL_ENVELOPE_WINDOW_MM,
  MM,
  addressWindowProblems,
  bodyDigest,
  layoutLetter,
  validateLetterInput,
} from './layout.js';
export type { DrawOp, LetterLayout, PageLayout } from './layout.js';
export { renderLetterPdf, renderLetterPdfToStream } from './render.js';
export type { RenderOptions, RenderResult } from './render.js';
/** Invented sample letters (previews, tests, benchmarks). */
export { SAMPLE_BANK, sampleDemandLetter, sampleStatementLetter } from './fixtures/demand-letter.js';
