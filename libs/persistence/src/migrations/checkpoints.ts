import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Signed evidence checkpoints (docs/evidence.md): one row per checkpoint with the exact signed
 * bytes, the signature and the optional RFC 3161 token, and the tree's leaves stored as a delta:
 * `checkpoint_leaves` holds a case's head only when it differs from the case's previous leaf, so
 * the leaves of checkpoint K are, per case, the latest leaf with `checkpoint_id <= K`. Nothing
 * here is ever updated except the time-stamp columns, which are filled in after the TSA answers.
 */
const common = (blob: string, serial: string) => [
  `CREATE TABLE checkpoints (
    id ${serial},
    created_at BIGINT NOT NULL,
    tree_size INTEGER NOT NULL,
    root_hash VARCHAR(64) NOT NULL,
    key_id VARCHAR(64) NOT NULL,
    body TEXT NOT NULL,
    signature VARCHAR(128) NOT NULL,
    reason VARCHAR(32) NOT NULL,
    tsa_token ${blob} NULL,
    tsa_gen_time VARCHAR(30) NULL,
    tsa_error TEXT NULL
  )`,
  `CREATE TABLE checkpoint_leaves (
    checkpoint_id BIGINT NOT NULL,
    case_id VARCHAR(64) NOT NULL,
    seq INTEGER NOT NULL,
    hash VARCHAR(64) NOT NULL,
    PRIMARY KEY (case_id, checkpoint_id)
  )`,
  `CREATE INDEX ix_checkpoint_leaves_checkpoint ON checkpoint_leaves (checkpoint_id)`,
];

async function down(q: QueryRunner): Promise<void> {
  await q.query('DROP TABLE checkpoint_leaves');
  await q.query('DROP TABLE checkpoints');
}

export class CheckpointsSqlite1764560000000 implements MigrationInterface {
  name = 'CheckpointsSqlite1764560000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of common('BLOB', 'INTEGER PRIMARY KEY AUTOINCREMENT')) await q.query(sql);
  }
  down = down;
}

export class CheckpointsPostgres1764560000000 implements MigrationInterface {
  name = 'CheckpointsPostgres1764560000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of common('BYTEA', 'BIGSERIAL PRIMARY KEY')) await q.query(sql);
  }
  down = down;
}
