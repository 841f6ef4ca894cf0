import { Module } from '@nestjs/common';
import { EvidenceModule } from '#libs/evidence';
import { TemplateStoreModule } from '#libs/templates';
import { ArtifactRenderer } from './artifact.renderer.js';
import { CallbackDelivery } from './callbacks/callback-delivery.js';
import { CallbackRepository } from './callbacks/callback.repository.js';
import { CallbacksService } from './callbacks/callbacks.service.js';
import { ComplianceService } from './compliance.service.js';
import { DispatchProcessor } from './dispatch.processor.js';
import { EscalationService } from './escalation.service.js';
import { HoldsService } from './holds.service.js';
import { OptOutsService } from './opt-outs.service.js';
import { NotificationRepository } from './notification.repository.js';
import { NotificationsService } from './notifications.service.js';
import { PipelineRunner } from './pipeline.runner.js';
import { ReceiptsService } from './receipts.service.js';
import { WebhookIngress } from './webhook-ingress.js';
import {
  ArtifactRepository,
  ContactLogRepository,
  HoldRepository,
  OptOutRepository,
  ReceiptRepository,
} from './repositories.js';
import { Sweeper } from './sweeper.js';
import { NotificationStateMachine } from './state-machine.js';
import { TemplateRegistry } from './template-registry.js';

@Module({
  imports: [EvidenceModule, TemplateStoreModule],
  providers: [
    NotificationRepository,
    ReceiptRepository,
    OptOutRepository,
    HoldRepository,
    ContactLogRepository,
    ArtifactRepository,
    CallbackRepository,
    NotificationStateMachine,
    CallbacksService,
    CallbackDelivery,
    ArtifactRenderer,
    ComplianceService,
    HoldsService,
    OptOutsService,
    TemplateRegistry,
    NotificationsService,
    EscalationService,
    ReceiptsService,
    WebhookIngress,
    DispatchProcessor,
    Sweeper,
    PipelineRunner,
  ],
  exports: [
    CallbacksService,
    CallbackDelivery,
    EscalationService,
    ComplianceService,
    HoldsService,
    OptOutsService,
    NotificationsService,
    ReceiptsService,
    WebhookIngress,
    DispatchProcessor,
    Sweeper,
    PipelineRunner,
    TemplateRegistry,
    TemplateStoreModule,
    EvidenceModule,
  ],
})
export class NotificationsModule {}
