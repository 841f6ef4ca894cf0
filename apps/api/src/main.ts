import { Logger } from '@nestjs/common';
import { ConfigError } from '#libs/config';
import { StorageStartupError } from '#libs/persistence';
import { startApi } from './bootstrap.js';
import { installGracefulShutdown } from '#libs/observability';

startApi()
  .then(({ app, config, logger }) => {
    installGracefulShutdown(app, { timeoutMs: config.shutdown.timeoutMs, log: logger });
    const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`;
    const grpc = config.grpc.port > 0 ? `, gRPC on ${config.grpc.host}:${config.grpc.port}` : '';
    new Logger('Main').log(
      `collection-notices api on ${url}${grpc} (${config.mode} mode, ${config.database.type}, sms ${config.sms.provider}); docs at ${url}/docs`,
    );
  })
  .catch((err: unknown) => {
    // These messages name the setting or path and the fix; a stack would only bury them.
    if (err instanceof ConfigError || err instanceof StorageStartupError) console.error(err.message);
    else console.error(err);
    process.exit(1);
  });
