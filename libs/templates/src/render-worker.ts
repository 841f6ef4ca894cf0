/**
 * The render pool's worker (render-pool.ts): renders, previews and lints on a worker thread, so
 * a slow template stops this thread, never the process's event loop. Tells the pool when it
 * starts a task (the time limit counts from there, not from the queue).
 */
import { renderTemplate } from './engine.js';
import { lintTemplate } from './lint.js';
import { type RenderValue, toWire, type WireResult, type WireTask } from './render-wire.js';
import { previewTemplate } from './store/preview.js';

function run(task: WireTask): RenderValue {
  switch (task.kind) {
    case 'render':
      return renderTemplate(task.def, task.data, task.ctx, task.limits);
    case 'preview': {
      const findings = task.lint ? lintTemplate(task.def, task.lint) : [];
      return previewTemplate(
        task.def,
        task.data,
        task.ctx,
        findings,
        task.limits,
        task.lint?.smsProviders ?? [],
      );
    }
    case 'lint':
      return lintTemplate(task.def, task.lint);
  }
}

export default function renderTask(task: WireTask): WireResult {
  task.started.postMessage(0);
  task.started.close();
  try {
    return { ok: true, value: run(task) };
  } catch (err) {
    return { ok: false, error: toWire(err) };
  }
}
