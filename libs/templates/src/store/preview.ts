import { AppError, TemplateDataError } from '#libs/core';
import type { RenderLimits } from '../budget.js';
import { renderTemplate, TemplateDefinitionError } from '../engine.js';
import { smsSegments } from '../sms.js';
import type { LintFinding, RenderContext, RenderedMessage, TemplateDefinition } from '../types.js';

/** What a preview shows: the rendered parts, SMS encoding and segments, and the lint findings. */
export interface TemplatePreview {
  key: string;
  locale: string;
  version: number;
  channel: TemplateDefinition['channel'];
  sms?: { text: string; encoding: string; segments: number; length: number };
  voice?: { text: string };
  email?: { subject: string; html: string; text: string };
  letter?: { title: string; markdown: string; attachments: { title: string; markdown: string }[] };
  findings: LintFinding[];
}

/** The template itself does not compile or render (422, with the location). */
export class TemplateBrokenError extends AppError {
  readonly code = 'validation';
  readonly status = 422;
  readonly title = 'Template cannot be rendered';
}

/**
 * Renders `def` with `data` for a preview. Bad data: `TemplateDataError` (422) listing every
 * problem; a broken template: `TemplateBrokenError` (422) with the part and line. Both carry the
 * lint `findings` so an editor can show them next to the error.
 */
export function previewTemplate(
  def: TemplateDefinition,
  data: unknown,
  ctx: RenderContext,
  findings: LintFinding[] = [],
  limits?: RenderLimits,
): TemplatePreview {
  let out: RenderedMessage;
  try {
    out = renderTemplate(def, data, ctx, limits);
  } catch (err) {
    if (err instanceof AppError && err.status === 422 && !(err instanceof TemplateDataError)) {
      // Over the rendering budget: the same error, with the findings for the editor.
      (err.extra as Record<string, unknown>).findings = findings;
      throw err;
    }
    if (err instanceof TemplateDataError) {
      throw new TemplateDataError(err.message, err.fields, { ...err.extra, findings });
    }
    if (err instanceof TemplateDefinitionError) {
      const path = [err.part ?? 'definition', err.line, err.column].filter((x) => x !== undefined).join(':');
      throw new TemplateBrokenError(err.message, [{ path, message: err.message }], { findings });
    }
    throw err;
  }
  const base = { key: def.key, locale: def.locale, version: def.version, channel: def.channel, findings };
  if (out.sms) return { ...base, sms: { text: out.sms.text, ...smsSegments(out.sms.text) } };
  if (out.email) return { ...base, email: out.email };
  if (out.letter) return { ...base, letter: out.letter };
  if (out.voice) return { ...base, voice: out.voice };
  return base;
}
