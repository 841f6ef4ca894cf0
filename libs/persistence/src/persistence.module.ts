import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { createDataSource, Db, runMigrations } from './database.js';
import { assertMigrated } from './roles.js';
import { narrowSqliteFiles, probeWrite, storageStartupError } from './storage.js';

export const DATA_SOURCE = Symbol('DATA_SOURCE');

@Global()
@Module({
  providers: [
    {
      provide: DATA_SOURCE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const ds = createDataSource(config.database);
        try {
          await ds.initialize();
          if (config.database.type === 'postgres' && config.database.migrations === 'check') {
            await assertMigrated(ds);
          } else {
            await runMigrations(ds);
          }
          // A read-only file or replica opens and reads fine: refuse to start instead of 500s later.
          await probeWrite(new Db(ds));
          if (config.database.type === 'sqlite') narrowSqliteFiles(config.database.path);
        } catch (err) {
          if (ds.isInitialized) await ds.destroy().catch(() => undefined);
          throw storageStartupError(config.database, err);
        }
        return ds;
      },
    },
    { provide: Db, inject: [DATA_SOURCE], useFactory: (ds: DataSource) => new Db(ds) },
  ],
  exports: [DATA_SOURCE, Db],
})
export class PersistenceModule implements OnApplicationShutdown {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.ds.isInitialized) await this.ds.destroy();
  }
}
