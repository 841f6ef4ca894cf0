import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { AppConfig } from '#libs/config';
import type { Clock } from '#libs/core';
import { pipelineImports } from '#libs/notifications';
import { BatchController } from './http/batch.controller.js';
import { CasesController } from './http/cases.controller.js';
import { PrintRoomController } from './http/post.controller.js';
import { ProblemsController } from './http/problems.controller.js';
import { ChannelsController } from './http/channels.controller.js';
import { ChannelWebhooksController } from './http/channel-webhooks.controller.js';
import { EvidenceController } from './http/evidence.controller.js';
import { EvidenceAlertsController } from './http/evidence-alerts.controller.js';
import { CallbacksController } from './http/callbacks.controller.js';
import { NotificationsController } from './http/notifications.controller.js';
import { WebhooksController } from './http/webhooks.controller.js';
import { AuthModule } from './auth/auth.module.js';
import { NoticesGrpcController } from './grpc/notices.grpc.controller.js';
import { HealthController } from './observability/health.controller.js';
import { MetricsController } from './observability/metrics.controller.js';
import { ObservabilityModule } from '#libs/observability';
import { ProblemFilter } from './problem.js';
import { TemplatesController } from './http/templates.controller.js';
import { EditorController } from './web/editor.controller.js';
import { CheckpointScheduler } from '#libs/evidence';
import { EvidenceLogController } from './http/evidence-log.controller.js';
import { LegalController } from './http/legal.controller.js';
import { LegalPageController } from './web/legal/legal-page.controller.js';
import { VerifyModule } from './web/verify/verify.controller.js';

@Module({})
export class ApiModule {
  static forRoot(opts: { config?: AppConfig; clock?: Clock } = {}): DynamicModule {
    return {
      module: ApiModule,
      imports: [...pipelineImports(opts), ObservabilityModule, TerminusModule, AuthModule, VerifyModule],
      controllers: [
        PrintRoomController,
        BatchController,
        CasesController,
        ChannelWebhooksController,
        ChannelsController,
        NotificationsController,
        EvidenceController,
        EvidenceAlertsController,
        CallbacksController,
        WebhooksController,
        HealthController,
        MetricsController,
        NoticesGrpcController,
        TemplatesController,
        EditorController,
        LegalController,
        EvidenceLogController,
        LegalPageController,
        ProblemsController,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }, CheckpointScheduler],
    };
  }
}
