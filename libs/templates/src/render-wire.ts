/**
 * What crosses the thread boundary between the render pool and its workers: tasks, results and
 * errors as plain data (structured clone), rebuilt into the typed errors on the calling side.
 */
import type { MessagePort } from 'node:worker_threads';
import { AppError, type ProblemField, TemplateDataError } from '#libs/core';
import { TemplateBudgetError } from './budget.js';
import type { RenderLimits } from './budget.js';
import { TemplateDefinitionError } from './engine.js';
import { TemplateSchemaError } from './schema.js';
import { TemplateBrokenError, type TemplatePreview } from './store/preview.js';
import type {
  LintFinding,
  LintOptions,
  RenderContext,
  RenderedMessage,
  TemplateDefinition,
} from './types.js';

/** Lint options that can be cloned to a worker (no functions). */
export type WireLintOptions = Omit<LintOptions, 'isDemandLetter'>;

export type RenderTask =
  | { kind: 'render'; def: TemplateDefinition; data: unknown; ctx: RenderContext; limits: RenderLimits }
  | {
      kind: 'preview';
      def: TemplateDefinition;
      data: unknown;
      ctx: RenderContext;
      limits: RenderLimits;
      /** Lint the definition too (findings go into the preview or the error). */
      lint?: WireLintOptions;
    }
  | { kind: 'lint'; def: TemplateDefinition; lint: WireLintOptions };

export type WireTask = RenderTask & { started: MessagePort };

export type RenderValue = RenderedMessage | TemplatePreview | LintFinding[];

export interface WireError {
  name: string;
  message: string;
  fields?: ProblemField[];
  extra?: Record<string, unknown>;
  part?: string;
  line?: number;
  column?: number;
}

export type WireResult = { ok: true; value: RenderValue } | { ok: false; error: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof AppError)
    return { name: err.name, message: err.message, fields: err.fields, extra: err.extra };
  if (err instanceof TemplateDefinitionError)
    return { name: err.name, message: err.message, part: err.part, line: err.line, column: err.column };
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message };
}

export function fromWire(w: WireError): Error {
  switch (w.name) {
    case 'TemplateDataError':
      return new TemplateDataError(w.message, w.fields, w.extra);
    case 'TemplateBudgetError':
      return new TemplateBudgetError(w.message, w.fields, w.extra);
    case 'TemplateBrokenError':
      return new TemplateBrokenError(w.message, w.fields, w.extra);
    case 'TemplateDefinitionError':
      return new TemplateDefinitionError(w.message, w.part, w.line, w.column);
    case 'TemplateSchemaError':
      return new TemplateSchemaError(w.message);
    default: {
      const e = new Error(w.message);
      e.name = w.name;
      return e;
    }
  }
}
