import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { raw } from 'express';
import { scanError, scanJson } from '#libs/contracts';
import { jsonOnly, NON_JSON_BODY_PATHS } from './http/json-only.js';
import helmet from 'helmet';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger as Pino } from 'pino';
import { type AppConfig, loadConfigFromEnv } from '#libs/config';
import type { Clock } from '#libs/core';
import { CallbackDelivery, PipelineRunner } from '#libs/notifications';
import { ApiModule } from './app.module.js';
import { ApiKeysService } from './auth/api-keys.service.js';
import { grpcOptions } from './grpc/grpc.options.js';
import {
  createLogger,
  httpLogging,
  MetricsService,
  PinoNestLogger,
  ShutdownState,
} from '#libs/observability';
import { setupOpenApi } from './observability/openapi.js';
import { QUEUES_PATH, queuesBoard } from './observability/queues-board.js';

/** Builds and starts the api (and, in standalone mode, the processors). Used by main.ts and tests. */
export async function startApi(
  opts: { config?: AppConfig; clock?: Clock; listen?: boolean; logger?: Pino } = {},
) {
  const config = opts.config ?? loadConfigFromEnv();
  const logger = opts.logger ?? createLogger(config.logLevel);
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot({ ...opts, config }), {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
  });
  // Request ids and the access log first, so every later line (body errors too) carries the id.
  app.use(httpLogging(logger));
  const metrics = app.get(MetricsService);
  app.use(metrics.httpMiddleware());
  // Security headers on every answer (pages, the queue board, /docs, the API): no framing
  // (X-Frame-Options DENY and CSP frame-ancestors 'none'), nosniff, no referrer, HSTS. Pages with
  // scripts set their own, stricter CSP (web/editor.controller.ts); this one only forbids framing
  // so the queue board's and the docs' bundled scripts keep working.
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          'default-src': helmet.contentSecurityPolicy.dangerouslyDisableDefaultSrc,
          'frame-ancestors': ["'none'"],
          'base-uri': ["'self'"],
          'object-src': ["'none'"],
        },
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  // While draining (SIGTERM), every answer closes its keep-alive connection, so the listener can close.
  const shutdown = app.get(ShutdownState);
  app.use((_req: unknown, res: { setHeader(k: string, v: string): void }, next: () => void) => {
    if (shutdown.draining) res.setHeader('Connection', 'close');
    next();
  });
  // API answers carry personal data (names, addresses, evidence): no cache may keep them. A route
  // serving something public sets its own Cache-Control (the evidence public key).
  app.use(
    ['/v1', '/unsubscribe'],
    (_req: unknown, res: { setHeader(k: string, v: string): void }, next: () => void) => {
      res.setHeader('Cache-Control', 'no-store');
      next();
    },
  );
  // Signed webhooks are verified over their exact bytes: keep those bodies raw.
  app.use(
    ['/webhooks', '/v1/post/print-room/tracking'],
    raw({ type: () => true, limit: config.http.maxBodyBytes }),
  );
  // Input policy: a JSON route given a body of another media type answers 415 (not a 400 about
  // a missing body). The NDJSON batch and the print room's CSV import read their own types;
  // webhooks are verified over their raw bytes above.
  app.use('/v1', jsonOnly(NON_JSON_BODY_PATHS));
  const jsonOptions = {
    limit: config.http.maxBodyBytes,
    type: ['application/json', 'application/*+json'],
    // Input policy (libs/contracts/src/input.ts): depth and NUL checked on the text, in one
    // linear pass, before JSON.parse or anything recursive sees the body.
    verify: (_req: unknown, _res: unknown, buf: Buffer) => {
      const problem = scanJson(buf.toString('utf8'));
      if (problem) throw scanError(problem, '(body)');
    },
  };
  app.useBodyParser('json', jsonOptions);
  app.useBodyParser('urlencoded', { extended: false, limit: config.http.maxBodyBytes });
  app.set('trust proxy', false);
  app.disable('x-powered-by');
  const board = queuesBoard(config, app.get(ApiKeysService));
  if (board) {
    app.use(QUEUES_PATH, board.guard);
    app.get(MetricsService).onClose(board.close);
  }
  setupOpenApi(app);
  if (config.grpc.port > 0) {
    app.connectMicroservice(grpcOptions(config), { inheritAppConfig: true });
  }
  if (config.queue.apiRunsWorkers) {
    await app.get(PipelineRunner).start();
    app.get(CallbackDelivery).start();
  }
  if (opts.listen !== false) {
    if (config.grpc.port > 0) await app.startAllMicroservices();
    await app.listen(config.http.port, config.http.host);
  } else {
    await app.init();
  }
  return { app, config, logger };
}
