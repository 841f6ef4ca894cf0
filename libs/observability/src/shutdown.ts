import type { INestApplicationContext } from '@nestjs/common';
import type { Logger as Pino } from 'pino';
import { ShutdownState } from './shutdown-state.js';

/**
 * SIGTERM/SIGINT: readiness turns down, listeners stop accepting (HTTP and gRPC), in-flight
 * requests finish, the queue adapters stop taking jobs and wait for the running ones, the
 * database closes, and the process exits 0. Past `timeoutMs` it exits anyway: a job still
 * running then is handed back (BullMQ re-delivers it as stalled; the sweeper reconciles rows
 * left `sending` with the provider before anything is sent again).
 */
export function installGracefulShutdown(
  app: INestApplicationContext,
  opts: { timeoutMs: number; log: Pino; exit?: (code: number) => void },
): void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    opts.log.warn({ signal }, 'shutting down: draining requests and jobs');
    try {
      app.get(ShutdownState, { strict: false }).draining = true;
    } catch {
      /* not registered in this app */
    }
    // Keep-alive connections that are idle now are closed by server.close(); busy ones answer
    // with `Connection: close` (see bootstrap) and are swept here as they fall idle.
    const server = (app as { getHttpServer?: () => { closeIdleConnections?: () => void } }).getHttpServer?.();
    const sweep = setInterval(() => server?.closeIdleConnections?.(), 100);
    sweep.unref();
    const timer = setTimeout(() => {
      opts.log.warn({ timeoutMs: opts.timeoutMs }, 'shutdown timed out: exiting with work handed back');
      opts.log.flush();
      exit(0);
    }, opts.timeoutMs);
    timer.unref();
    app.close().then(
      () => {
        opts.log.warn({ ms: Date.now() - started }, 'stopped cleanly');
        opts.log.flush();
        clearTimeout(timer);
        exit(0);
      },
      (err: unknown) => {
        opts.log.error({ err }, 'error during shutdown');
        opts.log.flush();
        exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
