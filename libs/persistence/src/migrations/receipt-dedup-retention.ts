import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Receipt dedup retention: `dedup_expires_at` (epoch ms, null = kept for as long as the receipt)
 * says when a receipt's dedup key may be released. Only keys of webhooks whose signature covers a
 * timestamp get one (a replay older than the tolerance is refused by its signature), after the
 * provider's retry window. `webhook_replays` is gone: the receipts' dedup key, claimed in the
 * transaction that applies the receipt, is the only replay guard.
 */
const statements = [
  `ALTER TABLE receipts ADD COLUMN dedup_expires_at BIGINT NULL`,
  `CREATE INDEX ix_receipts_dedup_expires ON receipts (dedup_expires_at)`,
  `DROP TABLE webhook_replays`,
];

async function down(q: QueryRunner): Promise<void> {
  await q.query(
    'CREATE TABLE webhook_replays (replay_key VARCHAR(200) PRIMARY KEY, expires_at BIGINT NOT NULL)',
  );
  await q.query('DROP INDEX ix_receipts_dedup_expires');
  await q.query('ALTER TABLE receipts DROP COLUMN dedup_expires_at');
}

export class ReceiptDedupRetentionSqlite1764710000000 implements MigrationInterface {
  name = 'ReceiptDedupRetentionSqlite1764710000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}

export class ReceiptDedupRetentionPostgres1764710000000 implements MigrationInterface {
  name = 'ReceiptDedupRetentionPostgres1764710000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}
