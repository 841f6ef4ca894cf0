import { Module } from '@nestjs/common';
import { EvidenceModule } from '#libs/evidence';
import { DispatchProcessor } from './dispatch.processor.js';
import { NotificationRepository } from './notification.repository.js';
import { NotificationsService } from './notifications.service.js';
import { PipelineRunner } from './pipeline.runner.js';
import { ReceiptsService } from './receipts.service.js';
import { Sweeper } from './sweeper.js';
import { TemplateRegistry } from './template-registry.js';

@Module({
  imports: [EvidenceModule],
  providers: [
    NotificationRepository,
    TemplateRegistry,
    NotificationsService,
    ReceiptsService,
    DispatchProcessor,
    Sweeper,
    PipelineRunner,
  ],
  exports: [
    NotificationsService,
    ReceiptsService,
    DispatchProcessor,
    Sweeper,
    PipelineRunner,
    TemplateRegistry,
    EvidenceModule,
  ],
})
export class NotificationsModule {}
