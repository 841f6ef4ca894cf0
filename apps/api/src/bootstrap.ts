import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import type { Clock } from '#libs/core';
import { PipelineRunner } from '#libs/notifications';
import { ApiModule } from './app.module.js';

/** Builds and starts the api (and, in standalone mode, the processors). Used by main.ts and tests. */
export async function startApi(opts: { config?: AppConfig; clock?: Clock; listen?: boolean } = {}) {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(opts), {
    bodyParser: false,
    logger: ['error', 'warn', 'log'],
  });
  const config = app.get<AppConfig>(APP_CONFIG);
  app.useBodyParser('json', { limit: config.http.maxBodyBytes, type: ['application/json', 'application/*+json'] });
  app.useBodyParser('urlencoded', { extended: false, limit: config.http.maxBodyBytes });
  app.enableShutdownHooks();
  app.set('trust proxy', false);
  app.disable('x-powered-by');
  if (config.queue.apiRunsWorkers) await app.get(PipelineRunner).start();
  if (opts.listen !== false) await app.listen(config.http.port, config.http.host);
  return { app, config };
}
