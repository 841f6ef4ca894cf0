import { type DynamicModule, Module } from '@nestjs/common';
import { ChannelsModule } from '#libs/channels';
import { type AppConfig, AppConfigModule } from '#libs/config';
import type { Clock } from '#libs/core';
import { NotificationsModule } from '#libs/notifications';
import { PersistenceModule } from '#libs/persistence';
import { QueueModule } from '#libs/queue';
import { ObservabilityModule } from '../../api/src/observability/observability.module.js';

@Module({})
export class WorkerModule {
  static forRoot(opts: { config?: AppConfig; clock?: Clock } = {}): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        AppConfigModule.forRoot(opts),
        PersistenceModule,
        QueueModule,
        ChannelsModule,
        NotificationsModule,
        ObservabilityModule,
      ],
    };
  }
}
