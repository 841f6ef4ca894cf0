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
  /**
   * SMS: the template's registration at each mainland gateway it has one for or is configured
   * for, with the lint problems about it (none: the registration fits the body).
   */
  registrations?: RegistrationStatus[];
  findings: LintFinding[];
}

export interface RegistrationStatus {
  kind: string;
  /** null: no registration, while the gateway is configured. */
  templateCode: string | null;
  signName: string | null;
  /** The registered text (placeholders as the gateway writes them). */
  text: string | null;
  problems: string[];
  /** Whether SMS_CN_PROVIDERS lists the gateway (only then is the registration checked and used). */
  configured: boolean;
}

/** Registration status per gateway, from the definition and the lint findings about it. */
function registrationStatus(
  def: TemplateDefinition,
  findings: LintFinding[],
  configured: readonly string[],
): RegistrationStatus[] {
  const about = (kind: string) =>
    findings
      .filter((f) => f.location.part === `registrations.${kind}`)
      .map((f) => `${f.ruleId}: ${f.message}`);
  const kinds = new Set<string>([...(def.registrations ?? []).map((r) => r.kind), ...configured]);
  for (const f of findings) {
    const m = /^registrations\.([a-z]+)$/.exec(f.location.part);
    if (m) kinds.add(m[1]);
  }
  return [...kinds].sort().map((kind) => {
    const reg = (def.registrations ?? []).find((r) => r.kind === kind);
    return {
      kind,
      templateCode: reg?.templateCode ?? null,
      signName: reg?.signName ?? null,
      text: reg?.text ?? null,
      problems: about(kind),
      configured: configured.includes(kind),
    };
  });
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
  /** The gateway kinds in use (SMS_CN_PROVIDERS): their registrations are checked. */
  smsProviders: readonly string[] = [],
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
  if (out.sms) {
    return {
      ...base,
      sms: { text: out.sms.text, ...smsSegments(out.sms.text) },
      registrations: registrationStatus(def, findings, smsProviders),
    };
  }
  if (out.email) return { ...base, email: out.email };
  if (out.letter) return { ...base, letter: out.letter };
  if (out.voice) return { ...base, voice: out.voice };
  return base;
}
