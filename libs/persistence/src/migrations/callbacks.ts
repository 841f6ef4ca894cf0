import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Status callbacks to callers (docs/api.md, "Callbacks"):
 * - `notifications.caller` / `callback_url`: who accepted the notice (its idempotency scope) and
 *   the per-request callback URL, if any;
 * - `callback_secrets`: one signing secret per caller;
 * - `callback_endpoints`: the URLs a caller registered for all of its notices;
 * - `callback_deliveries`: the durable outbox, one row per (event, target), written in the
 *   transaction that changes the status; `seq` is the evidence event's seq (order per notice);
 *   retried until `retry_from` + CALLBACK_RETRY_FOR_MS (a replay starts a new window);
 * - `callback_attempts`: every delivery attempt and its answer.
 */
const statements = (id: string) => [
  `ALTER TABLE notifications ADD COLUMN caller VARCHAR(200) NULL`,
  `ALTER TABLE notifications ADD COLUMN callback_url VARCHAR(2000) NULL`,
  `CREATE TABLE callback_secrets (
    owner VARCHAR(200) PRIMARY KEY,
    secret VARCHAR(100) NOT NULL,
    created_at BIGINT NOT NULL
  )`,
  `CREATE TABLE callback_endpoints (
    id VARCHAR(36) PRIMARY KEY,
    owner VARCHAR(200) NOT NULL,
    url VARCHAR(2000) NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT NULL
  )`,
  `CREATE INDEX ix_callback_endpoints_owner ON callback_endpoints (owner, disabled_at)`,
  `CREATE TABLE callback_deliveries (
    id VARCHAR(120) PRIMARY KEY,
    event_id VARCHAR(36) NOT NULL,
    owner VARCHAR(200) NOT NULL,
    endpoint_id VARCHAR(36) NULL,
    url VARCHAR(2000) NOT NULL,
    notification_id VARCHAR(36) NOT NULL,
    seq BIGINT NOT NULL,
    type VARCHAR(40) NOT NULL,
    body TEXT NOT NULL,
    status VARCHAR(12) NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NULL,
    last_status_code INTEGER NULL,
    last_error VARCHAR(600) NULL,
    created_at BIGINT NOT NULL,
    retry_from BIGINT NOT NULL,
    delivered_at BIGINT NULL
  )`,
  `CREATE INDEX ix_callback_deliveries_due ON callback_deliveries (status, next_attempt_at)`,
  `CREATE INDEX ix_callback_deliveries_order ON callback_deliveries (notification_id, url, seq)`,
  `CREATE INDEX ix_callback_deliveries_owner ON callback_deliveries (owner, created_at, id)`,
  `CREATE TABLE callback_attempts (
    id ${id},
    delivery_id VARCHAR(120) NOT NULL,
    attempt INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER NULL,
    error VARCHAR(600) NULL
  )`,
  `CREATE INDEX ix_callback_attempts_delivery ON callback_attempts (delivery_id, attempt)`,
];

async function down(q: QueryRunner): Promise<void> {
  for (const t of ['callback_attempts', 'callback_deliveries', 'callback_endpoints', 'callback_secrets']) {
    await q.query(`DROP TABLE ${t}`);
  }
  await q.query('ALTER TABLE notifications DROP COLUMN callback_url');
  await q.query('ALTER TABLE notifications DROP COLUMN caller');
}

export class CallbacksSqlite1764800000000 implements MigrationInterface {
  name = 'CallbacksSqlite1764800000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements('INTEGER PRIMARY KEY AUTOINCREMENT')) await q.query(sql);
  }
  down = down;
}

export class CallbacksPostgres1764800000000 implements MigrationInterface {
  name = 'CallbacksPostgres1764800000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements('BIGSERIAL PRIMARY KEY')) await q.query(sql);
  }
  down = down;
}
