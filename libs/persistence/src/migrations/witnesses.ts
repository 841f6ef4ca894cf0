import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The evidence log's checkpoints as C2SP signed notes, and what each witness answered
 * (`cosignature` lines, or the `error`). Both append-only.
 */
const tables = (id: string) => [
  `CREATE TABLE checkpoint_notes (
    checkpoint_id BIGINT PRIMARY KEY,
    origin VARCHAR(200) NOT NULL,
    log_size BIGINT NOT NULL,
    note TEXT NOT NULL
  )`,
  `CREATE TABLE witness_cosignatures (
    id ${id},
    checkpoint_id BIGINT NOT NULL,
    witness VARCHAR(500) NOT NULL,
    log_size BIGINT NOT NULL,
    cosignature TEXT NULL,
    error VARCHAR(600) NULL,
    received_at BIGINT NOT NULL
  )`,
  `CREATE INDEX ix_witness_cosignatures_cp ON witness_cosignatures (checkpoint_id)`,
  `CREATE INDEX ix_witness_cosignatures_w ON witness_cosignatures (witness, log_size)`,
];
const APPEND_ONLY = ['checkpoint_notes', 'witness_cosignatures'];

export class WitnessesSqlite1764720000000 implements MigrationInterface {
  name = 'WitnessesSqlite1764720000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of tables('INTEGER PRIMARY KEY AUTOINCREMENT')) await q.query(sql);
    for (const t of APPEND_ONLY) {
      await q.query(`CREATE TRIGGER ${t}_no_update BEFORE UPDATE ON ${t}
        BEGIN SELECT RAISE(ABORT, '${t} is append-only'); END`);
      await q.query(`CREATE TRIGGER ${t}_no_delete BEFORE DELETE ON ${t}
        BEGIN SELECT RAISE(ABORT, '${t} is append-only'); END`);
    }
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of APPEND_ONLY) await q.query(`DROP TABLE ${t}`);
  }
}

export class WitnessesPostgres1764720000000 implements MigrationInterface {
  name = 'WitnessesPostgres1764720000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of tables('BIGSERIAL PRIMARY KEY')) await q.query(sql);
    await q.query(`CREATE FUNCTION witness_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$`);
    for (const t of APPEND_ONLY) {
      await q.query(`CREATE TRIGGER ${t}_no_update_delete BEFORE UPDATE OR DELETE ON ${t}
        FOR EACH ROW EXECUTE FUNCTION witness_append_only()`);
      await q.query(`CREATE TRIGGER ${t}_no_truncate BEFORE TRUNCATE ON ${t}
        FOR EACH STATEMENT EXECUTE FUNCTION witness_append_only()`);
    }
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of APPEND_ONLY) await q.query(`DROP TABLE ${t}`);
    await q.query('DROP FUNCTION witness_append_only()');
  }
}
