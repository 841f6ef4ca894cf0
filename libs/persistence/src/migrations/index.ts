import { ApiKeysPostgres1764200000000, ApiKeysSqlite1764200000000 } from './apikeys.js';
import { CallbacksPostgres1764800000000, CallbacksSqlite1764800000000 } from './callbacks.js';
import {
  ReceiptsByNotificationPostgres1764810000000,
  ReceiptsByNotificationSqlite1764810000000,
} from './receipts-by-notification.js';
import { CallerScopePostgres1764630000000, CallerScopeSqlite1764630000000 } from './caller-scope.js';
import { CheckpointsPostgres1764560000000, CheckpointsSqlite1764560000000 } from './checkpoints.js';
import { CompliancePostgres1764100000000, ComplianceSqlite1764100000000 } from './compliance.js';
import { InitialPostgres1764057600000, InitialSqlite1764057600000 } from './initial.js';
import { ReceiptDedupPostgres1764600000000, ReceiptDedupSqlite1764600000000 } from './receipt-dedup.js';
import {
  ReceiptDedupRetentionPostgres1764710000000,
  ReceiptDedupRetentionSqlite1764710000000,
} from './receipt-dedup-retention.js';
import { TemplatesPostgres1764300000000, TemplatesSqlite1764300000000 } from './templates.js';
import { WebhooksPostgres1764400000000, WebhooksSqlite1764400000000 } from './webhooks.js';
import { WitnessesPostgres1764720000000, WitnessesSqlite1764720000000 } from './witnesses.js';
import {
  TransparencyLogPostgres1764700000000,
  TransparencyLogSqlite1764700000000,
} from './transparency-log.js';

/**
 * Every migration, per dialect, in order. A new migration is one file in this folder with a
 * class per dialect (timestamp-named), added at the end of both lists.
 */
export const SQLITE_MIGRATIONS = [
  InitialSqlite1764057600000,
  ComplianceSqlite1764100000000,
  ApiKeysSqlite1764200000000,
  TemplatesSqlite1764300000000,
  WebhooksSqlite1764400000000,
  CheckpointsSqlite1764560000000,
  CallerScopeSqlite1764630000000,
  ReceiptDedupSqlite1764600000000,
  TransparencyLogSqlite1764700000000,
  ReceiptDedupRetentionSqlite1764710000000,
  WitnessesSqlite1764720000000,
  CallbacksSqlite1764800000000,
  ReceiptsByNotificationSqlite1764810000000,
];
export const POSTGRES_MIGRATIONS = [
  InitialPostgres1764057600000,
  CompliancePostgres1764100000000,
  ApiKeysPostgres1764200000000,
  TemplatesPostgres1764300000000,
  WebhooksPostgres1764400000000,
  CheckpointsPostgres1764560000000,
  CallerScopePostgres1764630000000,
  ReceiptDedupPostgres1764600000000,
  TransparencyLogPostgres1764700000000,
  ReceiptDedupRetentionPostgres1764710000000,
  WitnessesPostgres1764720000000,
  CallbacksPostgres1764800000000,
  ReceiptsByNotificationPostgres1764810000000,
];
