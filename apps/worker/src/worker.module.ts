import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '#libs/config';
import type { Clock } from '#libs/core';
import { pipelineImports } from '#libs/notifications';
import { ObservabilityModule } from '#libs/observability';

@Module({})
export class WorkerModule {
  static forRoot(opts: { config?: AppConfig; clock?: Clock } = {}): DynamicModule {
    return { module: WorkerModule, imports: [...pipelineImports(opts), ObservabilityModule] };
  }
}
