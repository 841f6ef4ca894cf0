import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Compliance state: case holds, opt-outs (and refusals), the contact log the frequency caps
 * count, and one lock row per recipient address that serialises send-time gate checks across
 * workers (the cap check and the reservation commit together).
 */
const statements = [
  `CREATE TABLE case_holds (
    id VARCHAR(36) PRIMARY KEY,
    case_id VARCHAR(64) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    until_at BIGINT NULL,
    reason TEXT NULL,
    breached INTEGER NOT NULL DEFAULT 0,
    created_by VARCHAR(128) NOT NULL,
    created_at BIGINT NOT NULL,
    released_at BIGINT NULL,
    released_by VARCHAR(128) NULL
  )`,
  `CREATE INDEX ix_case_holds_case ON case_holds (case_id, released_at)`,
  `CREATE TABLE opt_outs (
    address VARCHAR(320) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    reason VARCHAR(32) NOT NULL,
    source TEXT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (address, channel)
  )`,
  `CREATE TABLE contact_log (
    notification_id VARCHAR(36) PRIMARY KEY,
    address VARCHAR(320) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    case_id VARCHAR(64) NOT NULL,
    stage VARCHAR(16) NULL,
    sent_at BIGINT NOT NULL
  )`,
  `CREATE INDEX ix_contact_log_address ON contact_log (address, sent_at)`,
  `CREATE INDEX ix_contact_log_case ON contact_log (case_id, sent_at)`,
  `CREATE TABLE recipient_locks (
    address VARCHAR(330) PRIMARY KEY
  )`,
  `ALTER TABLE notifications ADD COLUMN hold_id VARCHAR(36) NULL`,
];

async function down(q: QueryRunner): Promise<void> {
  for (const t of ['recipient_locks', 'contact_log', 'opt_outs', 'case_holds'])
    await q.query(`DROP TABLE ${t}`);
  await q.query('ALTER TABLE notifications DROP COLUMN hold_id');
}

export class ComplianceSqlite1764100000000 implements MigrationInterface {
  name = 'ComplianceSqlite1764100000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}

export class CompliancePostgres1764100000000 implements MigrationInterface {
  name = 'CompliancePostgres1764100000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}
