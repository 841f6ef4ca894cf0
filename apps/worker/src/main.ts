import 'reflect-metadata';
import { createServer } from 'node:http';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, loadConfigFromEnv } from '#libs/config';
import { CallbackDelivery, PipelineRunner } from '#libs/notifications';
import { createLogger, installGracefulShutdown, MetricsService, PinoNestLogger } from '#libs/observability';
import { WorkerModule } from './worker.module.js';

async function main(): Promise<void> {
  const config = loadConfigFromEnv();
  if (config.mode !== 'queue') {
    throw new ConfigError([
      'REDIS_URL: the worker consumes a shared queue; set REDIS_URL (standalone mode runs its workers inside the api)',
    ]);
  }
  const logger = createLogger(config.logLevel, { name: 'collection-notices-worker' });
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot({ config }), {
    logger: new PinoNestLogger(logger),
  });
  installGracefulShutdown(app, { timeoutMs: config.shutdown.timeoutMs, log: logger });
  await app.get(PipelineRunner).start();
  app.get(CallbackDelivery).start();
  const port = config.observability.workerMetricsPort;
  if (port > 0) {
    // Provider latency and gate decisions are counted here: Prometheus scrapes each worker.
    const metrics = app.get(MetricsService);
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      metrics.metrics().then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.body),
        () => res.writeHead(500).end(),
      );
    });
    server.listen(port, config.http.host);
    metrics.onClose(() => new Promise((resolve) => server.close(resolve)));
  }
  new Logger('Worker').log(
    `worker ${process.pid} consuming (${config.database.type}, sms ${config.sms.provider})${port > 0 ? `, metrics on :${port}` : ''}`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
