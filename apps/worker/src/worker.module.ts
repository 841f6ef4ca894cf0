import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '#libs/config';
import type { Clock } from '#libs/core';
import { pipelineImports } from '#libs/notifications';
import { ObservabilityModule } from '../../api/src/observability/observability.module.js';

@Module({})
export class WorkerModule {
  static forRoot(opts: { config?: AppConfig; clock?: Clock } = {}): DynamicModule {
    return { module: WorkerModule, imports: [...pipelineImports(opts), ObservabilityModule] };
  }
}
