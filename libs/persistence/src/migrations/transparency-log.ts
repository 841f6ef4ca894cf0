import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The evidence transparency log (docs/evidence.md, "Transparency log"):
 *
 * - `evidence_sets`: one signed entry timestamp (SET) per append batch, the exact signed bytes
 *   (canonical JSON listing every new event's caseId, seq and hash, and the time) and the
 *   Ed25519 signature; `evidence_set_cases` indexes them by case and seq range.
 * - `log_leaves`: the global Merkle log, one leaf per evidence event in integration order.
 * - `evidence_alerts`: integrity alerts; only the acknowledgement columns are ever filled in.
 * - `checkpoints` gain the log size and root they sign.
 *
 * Triggers make every one of these append-only (checkpoints: except the time-stamp columns,
 * from NULL), and `case_heads` forward-only: a head never moves back, is never deleted, and only
 * points at an existing event that a signed entry timestamp covers.
 */
const common = (serial: string) => [
  `CREATE TABLE evidence_sets (
    id ${serial},
    created_at BIGINT NOT NULL,
    key_id VARCHAR(64) NOT NULL,
    body TEXT NOT NULL,
    signature VARCHAR(128) NOT NULL
  )`,
  `CREATE TABLE evidence_set_cases (
    set_id BIGINT NOT NULL,
    case_id VARCHAR(64) NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    PRIMARY KEY (case_id, from_seq)
  )`,
  `CREATE TABLE log_leaves (
    idx BIGINT PRIMARY KEY,
    event_id BIGINT NOT NULL,
    case_id VARCHAR(64) NOT NULL,
    seq INTEGER NOT NULL,
    leaf_hash VARCHAR(64) NOT NULL
  )`,
  `CREATE UNIQUE INDEX ux_log_leaves_event ON log_leaves (event_id)`,
  `CREATE TABLE evidence_alerts (
    id ${serial},
    created_at BIGINT NOT NULL,
    kind VARCHAR(32) NOT NULL,
    fingerprint VARCHAR(64) NOT NULL,
    detail TEXT NOT NULL,
    acked_at BIGINT NULL,
    acked_by VARCHAR(128) NULL
  )`,
  `CREATE UNIQUE INDEX ux_evidence_alerts_fingerprint ON evidence_alerts (fingerprint)`,
  `ALTER TABLE checkpoints ADD COLUMN log_size BIGINT NULL`,
  `ALTER TABLE checkpoints ADD COLUMN log_root VARCHAR(64) NULL`,
];

/**
 * Events appended before this migration have no SET: one unsigned `legacy` SET row and a range
 * per case (1..head) mark them, and the first start with the signing key signs an adoption SET
 * over those heads (EvidenceIntegrity.adoptLegacy), so they verify through their chains.
 */
async function markLegacy(q: QueryRunner): Promise<void> {
  const rows = (await q.query('SELECT COUNT(*) AS n FROM case_heads WHERE last_seq > 0')) as {
    n: number | string;
  }[];
  if (Number(rows[0]?.n ?? 0) === 0) return;
  await q.query(
    `INSERT INTO evidence_sets (created_at, key_id, body, signature) VALUES (${Date.now()}, 'legacy', '{"type":"cns-evidence-legacy/v1"}', '')`,
  );
  await q.query(`INSERT INTO evidence_set_cases (set_id, case_id, from_seq, to_seq)
    SELECT (SELECT MAX(id) FROM evidence_sets), case_id, 1, last_seq FROM case_heads WHERE last_seq > 0`);
}

const APPEND_ONLY = ['evidence_sets', 'evidence_set_cases', 'log_leaves', 'checkpoint_leaves'];

/** A case head may point at (case, seq, hash) only when that event exists and a SET covers it. */
const SIGNED_EVENT = `SELECT 1 FROM evidence_events e
  JOIN evidence_set_cases c ON c.case_id = e.case_id AND c.from_seq <= e.seq AND c.to_seq >= e.seq
  WHERE e.case_id = NEW.case_id AND e.seq = NEW.last_seq AND e.hash = NEW.last_hash`;

const CHECKPOINT_FIXED = [
  'id',
  'created_at',
  'tree_size',
  'root_hash',
  'key_id',
  'body',
  'signature',
  'reason',
  'log_size',
  'log_root',
];
const CHECKPOINT_TSA = ['tsa_token', 'tsa_gen_time', 'tsa_error'];

const DROP = [
  'DROP TABLE evidence_alerts',
  'DROP TABLE log_leaves',
  'DROP TABLE evidence_set_cases',
  'DROP TABLE evidence_sets',
];

export class TransparencyLogSqlite1764700000000 implements MigrationInterface {
  name = 'TransparencyLogSqlite1764700000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of common('INTEGER PRIMARY KEY AUTOINCREMENT')) await q.query(sql);
    await markLegacy(q);
    for (const t of APPEND_ONLY) {
      await q.query(`CREATE TRIGGER ${t}_no_update BEFORE UPDATE ON ${t}
        BEGIN SELECT RAISE(ABORT, '${t} is append-only'); END`);
      await q.query(`CREATE TRIGGER ${t}_no_delete BEFORE DELETE ON ${t}
        BEGIN SELECT RAISE(ABORT, '${t} is append-only'); END`);
    }
    await q.query(`CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
      BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END`);
    await q.query(`CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
      WHEN ${CHECKPOINT_FIXED.map((c) => `NEW.${c} IS NOT OLD.${c}`).join(' OR ')}
        OR ${CHECKPOINT_TSA.map((c) => `(OLD.${c} IS NOT NULL AND NEW.${c} IS NOT OLD.${c})`).join(' OR ')}
      BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only (only a missing time stamp may be filled in)'); END`);
    await q.query(`CREATE TRIGGER evidence_alerts_no_delete BEFORE DELETE ON evidence_alerts
      BEGIN SELECT RAISE(ABORT, 'evidence_alerts is append-only'); END`);
    await q.query(`CREATE TRIGGER evidence_alerts_no_update BEFORE UPDATE ON evidence_alerts
      WHEN NEW.id IS NOT OLD.id OR NEW.created_at IS NOT OLD.created_at OR NEW.kind IS NOT OLD.kind
        OR NEW.fingerprint IS NOT OLD.fingerprint OR NEW.detail IS NOT OLD.detail
        OR OLD.acked_at IS NOT NULL OR NEW.acked_at IS NULL OR NEW.acked_by IS NULL
      BEGIN SELECT RAISE(ABORT, 'evidence_alerts is append-only (an alert is acknowledged once)'); END`);
    await q.query(`CREATE TRIGGER case_heads_no_delete BEFORE DELETE ON case_heads
      BEGIN SELECT RAISE(ABORT, 'case_heads only moves forward: a head cannot be deleted'); END`);
    await q.query(`CREATE TRIGGER case_heads_start_at_zero BEFORE INSERT ON case_heads
      WHEN NEW.last_seq <> 0
      BEGIN SELECT RAISE(ABORT, 'case_heads only moves forward: a head starts at seq 0'); END`);
    await q.query(`CREATE TRIGGER case_heads_forward BEFORE UPDATE ON case_heads
      WHEN NEW.case_id IS NOT OLD.case_id OR NEW.last_seq < OLD.last_seq
        OR ((NEW.last_seq IS NOT OLD.last_seq OR NEW.last_hash IS NOT OLD.last_hash) AND NOT EXISTS (${SIGNED_EVENT}))
      BEGIN SELECT RAISE(ABORT, 'case_heads only moves forward, to an existing signed event'); END`);
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of ['case_heads_no_delete', 'case_heads_start_at_zero', 'case_heads_forward']) {
      await q.query(`DROP TRIGGER ${t}`);
    }
    for (const t of ['checkpoints_no_delete', 'checkpoints_no_update']) await q.query(`DROP TRIGGER ${t}`);
    for (const t of ['checkpoint_leaves_no_update', 'checkpoint_leaves_no_delete']) {
      await q.query(`DROP TRIGGER ${t}`);
    }
    for (const sql of DROP) await q.query(sql);
    await q.query('ALTER TABLE checkpoints DROP COLUMN log_root');
    await q.query('ALTER TABLE checkpoints DROP COLUMN log_size');
  }
}

export class TransparencyLogPostgres1764700000000 implements MigrationInterface {
  name = 'TransparencyLogPostgres1764700000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of common('BIGSERIAL PRIMARY KEY')) await q.query(sql);
    await markLegacy(q);
    await q.query(`CREATE FUNCTION transparency_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$`);
    for (const t of [...APPEND_ONLY, 'checkpoints', 'evidence_alerts']) {
      const ops = t === 'checkpoints' || t === 'evidence_alerts' ? 'DELETE' : 'UPDATE OR DELETE';
      await q.query(`CREATE TRIGGER ${t}_append_only BEFORE ${ops} ON ${t}
        FOR EACH ROW EXECUTE FUNCTION transparency_append_only()`);
      await q.query(`CREATE TRIGGER ${t}_no_truncate BEFORE TRUNCATE ON ${t}
        FOR EACH STATEMENT EXECUTE FUNCTION transparency_append_only()`);
    }
    await q.query(`CREATE FUNCTION checkpoints_tsa_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF ${CHECKPOINT_FIXED.map((c) => `NEW.${c} IS DISTINCT FROM OLD.${c}`).join(' OR ')}
          OR ${CHECKPOINT_TSA.map((c) => `(OLD.${c} IS NOT NULL AND NEW.${c} IS DISTINCT FROM OLD.${c})`).join(' OR ')} THEN
          RAISE EXCEPTION 'checkpoints is append-only (only a missing time stamp may be filled in)';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER checkpoints_tsa_only BEFORE UPDATE ON checkpoints
      FOR EACH ROW EXECUTE FUNCTION checkpoints_tsa_only()`);
    await q.query(`CREATE FUNCTION evidence_alerts_ack_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id IS DISTINCT FROM OLD.id OR NEW.created_at IS DISTINCT FROM OLD.created_at
          OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.fingerprint IS DISTINCT FROM OLD.fingerprint
          OR NEW.detail IS DISTINCT FROM OLD.detail OR OLD.acked_at IS NOT NULL
          OR NEW.acked_at IS NULL OR NEW.acked_by IS NULL THEN
          RAISE EXCEPTION 'evidence_alerts is append-only (an alert is acknowledged once)';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER evidence_alerts_ack_only BEFORE UPDATE ON evidence_alerts
      FOR EACH ROW EXECUTE FUNCTION evidence_alerts_ack_only()`);
    await q.query(`CREATE FUNCTION case_heads_forward() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
          RAISE EXCEPTION 'case_heads only moves forward: a head cannot be deleted';
        END IF;
        IF TG_OP = 'INSERT' THEN
          IF NEW.last_seq <> 0 THEN RAISE EXCEPTION 'case_heads only moves forward: a head starts at seq 0'; END IF;
          RETURN NEW;
        END IF;
        IF NEW.case_id IS DISTINCT FROM OLD.case_id OR NEW.last_seq < OLD.last_seq
          OR ((NEW.last_seq IS DISTINCT FROM OLD.last_seq OR NEW.last_hash IS DISTINCT FROM OLD.last_hash)
              AND NOT EXISTS (${SIGNED_EVENT})) THEN
          RAISE EXCEPTION 'case_heads only moves forward, to an existing signed event';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER case_heads_forward BEFORE INSERT OR UPDATE OR DELETE ON case_heads
      FOR EACH ROW EXECUTE FUNCTION case_heads_forward()`);
    await q.query(`CREATE TRIGGER case_heads_no_truncate BEFORE TRUNCATE ON case_heads
      FOR EACH STATEMENT EXECUTE FUNCTION case_heads_forward()`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER case_heads_forward ON case_heads');
    await q.query('DROP TRIGGER case_heads_no_truncate ON case_heads');
    await q.query('DROP FUNCTION case_heads_forward()');
    await q.query('DROP TRIGGER checkpoints_tsa_only ON checkpoints');
    await q.query('DROP FUNCTION checkpoints_tsa_only()');
    for (const t of ['checkpoints', 'checkpoint_leaves']) {
      await q.query(`DROP TRIGGER ${t}_append_only ON ${t}`);
      await q.query(`DROP TRIGGER ${t}_no_truncate ON ${t}`);
    }
    for (const sql of DROP) await q.query(sql);
    await q.query('DROP FUNCTION evidence_alerts_ack_only()');
    await q.query('DROP FUNCTION transparency_append_only()');
    await q.query('ALTER TABLE checkpoints DROP COLUMN log_root');
    await q.query('ALTER TABLE checkpoints DROP COLUMN log_size');
  }
}
