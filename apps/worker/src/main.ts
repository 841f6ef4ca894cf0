import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, loadConfigFromEnv, nestLogLevels } from '#libs/config';
import { PipelineRunner } from '#libs/notifications';
import { WorkerModule } from './worker.module.js';

async function main(): Promise<void> {
  const config = loadConfigFromEnv();
  if (config.mode !== 'queue') {
    throw new ConfigError([
      'REDIS_URL: the worker consumes a shared queue; set REDIS_URL (standalone mode runs its workers inside the api)',
    ]);
  }
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot({ config }), {
    logger: nestLogLevels(config.logLevel),
  });
  app.enableShutdownHooks();
  await app.get(PipelineRunner).start();
  new Logger('Worker').log(
    `worker ${process.pid} consuming (${config.database.type}, sms ${config.sms.provider})`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
