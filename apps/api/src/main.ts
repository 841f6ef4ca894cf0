import { Logger } from '@nestjs/common';
import { ConfigError } from '#libs/config';
import { startApi } from './bootstrap.js';

startApi()
  .then(({ app, config }) => {
    const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`;
    new Logger('Main').log(
      `collection-notices api on ${url} (${config.mode} mode, ${config.database.type}, sms ${config.sms.provider})`,
    );
    void app;
  })
  .catch((err: unknown) => {
    if (err instanceof ConfigError) console.error(err.message);
    else console.error(err);
    process.exit(1);
  });
