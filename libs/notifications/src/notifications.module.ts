import { Module } from '@nestjs/common';
import { EvidenceModule } from '#libs/evidence';
import { ComplianceService } from './compliance.service.js';
import { DispatchProcessor } from './dispatch.processor.js';
import { HoldsService } from './holds.service.js';
import { OptOutsService } from './opt-outs.service.js';
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
    ComplianceService,
    HoldsService,
    OptOutsService,
    TemplateRegistry,
    NotificationsService,
    ReceiptsService,
    DispatchProcessor,
    Sweeper,
    PipelineRunner,
  ],
  exports: [
    ComplianceService,
    HoldsService,
    OptOutsService,
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
