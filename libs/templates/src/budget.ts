/**
 * Limits on the work one render may do. A template is code written by an editor: three nested
 * `{{#each}}` over 400 items are 64 million iterations. The engine counts loop iterations and the
 * characters the loops produce, and stops the render with `TemplateBudgetError` (422) once either
 * goes over its limit; the render pool (render-pool.ts) adds a wall-clock limit on top.
 */
import { AppError } from '#libs/core';

export interface RenderLimits {
  /** Iterations of `{{#each}}` (and array blocks) in one render, all parts together. */
  maxIterations: number;
  /**
   * Characters produced inside loops in one render, all parts together. Nested loops count their
   * output at every level, so this bounds the work rather than measuring the final size exactly.
   */
  maxOutputChars: number;
}

export const DEFAULT_RENDER_LIMITS: Readonly<RenderLimits> = Object.freeze({
  maxIterations: 10_000,
  maxOutputChars: 2_000_000,
});

/** The template needs more work than a render may do (a loop too long or too deeply nested). */
export class TemplateBudgetError extends AppError {
  readonly code = 'template_data';
  readonly status = 422;
  readonly title = 'Template exceeds the rendering limits';
}

/** The render did not finish within the pool's time limit (the worker running it was stopped). */
export class TemplateRenderTimeoutError extends AppError {
  readonly code = 'template_data';
  readonly status = 422;
  readonly title = 'Template rendering took too long';
}

/** The running count of one render (the engine renders synchronously: one budget at a time). */
export class RenderBudget {
  iterations = 0;
  outputChars = 0;

  constructor(
    readonly limits: RenderLimits,
    readonly template: string,
  ) {}

  iteration(): void {
    if (++this.iterations > this.limits.maxIterations) {
      throw new TemplateBudgetError(
        `Template ${this.template} loops more than ${this.limits.maxIterations} times in one render`,
        [
          {
            path: 'data',
            message: `rendering needs more than ${this.limits.maxIterations} loop iterations (TEMPLATE_MAX_ITERATIONS); shorten the lists or flatten nested {{#each}}`,
          },
        ],
        { limit: 'iterations', max: this.limits.maxIterations },
      );
    }
  }

  output(chars: number): void {
    this.outputChars += chars;
    if (this.outputChars > this.limits.maxOutputChars) {
      throw new TemplateBudgetError(
        `Template ${this.template} produces more than ${this.limits.maxOutputChars} characters in loops`,
        [
          {
            path: 'data',
            message: `rendering produces more than ${this.limits.maxOutputChars} characters in loops (TEMPLATE_MAX_OUTPUT_CHARS)`,
          },
        ],
        { limit: 'outputChars', max: this.limits.maxOutputChars },
      );
    }
  }
}
