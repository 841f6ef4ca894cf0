import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ChannelsModule } from '#libs/channels';
import { type AppConfig, AppConfigModule } from '#libs/config';
import type { Clock } from '#libs/core';
import { NotificationsModule } from '#libs/notifications';
import { PersistenceModule } from '#libs/persistence';
import { QueueModule } from '#libs/queue';
import { CasesController } from './http/cases.controller.js';
import { EvidenceController } from './http/evidence.controller.js';
import { HealthController } from './http/health.controller.js';
import { NotificationsController } from './http/notifications.controller.js';
import { WebhooksController } from './http/webhooks.controller.js';
import { ProblemFilter } from './problem.js';

@Module({})
export class ApiModule {
  static forRoot(opts: { config?: AppConfig; clock?: Clock } = {}): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        AppConfigModule.forRoot(opts),
        PersistenceModule,
        QueueModule,
        ChannelsModule,
        NotificationsModule,
      ],
      controllers: [CasesController, NotificationsController, EvidenceController, WebhooksController, HealthController],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }],
    };
  }
}
