/**
 * Renders, previews and lints on a pool of worker threads (piscina) with a time limit, so a
 * template can never block the event loop of the API or of the dispatchers: the engine's budget
 * (budget.ts) stops long loops, RE2 runs schema patterns in linear time (schema.ts), and whatever
 * is left is cut off by stopping the worker after `timeoutMs` (piscina replaces it).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  DEFAULT_RENDER_LIMITS,
  type RenderLimits,
  TemplateRenderTimeoutError,
  TemplateBudgetError,
} from './budget.js';
import {
  fromWire,
  type RenderTask,
  type WireLintOptions,
  type WireResult,
  type WireTask,
} from './render-wire.js';
import type { TemplatePreview } from './store/preview.js';
import type { LintFinding, RenderContext, RenderedMessage, TemplateDefinition } from './types.js';

export interface RenderPoolOptions {
  /** Worker threads (default 2). */
  threads?: number;
  /** Wall-clock limit of one task once a worker runs it (default 2000 ms). */
  timeoutMs?: number;
  limits?: RenderLimits;
  /** Heap limit of a worker in MB (default 256): a template that needs more is stopped. */
  maxHeapMb?: number;
}

/**
 * The compiled worker file. Next to this module in `dist/`; when this module runs from the
 * TypeScript sources (Jest), the worker comes from the build (`npm run build`).
 */
export function renderWorkerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, 'render-worker.js');
  if (existsSync(sibling)) return sibling;
  const root = resolve(here, '../../..');
  const built = join(root, 'dist/libs/templates/src/render-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`template render worker not found (${sibling} or ${built}): run npm run build`);
}

export class TemplateRenderPool {
  private readonly pool: Piscina<WireTask, WireResult>;
  private readonly timeoutMs: number;
  readonly limits: RenderLimits;

  constructor(opts: RenderPoolOptions = {}) {
    const threads = opts.threads ?? 2;
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.limits = opts.limits ?? { ...DEFAULT_RENDER_LIMITS };
    this.pool = new Piscina<WireTask, WireResult>({
      filename: renderWorkerFile(),
      name: 'default',
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 256 },
    });
  }

  render(def: TemplateDefinition, data: unknown, ctx: RenderContext): Promise<RenderedMessage> {
    return this.run({ kind: 'render', def, data, ctx, limits: this.limits }, def) as Promise<RenderedMessage>;
  }

  /** A preview; with `lint`, the lint findings are computed in the worker too. */
  preview(
    def: TemplateDefinition,
    data: unknown,
    ctx: RenderContext,
    lint?: WireLintOptions,
  ): Promise<TemplatePreview> {
    return this.run(
      { kind: 'preview', def, data, ctx, limits: this.limits, lint },
      def,
    ) as Promise<TemplatePreview>;
  }

  lint(def: TemplateDefinition, lint: WireLintOptions): Promise<LintFinding[]> {
    return this.run({ kind: 'lint', def, lint: { renderLimits: this.limits, ...lint } }, def) as Promise<
      LintFinding[]
    >;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }

  /**
   * Nest calls this at shutdown when the pool is a provider: after the HTTP server has drained
   * (destroy hooks run before it closes, so requests still in flight would find no threads).
   */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /** Tasks finished and threads alive (metrics, tests). */
  stats(): { completed: number; threads: number; queued: number } {
    return { completed: this.pool.completed, threads: this.pool.threads.length, queued: this.pool.queueSize };
  }

  private async run(
    task: RenderTask,
    def: TemplateDefinition,
  ): Promise<RenderedMessage | TemplatePreview | LintFinding[]> {
    const { port1, port2 } = new MessageChannel();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // The limit counts from the moment a worker starts the task, not from the queue.
    port1.once('message', () => {
      timer = setTimeout(() => abort.abort(), this.timeoutMs);
      port1.close();
    });
    let result: WireResult;
    try {
      result = await this.pool.run({ ...task, started: port2 } as WireTask, {
        transferList: [port2],
        signal: abort.signal,
      });
    } catch (err) {
      if (abort.signal.aborted) {
        throw new TemplateRenderTimeoutError(
          `Template ${def.key} (${def.locale}) did not render within ${this.timeoutMs} ms`,
          [
            {
              path: 'data',
              message: `rendering took longer than ${this.timeoutMs} ms (TEMPLATE_RENDER_TIMEOUT_MS) and was stopped`,
            },
          ],
          { limit: 'timeMs', max: this.timeoutMs },
        );
      }
      if ((err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        throw new TemplateBudgetError(
          `Template ${def.key} (${def.locale}) needs more memory than a render may use`,
          [{ path: 'data', message: 'rendering ran out of the worker memory limit and was stopped' }],
          { limit: 'memory' },
        );
      }
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
      port1.close();
    }
    if (!result.ok) throw fromWire(result.error);
    return result.value;
  }
}
