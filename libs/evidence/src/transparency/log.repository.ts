/**
 * The SQL of the transparency log and its integrity check: `log_leaves`, `evidence_alerts`, the
 * reads of `evidence_sets`, `checkpoints` and `checkpoint_leaves` the check makes, and the
 * witnesses' `checkpoint_notes` and `witness_cosignatures`. EvidenceIntegrity and
 * WitnessPublisher reach these only through here. Methods with a `runner`/`tx` run on the
 * caller's connection (the check's snapshot, the checkpoint writer's transaction); the others on
 * the pool.
 */
import { Injectable } from '@nestjs/common';
import { Db, type SqlRunner } from '#libs/persistence';

/** A row of `evidence_alerts`. */
export interface AlertRow {
  id: number | string;
  created_at: number | string;
  kind: string;
  detail: string;
  acked_at: number | string | null;
  acked_by: string | null;
}

/** An event not yet in the log. */
export interface UnloggedEventRow {
  id: number | string;
  case_id: string;
  seq: number | string;
}

/** A log leaf as it is inserted. */
export interface LeafInsert {
  idx: number;
  eventId: number | string;
  caseId: string;
  seq: number;
  leafHash: string;
}

/** A row of `witness_cosignatures` with a cosignature. */
export interface CosignatureRow {
  witness: string;
  cosignature: string;
  log_size: number | string;
}

const ALERT_COLUMNS = 'id, created_at, kind, detail, acked_at, acked_by';
/** Leaves per multi-row INSERT (5 parameters each). */
const CHUNK = 500;

function maxOrNull(row: { m: number | string | null } | undefined): number | null {
  return row?.m === null || row?.m === undefined ? null : Number(row.m);
}

@Injectable()
export class LogRepository {
  private pages?: { leaves: string; sets: string };

  constructor(private readonly db: Db) {}

  /**
   * `SELECT` of one JSON array over `rows` (a subquery with an `ord` column) in `ord` order: the
   * database builds the page as one string. SQLite aggregates in the order of an ordered subquery
   * (faster than its aggregate ORDER BY); the worker refuses a page out of order.
   */
  private jsonPage(values: string, rows: string): string {
    return this.db.dialect === 'postgres'
      ? `SELECT json_agg(json_build_array(${values}) ORDER BY ord)::text AS page FROM (${rows}) r`
      : `SELECT json_group_array(json_array(${values})) AS page FROM (${rows} ORDER BY ord) r`;
  }

  private pageSql(): { leaves: string; sets: string } {
    this.pages ??= {
      leaves: this.jsonPage(
        'idx, leaf_hash, e_hash, e_seq, e_case',
        `SELECT l.idx AS ord, l.idx, l.leaf_hash, e.hash AS e_hash, e.seq AS e_seq, e.case_id AS e_case
       FROM log_leaves l LEFT JOIN evidence_events e ON e.id = l.event_id WHERE l.idx >= ? AND l.idx < ?`,
      ),
      sets: this.jsonPage(
        'id, key_id, body, signature',
        'SELECT id AS ord, id, key_id, body, signature FROM evidence_sets WHERE id >= ? AND id < ?',
      ),
    };
    return this.pages;
  }

  // --- Adoption of pre-SET events (evidence_sets) ---

  /** The first SET row with key id `keyId` (the migration's legacy marker). */
  async firstSetWithKey(keyId: string): Promise<number | undefined> {
    const [row] = await this.db.rows<{ id: number | string }>(
      'SELECT id FROM evidence_sets WHERE key_id = ? ORDER BY id LIMIT 1',
      [keyId],
    );
    return row ? Number(row.id) : undefined;
  }

  /** Whether some SET adopts pre-transparency events (its body starts with `{"adopts":`). */
  async hasAdoption(): Promise<boolean> {
    const [done] = await this.db.rows<{ id: number | string }>(
      `SELECT id FROM evidence_sets WHERE body LIKE '{"adopts":%' LIMIT 1`,
    );
    return done !== undefined;
  }

  /** Per case, the last event a SET's range covers (case-id order). */
  setHeads(setId: number): Promise<{ case_id: string; to_seq: number | string; hash: string }[]> {
    return this.db.rows<{ case_id: string; to_seq: number | string; hash: string }>(
      `SELECT c.case_id, c.to_seq, e.hash FROM evidence_set_cases c
       JOIN evidence_events e ON e.case_id = c.case_id AND e.seq = c.to_seq
       WHERE c.set_id = ? ORDER BY c.case_id`,
      [setId],
    );
  }

  /** Stores a SET outside any transaction (the adoption SET) and returns its id. */
  async insertSet(s: { createdAt: number; keyId: string; body: string; signature: string }): Promise<number> {
    const [row] = await this.db.rows<{ id: number | string }>(
      'INSERT INTO evidence_sets (created_at, key_id, body, signature) VALUES (?, ?, ?, ?) RETURNING id',
      [s.createdAt, s.keyId, s.body, s.signature],
    );
    return Number(row.id);
  }

  // --- The log (log_leaves) ---

  /** The index the next leaf gets: MAX(idx) + 1, 0 for an empty log. */
  async nextIndex(tx: SqlRunner): Promise<number> {
    const [size] = await tx.rows<{ n: number | string | null }>(
      'SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM log_leaves',
    );
    return Number(size?.n ?? 0);
  }

  /** Every event not yet in the log, by id (the integration order). */
  unloggedEvents(tx: SqlRunner): Promise<(UnloggedEventRow & { hash: string })[]> {
    return tx.rows<UnloggedEventRow & { hash: string }>(
      `SELECT e.id, e.case_id, e.seq, e.hash FROM evidence_events e
       WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.event_id = e.id) ORDER BY e.id`,
    );
  }

  /** Appends leaves to the log (one multi-row INSERT per chunk). */
  async insertLeaves(tx: SqlRunner, leaves: LeafInsert[]): Promise<void> {
    for (let i = 0; i < leaves.length; i += CHUNK) {
      const part = leaves.slice(i, i + CHUNK);
      await tx.exec(
        `INSERT INTO log_leaves (idx, event_id, case_id, seq, leaf_hash) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
        part.flatMap((l) => [l.idx, l.eventId, l.caseId, l.seq, l.leafHash]),
      );
    }
  }

  /** Stored leaf hashes in idx order. */
  async leafHashes(runner: SqlRunner = this.db): Promise<string[]> {
    const rows = await runner.rows<{ leaf_hash: string }>('SELECT leaf_hash FROM log_leaves ORDER BY idx');
    return rows.map((r) => r.leaf_hash);
  }

  /** Up to `take` leaves after index `after`, in idx order. */
  leavesAfter(
    runner: SqlRunner,
    after: number,
    take: number,
  ): Promise<{ idx: number | string; leaf_hash: string }[]> {
    return runner.rows<{ idx: number | string; leaf_hash: string }>(
      'SELECT idx, leaf_hash FROM log_leaves WHERE idx > ? ORDER BY idx LIMIT ?',
      [after, take],
    );
  }

  /** The highest leaf index (null for an empty log) and the number of stored leaves. */
  async leafExtent(runner: SqlRunner): Promise<{ max: number | null; count: number }> {
    const [extent] = await runner.rows<{ m: number | string | null; c: number | string }>(
      'SELECT MAX(idx) AS m, COUNT(*) AS c FROM log_leaves',
    );
    return { max: maxOrNull(extent), count: Number(extent?.c ?? 0) };
  }

  /**
   * Leaves with idx in [start, end) joined with their event rows, as one JSON array of
   * `[idx, leaf_hash, e_hash, e_seq, e_case]` in idx order (null when there are none).
   */
  async leafPage(runner: SqlRunner, start: number, end: number): Promise<string | null> {
    const [row] = await runner.rows<{ page: string | null }>(this.pageSql().leaves, [start, end]);
    return row?.page ?? null;
  }

  /** The first stored leaf index after `idx`. */
  async nextLeafAfter(runner: SqlRunner, idx: number): Promise<number> {
    const [next] = await runner.rows<{ n: number | string }>(
      'SELECT MIN(idx) AS n FROM log_leaves WHERE idx > ?',
      [idx],
    );
    return Number(next.n);
  }

  /** What leaf `idx` was logged from. */
  async leafAt(
    runner: SqlRunner,
    idx: number,
  ): Promise<{ event_id: number | string; case_id: string; seq: number | string }> {
    const [r] = await runner.rows<{ event_id: number | string; case_id: string; seq: number | string }>(
      'SELECT event_id, case_id, seq FROM log_leaves WHERE idx = ?',
      [idx],
    );
    return r;
  }

  /**
   * Up to 1000 log leaves of a case with `afterSeq < seq <= upToSeq` among the first `size` leaves,
   * in seq order (a bundle's inclusion proofs).
   */
  caseLeaves(
    caseId: string,
    afterSeq: number,
    upToSeq: number,
    size: number,
  ): Promise<{ idx: number | string; seq: number | string }[]> {
    return this.db.rows<{ idx: number | string; seq: number | string }>(
      'SELECT idx, seq FROM log_leaves WHERE case_id = ? AND seq > ? AND seq <= ? AND idx < ? ORDER BY seq LIMIT 1000',
      [caseId, afterSeq, upToSeq, size],
    );
  }

  // --- What the check reads of SETs and checkpoints ---

  /** The highest SET id, null when there is none. */
  async maxSetId(runner: SqlRunner): Promise<number | null> {
    const [extent] = await runner.rows<{ m: number | string | null }>(
      'SELECT MAX(id) AS m FROM evidence_sets',
    );
    return maxOrNull(extent);
  }

  /** SETs with id in [start, end) as one JSON array of `[id, key_id, body, signature]` by id. */
  async setPage(runner: SqlRunner, start: number, end: number): Promise<string | null> {
    const [row] = await runner.rows<{ page: string | null }>(this.pageSql().sets, [start, end]);
    return row?.page ?? null;
  }

  async latestCheckpoint(
    runner: SqlRunner,
  ): Promise<{ id: number | string; body: string; signature: string } | undefined> {
    const [cp] = await runner.rows<{ id: number | string; body: string; signature: string }>(
      'SELECT id, body, signature FROM checkpoints ORDER BY id DESC LIMIT 1',
    );
    return cp;
  }

  async checkpoint(runner: SqlRunner, id: number): Promise<{ body: string; signature: string } | undefined> {
    const [row] = await runner.rows<{ body: string; signature: string }>(
      'SELECT body, signature FROM checkpoints WHERE id = ?',
      [id],
    );
    return row;
  }

  /** The highest checkpoint id that has leaves, null when there are none. */
  async maxLeafCheckpointId(runner: SqlRunner): Promise<number | null> {
    const [row] = await runner.rows<{ m: number | string | null }>(
      'SELECT MAX(checkpoint_id) AS m FROM checkpoint_leaves',
    );
    return maxOrNull(row);
  }

  // --- Alerts (evidence_alerts) ---

  /** Records an alert unless its fingerprint is recorded already; returns the new id, or null. */
  async insertAlert(a: {
    at: number;
    kind: string;
    fingerprint: string;
    detail: string;
  }): Promise<number | null> {
    const inserted = await this.db.rows<{ id: number | string }>(
      `INSERT INTO evidence_alerts (created_at, kind, fingerprint, detail) VALUES (?, ?, ?, ?)
         ON CONFLICT (fingerprint) DO NOTHING RETURNING id`,
      [a.at, a.kind, a.fingerprint, a.detail],
    );
    return inserted.length > 0 ? Number(inserted[0].id) : null;
  }

  /** The alert of a fingerprint's acknowledgement time: undefined when not recorded. */
  async alertAckedAt(
    fingerprint: string,
    runner: SqlRunner = this.db,
  ): Promise<{ acked_at: number | string | null } | undefined> {
    const [r] = await runner.rows<{ acked_at: number | string | null }>(
      'SELECT acked_at FROM evidence_alerts WHERE fingerprint = ?',
      [fingerprint],
    );
    return r;
  }

  openAlerts(): Promise<AlertRow[]> {
    return this.db.rows<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM evidence_alerts WHERE acked_at IS NULL ORDER BY id`,
    );
  }

  alerts(): Promise<AlertRow[]> {
    return this.db.rows<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM evidence_alerts ORDER BY id`);
  }

  async alert(id: number): Promise<AlertRow | undefined> {
    const [row] = await this.db.rows<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM evidence_alerts WHERE id = ?`, [
      id,
    ]);
    return row;
  }

  /** Acknowledges an alert that is not acknowledged yet (once: the trigger refuses a second). */
  async acknowledge(id: number, at: number, by: string): Promise<void> {
    await this.db.exec(
      'UPDATE evidence_alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL',
      [at, by, id],
    );
  }
}

/** The SQL of what witnesses are sent and answer: `checkpoint_notes`, `witness_cosignatures`. */
@Injectable()
export class WitnessRepository {
  constructor(private readonly db: Db) {}

  async insertNote(n: {
    checkpointId: number;
    origin: string;
    logSize: number;
    note: string;
  }): Promise<void> {
    await this.db.exec(
      'INSERT INTO checkpoint_notes (checkpoint_id, origin, log_size, note) VALUES (?, ?, ?, ?)',
      [n.checkpointId, n.origin, n.logSize, n.note],
    );
  }

  /** The largest log size `witness` cosigned, 0 when none. */
  async lastCosigned(witness: string): Promise<number> {
    const [row] = await this.db.rows<{ n: number | string | null }>(
      'SELECT MAX(log_size) AS n FROM witness_cosignatures WHERE witness = ? AND cosignature IS NOT NULL',
      [witness],
    );
    return row?.n === null || row?.n === undefined ? 0 : Number(row.n);
  }

  /** A witness's answer for a checkpoint: its cosignature, or why there is none. */
  async insertCosignature(
    c: {
      checkpointId: number;
      witness: string;
      logSize: number;
      cosignature: string | null;
      error: string | null;
      receivedAt: number;
    },
    runner: SqlRunner = this.db,
  ): Promise<void> {
    await runner.exec(
      'INSERT INTO witness_cosignatures (checkpoint_id, witness, log_size, cosignature, error, received_at) VALUES (?, ?, ?, ?, ?, ?)',
      [c.checkpointId, c.witness, c.logSize, c.cosignature, c.error, c.receivedAt],
    );
  }

  async note(checkpointId: number): Promise<{ note: string; log_size: number | string } | undefined> {
    const [n] = await this.db.rows<{ note: string; log_size: number | string }>(
      'SELECT note, log_size FROM checkpoint_notes WHERE checkpoint_id = ?',
      [checkpointId],
    );
    return n;
  }

  /** Log sizes of the notes of checkpoints before `checkpointId` smaller than `size`, ascending. */
  async earlierNoteSizes(checkpointId: number, size: number): Promise<number[]> {
    const rows = await this.db.rows<{ log_size: number | string }>(
      'SELECT DISTINCT log_size FROM checkpoint_notes WHERE checkpoint_id < ? AND log_size < ? ORDER BY log_size',
      [checkpointId, size],
    );
    return rows.map((r) => Number(r.log_size));
  }

  /** The cosignatures received for a checkpoint, in arrival order. */
  cosignatures(checkpointId: number): Promise<CosignatureRow[]> {
    return this.db.rows<CosignatureRow>(
      'SELECT witness, cosignature, log_size FROM witness_cosignatures WHERE checkpoint_id = ? AND cosignature IS NOT NULL ORDER BY id',
      [checkpointId],
    );
  }
}
