import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn, type ValueTransformer } from 'typeorm';

/** Epoch milliseconds stored as BIGINT (portable across SQLite and PostgreSQL, exact ordering). */
export const msTransformer: ValueTransformer = {
  to: (v: number | null | undefined) => v,
  from: (v: string | number | null) => (v === null || v === undefined ? null : Number(v)),
};

@Entity('notifications')
@Index('ix_notifications_case', ['caseId', 'createdAt'])
@Index('ix_notifications_status', ['status', 'updatedAt'])
export class NotificationEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'case_id', type: 'varchar', length: 64 })
  caseId!: string;

  @Column({ type: 'varchar', length: 16 })
  channel!: string;

  @Column({ name: 'template_key', type: 'varchar', length: 128 })
  templateKey!: string;

  @Column({ name: 'template_version', type: 'integer' })
  templateVersion!: number;

  @Column({ type: 'varchar', length: 8 })
  locale!: string;

  @Column({ type: 'varchar', length: 16 })
  audience!: string;

  /** JSON of the recipient as accepted. */
  @Column({ type: 'text' })
  recipient!: string;

  /** Normalised address on the notification's channel (E.164 phone, lower-case email, postal key). */
  @Column({ name: 'recipient_address', type: 'varchar', length: 320 })
  recipientAddress!: string;

  /** JSON of the template data as accepted. */
  @Column({ type: 'text' })
  data!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: string;

  @Column({ name: 'status_reason', type: 'text', nullable: true })
  statusReason!: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  provider!: string | null;

  @Column({ name: 'provider_message_id', type: 'varchar', length: 128, nullable: true })
  providerMessageId!: string | null;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey!: string | null;

  @Column({ name: 'idempotency_scope', type: 'varchar', length: 80, nullable: true })
  idempotencyScope!: string | null;

  @Column({ name: 'request_hash', type: 'varchar', length: 64 })
  requestHash!: string;

  /** Earliest send time (deferral); null = as soon as possible. */
  @Column({ name: 'not_before', type: 'bigint', nullable: true, transformer: msTransformer })
  notBefore!: number | null;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'sending_at', type: 'bigint', nullable: true, transformer: msTransformer })
  sendingAt!: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: msTransformer })
  createdAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: msTransformer })
  updatedAt!: number;
}

@Entity('evidence_events')
export class EvidenceEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'case_id', type: 'varchar', length: 64 })
  caseId!: string;

  @Column({ type: 'integer' })
  seq!: number;

  @Column({ name: 'notification_id', type: 'varchar', length: 36, nullable: true })
  notificationId!: string | null;

  @Column({ type: 'varchar', length: 64 })
  type!: string;

  @Column({ name: 'occurred_at', type: 'varchar', length: 30 })
  occurredAt!: string;

  @Column({ name: 'recorded_at', type: 'varchar', length: 30 })
  recordedAt!: string;

  /** RFC 8785 canonical JSON of the payload. */
  @Column({ type: 'text' })
  payload!: string;

  @Column({ name: 'prev_hash', type: 'varchar', length: 64 })
  prevHash!: string;

  @Column({ type: 'varchar', length: 64 })
  hash!: string;
}

@Entity('case_heads')
export class CaseHeadEntity {
  @PrimaryColumn({ name: 'case_id', type: 'varchar', length: 64 })
  caseId!: string;

  @Column({ name: 'last_seq', type: 'integer' })
  lastSeq!: number;

  @Column({ name: 'last_hash', type: 'varchar', length: 64 })
  lastHash!: string;

  @Column({ name: 'updated_at', type: 'bigint', transformer: msTransformer })
  updatedAt!: number;
}

/** Raw provider receipts (webhook inbox). Kept even when they cannot be matched yet. */
@Entity('receipts')
export class ReceiptEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 32 })
  provider!: string;

  @Column({ name: 'provider_message_id', type: 'varchar', length: 128, nullable: true })
  providerMessageId!: string | null;

  @Column({ name: 'notification_id', type: 'varchar', length: 36, nullable: true })
  notificationId!: string | null;

  @Column({ type: 'varchar', length: 32 })
  outcome!: string;

  @Column({ name: 'provider_status', type: 'varchar', length: 64 })
  providerStatus!: string;

  /** JSON of the normalised receipt and its raw parameters. */
  @Column({ type: 'text' })
  body!: string;

  /** 0 = waiting for its notification, 1 = applied. */
  @Column({ type: 'integer', default: 0 })
  applied!: number;

  @Column({ name: 'received_at', type: 'bigint', transformer: msTransformer })
  receivedAt!: number;
}

/** Rendered artifacts (SMS text, .eml, PDF) whose SHA-256 is in the evidence. */
@Entity('artifacts')
export class ArtifactEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  sha256!: string;

  @Column({ name: 'media_type', type: 'varchar', length: 100 })
  mediaType!: string;

  @Column({ type: 'integer' })
  size!: number;

  @Column({ name: 'created_at', type: 'bigint', transformer: msTransformer })
  createdAt!: number;
}

export const ENTITIES = [
  NotificationEntity,
  EvidenceEventEntity,
  CaseHeadEntity,
  ReceiptEntity,
  ArtifactEntity,
];
