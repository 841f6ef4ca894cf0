import { Module } from '@nestjs/common';
import { EvidenceBundleService } from './bundle.service.js';
import { CheckpointRepository } from './checkpoint.repository.js';
import { CheckpointService } from './checkpoint.service.js';
import { EvidenceSigningKeys } from './signer.js';
import { LegalEvidenceService } from './eligibility.service.js';
import { EvidenceRepository } from './evidence.repository.js';
import { EvidenceService } from './evidence.service.js';
import { RetentionService } from './retention.js';
import { CheckpointAnchor } from './transparency/anchor.js';
import { EvidenceIntegrity } from './transparency/integrity.service.js';
import { LogRepository, WitnessRepository } from './transparency/log.repository.js';
import { WitnessPublisher } from './transparency/witnesses.js';

const PROVIDERS = [
  EvidenceRepository,
  EvidenceService,
  EvidenceSigningKeys,
  CheckpointRepository,
  CheckpointService,
  EvidenceBundleService,
  LegalEvidenceService,
  RetentionService,
  LogRepository,
  EvidenceIntegrity,
  WitnessRepository,
  WitnessPublisher,
  CheckpointAnchor,
];

/** The ledger and its read side. `CheckpointScheduler` is not here: only the api registers it. */
@Module({ providers: PROVIDERS, exports: PROVIDERS })
export class EvidenceModule {}
