import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * API keys: only the SHA-256 of the secret part is stored. `id` is the public part of the key
 * (`cns_<id>_<secret>`), so a lookup is by primary key and the hash comparison is constant-time.
 */
const statements = [
  `CREATE TABLE api_keys (
    id VARCHAR(32) PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    secret_sha256 VARCHAR(64) NOT NULL,
    scopes TEXT NOT NULL,
    rate_per_second INTEGER NULL,
    rate_burst INTEGER NULL,
    created_by VARCHAR(128) NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    revoked_by VARCHAR(128) NULL
  )`,
  `CREATE INDEX ix_api_keys_name ON api_keys (name)`,
];

export class ApiKeysSqlite1764200000000 implements MigrationInterface {
  name = 'ApiKeysSqlite1764200000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE api_keys');
  }
}

export class ApiKeysPostgres1764200000000 implements MigrationInterface {
  name = 'ApiKeysPostgres1764200000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of statements) await q.query(sql);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE api_keys');
  }
}
