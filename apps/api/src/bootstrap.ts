import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type AppConfig, loadConfigFromEnv, nestLogLevels } from '#libs/config';
import type { Clock } from '#libs/core';
import { PipelineRunner } from '#libs/notifications';
import { ApiModule } from './app.module.js';

/** Builds and starts the api (and, in standalone mode, the processors). Used by main.ts and tests. */
export async function startApi(opts: { config?: AppConfig; clock?: Clock; listen?: boolean } = {}) {
  const config = opts.config ?? loadConfigFromEnv();
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot({ ...opts, config }), {
    bodyParser: false,
    logger: nestLogLevels(config.logLevel),
  });
  app.useBodyParser('json', {
    limit: config.http.maxBodyBytes,
    type: ['application/json', 'application/*+json'],
  });
  app.useBodyParser('urlencoded', { extended: false, limit: config.http.maxBodyBytes });
  app.enableShutdownHooks();
  app.set('trust proxy', false);
  app.disable('x-powered-by');
  if (config.queue.apiRunsWorkers) await app.get(PipelineRunner).start();
  if (opts.listen !== false) await app.listen(config.http.port, config.http.host);
  return { app, config };
}
