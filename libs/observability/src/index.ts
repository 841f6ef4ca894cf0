/** Logs (pino, PII masked), metrics (prom-client), graceful shutdown: used by every app. */
export * from './logging.js';
export * from './metrics.service.js';
export * from './redact.js';
export * from './shutdown.js';
export * from './shutdown-state.js';
export * from './observability.module.js';
