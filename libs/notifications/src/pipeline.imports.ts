import type { DynamicModule, Type } from '@nestjs/common';
import { ChannelsModule } from '#libs/channels';
import { type AppConfig, AppConfigModule } from '#libs/config';
import type { Clock } from '#libs/core';
import { PersistenceModule } from '#libs/persistence';
import { QueueModule } from '#libs/queue';
import { NotificationsModule } from './notifications.module.js';

/** The modules every process that runs the pipeline needs (the api and the worker). */
export function pipelineImports(opts: { config?: AppConfig; clock?: Clock }): (Type | DynamicModule)[] {
  return [AppConfigModule.forRoot(opts), PersistenceModule, QueueModule, ChannelsModule, NotificationsModule];
}
