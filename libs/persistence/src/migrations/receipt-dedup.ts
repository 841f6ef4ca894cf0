import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Receipt provenance and replays: `dedup_key` identifies an inbound provider event (a replay
 * inserts nothing, in the same transaction as the receipt); `refused_reason` marks a receipt
 * that was kept but not applied (wrong provider or channel for the notification it names).
 */
const statements = [
  `ALTER TABLE receipts ADD COLUMN dedup_key VARCHAR(200) NULL`,
  `ALTER TABLE receipts ADD COLUMN refused_reason VARCHAR(300) NULL`,
  `CREATE UNIQUE INDEX ux_receipts_dedup_key ON receipts (dedup_key)`,
];

async function down(q: QueryRunner): Promise<void> {
  await q.query('DROP INDEX ux_receipts_dedup_key');
  await q.query('ALTER TABLE receipts DROP COLUMN refused_reason');
  await q.query('ALTER TABLE receipts DROP COLUMN dedup_key');
}

export class ReceiptDedupSqlite1764600000000 implements MigrationInterface {
  name = 'ReceiptDedupSqlite1764600000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}

export class ReceiptDedupPostgres1764600000000 implements MigrationInterface {
  name = 'ReceiptDedupPostgres1764600000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  down = down;
}
