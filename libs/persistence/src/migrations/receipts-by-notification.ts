import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Receipts by notification: the parked-receipt lookup run on every recorded send
 * (`provider = ? AND provider_message_id = ?) OR notification_id = ?`) and the crash-recovery
 * lookup by our id were a scan of `receipts` for their `notification_id` side (1.4 ms at 30k
 * receipts, 25 ms at 600k, under the recipient lock). With this index both sides are index
 * searches (a multi-index OR), flat as the table grows.
 */
const up = async (q: QueryRunner) => {
  await q.query('CREATE INDEX ix_receipts_notification ON receipts (notification_id, received_at)');
};
const down = async (q: QueryRunner) => {
  await q.query('DROP INDEX ix_receipts_notification');
};

export class ReceiptsByNotificationSqlite1764810000000 implements MigrationInterface {
  name = 'ReceiptsByNotificationSqlite1764810000000';
  up = up;
  down = down;
}

export class ReceiptsByNotificationPostgres1764810000000 implements MigrationInterface {
  name = 'ReceiptsByNotificationPostgres1764810000000';
  up = up;
  down = down;
}
