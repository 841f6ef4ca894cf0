import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook replay protection (one row per accepted provider event id, kept past the signature
 * tolerance window) and escalation links between notifications.
 */
const statements = [
  `CREATE TABLE webhook_replays (
    replay_key VARCHAR(200) PRIMARY KEY,
    expires_at BIGINT NOT NULL
  )`,
  `ALTER TABLE notifications ADD COLUMN parent_id VARCHAR(36) NULL`,
  `ALTER TABLE notifications ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0`,
  `CREATE INDEX ix_notifications_parent ON notifications (parent_id)`,
];

async function down(q: QueryRunner): Promise<void> {
  await q.query('DROP INDEX ix_notifications_parent');
  await q.query('ALTER TABLE notifications DROP COLUMN escalation_step');
  await q.query('ALTER TABLE notifications DROP COLUMN parent_id');
  await q.query('DROP TABLE webhook_replays');
}

export class WebhooksSqlite1764400000000 implements MigrationInterface {
  name = 'WebhooksSqlite1764400000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}

export class WebhooksPostgres1764400000000 implements MigrationInterface {
  name = 'WebhooksPostgres1764400000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}
