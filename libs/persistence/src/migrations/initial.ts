import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * First schema. One class per dialect: the SQL differs where types and triggers differ.
 * Timestamps are epoch milliseconds (BIGINT) so ordering and arithmetic are exact on both.
 * Evidence is append-only: triggers refuse UPDATE and DELETE on evidence_events.
 */

const common = (blob: string, bigserial: string) => [
  `CREATE TABLE notifications (
    id VARCHAR(36) PRIMARY KEY,
    case_id VARCHAR(64) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    template_key VARCHAR(128) NOT NULL,
    template_version INTEGER NOT NULL,
    locale VARCHAR(8) NOT NULL,
    audience VARCHAR(16) NOT NULL,
    recipient TEXT NOT NULL,
    recipient_address VARCHAR(320) NOT NULL,
    data TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    status_reason TEXT NULL,
    provider VARCHAR(32) NULL,
    provider_message_id VARCHAR(128) NULL,
    idempotency_key VARCHAR(255) NULL,
    request_hash VARCHAR(64) NOT NULL,
    not_before BIGINT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sending_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE UNIQUE INDEX ux_notifications_idempotency ON notifications (idempotency_key)`,
  `CREATE UNIQUE INDEX ux_notifications_provider_msg ON notifications (provider, provider_message_id)`,
  `CREATE INDEX ix_notifications_case ON notifications (case_id, created_at)`,
  `CREATE INDEX ix_notifications_status ON notifications (status, updated_at)`,
  `CREATE TABLE evidence_events (
    id ${bigserial},
    case_id VARCHAR(64) NOT NULL,
    seq INTEGER NOT NULL,
    notification_id VARCHAR(36) NULL,
    type VARCHAR(64) NOT NULL,
    occurred_at VARCHAR(30) NOT NULL,
    recorded_at VARCHAR(30) NOT NULL,
    payload TEXT NOT NULL,
    prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL
  )`,
  `CREATE UNIQUE INDEX ux_evidence_case_seq ON evidence_events (case_id, seq)`,
  `CREATE INDEX ix_evidence_notification ON evidence_events (notification_id)`,
  `CREATE TABLE case_heads (
    case_id VARCHAR(64) PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    last_hash VARCHAR(64) NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE TABLE receipts (
    id VARCHAR(36) PRIMARY KEY,
    provider VARCHAR(32) NOT NULL,
    provider_message_id VARCHAR(128) NULL,
    notification_id VARCHAR(36) NULL,
    outcome VARCHAR(32) NOT NULL,
    provider_status VARCHAR(64) NOT NULL,
    body TEXT NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0,
    received_at BIGINT NOT NULL
  )`,
  `CREATE INDEX ix_receipts_pending ON receipts (provider, provider_message_id, applied)`,
  `CREATE TABLE artifacts (
    sha256 VARCHAR(64) PRIMARY KEY,
    media_type VARCHAR(100) NOT NULL,
    size INTEGER NOT NULL,
    content ${blob} NOT NULL,
    created_at BIGINT NOT NULL
  )`,
];

export class InitialSqlite1764057600000 implements MigrationInterface {
  name = 'InitialSqlite1764057600000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of common('BLOB', 'INTEGER PRIMARY KEY AUTOINCREMENT')) await q.query(sql);
    await q.query(`CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence_events
      BEGIN SELECT RAISE(ABORT, 'evidence_events is append-only'); END`);
    await q.query(`CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence_events
      BEGIN SELECT RAISE(ABORT, 'evidence_events is append-only'); END`);
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of ['artifacts', 'receipts', 'case_heads', 'evidence_events', 'notifications']) {
      await q.query(`DROP TABLE ${t}`);
    }
  }
}

export class InitialPostgres1764057600000 implements MigrationInterface {
  name = 'InitialPostgres1764057600000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of common('BYTEA', 'BIGSERIAL PRIMARY KEY')) await q.query(sql);
    await q.query(`CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'evidence_events is append-only'; END $$`);
    await q.query(`CREATE TRIGGER evidence_no_update_delete BEFORE UPDATE OR DELETE ON evidence_events
      FOR EACH ROW EXECUTE FUNCTION evidence_append_only()`);
    await q.query(`CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence_events
      FOR EACH STATEMENT EXECUTE FUNCTION evidence_append_only()`);
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of ['artifacts', 'receipts', 'case_heads', 'evidence_events', 'notifications']) {
      await q.query(`DROP TABLE ${t}`);
    }
    await q.query(`DROP FUNCTION evidence_append_only()`);
  }
}
