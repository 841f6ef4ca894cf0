/**
 * The SQL of the evidence ledger's tables: `case_heads`, `evidence_events`, `evidence_sets` and
 * `evidence_set_cases`. The services reach these tables only through here. Writes take the
 * caller's transaction (`tx`): the caller decides what commits together and in which order rows
 * are locked; reads without a runner go to the pool.
 */
import { Injectable } from '@nestjs/common';
import { Db, type SqlRunner } from '#libs/persistence';

/** A row of `evidence_events` as the drivers return it. */
export interface EventRow {
  case_id: string;
  seq: number | string;
  notification_id: string | null;
  type: string;
  occurred_at: string;
  recorded_at: string;
  payload: string;
  prev_hash: string;
  hash: string;
}

/** A case head as `case_heads` holds it. */
export interface CaseHeadRow {
  case_id: string;
  last_seq: number | string;
  last_hash: string;
}

/** An event as it is inserted: `payload` is the canonical JSON text that was hashed. */
export interface EventInsert {
  caseId: string;
  seq: number;
  notificationId: string | null;
  type: string;
  occurredAt: string;
  recordedAt: string;
  payload: string;
  prevHash: string;
  hash: string;
}

/** A row of `evidence_sets`. */
export interface SetRow {
  id: number | string;
  key_id: string;
  body: string;
  signature: string;
}

/**
 * Rows per multi-row statement: keeps the bound parameters under SQLite's and PostgreSQL's
 * limits for the widest row here (9 columns).
 */
const CHUNK = 500;

const EVENT_COLUMNS =
  'case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash';

@Injectable()
export class EvidenceRepository {
  constructor(private readonly db: Db) {}

  /**
   * Creates the missing heads (at `genesisHash`, seq 0) and returns every head of `caseIds`, which
   * must be sorted. ON CONFLICT DO UPDATE takes the row lock on PostgreSQL; rows are touched in
   * case-id order, so concurrent batches do not deadlock.
   */
  async lockHeads(tx: SqlRunner, caseIds: string[], genesisHash: string, at: number): Promise<CaseHeadRow[]> {
    const out: CaseHeadRow[] = [];
    for (let i = 0; i < caseIds.length; i += CHUNK) {
      const part = caseIds.slice(i, i + CHUNK);
      const rows = await tx.rows<CaseHeadRow>(
        `INSERT INTO case_heads (case_id, last_seq, last_hash, updated_at) VALUES ${part.map(() => '(?, 0, ?, ?)').join(', ')}
         ON CONFLICT (case_id) DO UPDATE SET updated_at = case_heads.updated_at
         RETURNING case_id, last_seq, last_hash`,
        part.flatMap((c) => [c, genesisHash, at]),
      );
      out.push(...rows);
    }
    return out;
  }

  /** Inserts chained events, in the order given (one multi-row INSERT per chunk). */
  async insertEvents(tx: SqlRunner, events: EventInsert[]): Promise<void> {
    for (let i = 0; i < events.length; i += CHUNK) {
      const part = events.slice(i, i + CHUNK);
      const values: unknown[] = [];
      for (const e of part) {
        values.push(
          e.caseId,
          e.seq,
          e.notificationId,
          e.type,
          e.occurredAt,
          e.recordedAt,
          e.payload,
          e.prevHash,
          e.hash,
        );
      }
      await tx.exec(
        `INSERT INTO evidence_events (${EVENT_COLUMNS}) VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        values,
      );
    }
  }

  /**
   * Moves the heads to their new (seq, hash): one UPDATE for one case, one UPDATE over a VALUES
   * list per chunk otherwise.
   */
  async advanceHeads(
    tx: SqlRunner,
    heads: [string, { seq: number; hash: string }][],
    at: number,
  ): Promise<void> {
    if (heads.length === 1) {
      const [[caseId, h]] = heads;
      await tx.exec('UPDATE case_heads SET last_seq = ?, last_hash = ?, updated_at = ? WHERE case_id = ?', [
        h.seq,
        h.hash,
        at,
        caseId,
      ]);
      return;
    }
    for (let i = 0; i < heads.length; i += CHUNK) {
      const part = heads.slice(i, i + CHUNK);
      await tx.exec(
        `WITH v(case_id, seq, hash) AS (VALUES ${part.map(() => '(?, CAST(? AS INTEGER), ?)').join(', ')})
         UPDATE case_heads SET
           last_seq = (SELECT v.seq FROM v WHERE v.case_id = case_heads.case_id),
           last_hash = (SELECT v.hash FROM v WHERE v.case_id = case_heads.case_id),
           updated_at = ?
         WHERE case_id IN (SELECT case_id FROM v)`,
        [...part.flatMap(([c, h]) => [c, h.seq, h.hash]), at],
      );
    }
  }

  /** Stores a signed entry timestamp and returns its id. */
  async insertSet(
    tx: SqlRunner,
    s: { createdAt: number; keyId: string; body: string; signature: string },
  ): Promise<number> {
    const [row] = await tx.rows<{ id: number | string }>(
      'INSERT INTO evidence_sets (created_at, key_id, body, signature) VALUES (?, ?, ?, ?) RETURNING id',
      [s.createdAt, s.keyId, s.body, s.signature],
    );
    return Number(row.id);
  }

  /** The per-case seq ranges a SET covers: `[caseId, fromSeq, toSeq]`. */
  async insertSetCases(tx: SqlRunner, setId: number, ranges: [string, number, number][]): Promise<void> {
    for (let i = 0; i < ranges.length; i += CHUNK) {
      const part = ranges.slice(i, i + CHUNK);
      await tx.exec(
        `INSERT INTO evidence_set_cases (set_id, case_id, from_seq, to_seq) VALUES ${part.map(() => '(?, ?, ?, ?)').join(', ')}`,
        part.flatMap(([c, from, to]) => [setId, c, from, to]),
      );
    }
  }

  /** The SETs that adopt pre-transparency events (their body starts with `{"adopts":`), by id. */
  adoptionSets(): Promise<{ body: string; signature: string }[]> {
    return this.db.rows<{ body: string; signature: string }>(
      `SELECT body, signature FROM evidence_sets WHERE body LIKE '{"adopts":%' ORDER BY id`,
    );
  }

  /** Ids of the SETs that cover some event of the case. */
  async setIdsOfCase(caseId: string): Promise<number[]> {
    const rows = await this.db.rows<{ set_id: number | string }>(
      'SELECT DISTINCT set_id FROM evidence_set_cases WHERE case_id = ?',
      [caseId],
    );
    return rows.map((r) => Number(r.set_id));
  }

  /** The SETs of `ids` (those that exist; one statement per chunk, in no particular order). */
  async setsByIds(ids: number[]): Promise<SetRow[]> {
    const out: SetRow[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const part = ids.slice(i, i + CHUNK);
      out.push(
        ...(await this.db.rows<SetRow>(
          `SELECT id, key_id, body, signature FROM evidence_sets WHERE id IN (${part.map(() => '?').join(', ')})`,
          part,
        )),
      );
    }
    return out;
  }

  /** The head of a case, or undefined before its first event. */
  async head(caseId: string): Promise<{ last_seq: number | string; last_hash: string } | undefined> {
    const [head] = await this.db.rows<{ last_seq: number | string; last_hash: string }>(
      'SELECT last_seq, last_hash FROM case_heads WHERE case_id = ?',
      [caseId],
    );
    return head;
  }

  /** A case's whole chain in seq order. */
  caseEvents(caseId: string): Promise<EventRow[]> {
    return this.db.rows<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM evidence_events WHERE case_id = ? ORDER BY seq`,
      [caseId],
    );
  }

  /** One keyset page of a case's chain in seq order: up to `take` events after seq `afterSeq`. */
  caseEventsPage(caseId: string, afterSeq: number, take: number): Promise<EventRow[]> {
    return this.db.rows<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM evidence_events WHERE case_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      [caseId, afterSeq, take],
    );
  }

  /** The events of one notification, in seq order. */
  notificationEvents(notificationId: string): Promise<EventRow[]> {
    return this.db.rows<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM evidence_events WHERE notification_id = ? ORDER BY seq`,
      [notificationId],
    );
  }

  /** Events of a case with `afterSeq < seq <= upToSeq`, up to `take`, in seq order (bundle pages). */
  caseEventsUpTo(caseId: string, afterSeq: number, upToSeq: number, take: number): Promise<EventRow[]> {
    return this.db.rows<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM evidence_events WHERE case_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
      [caseId, afterSeq, upToSeq, take],
    );
  }

  /**
   * The SETs a bundle of the case up to `upToSeq` carries, after SET id `afterId`, 500 at a time by
   * id: those covering some of its events, and every adoption of pre-transparency events.
   */
  bundleSets(
    afterId: number,
    caseId: string,
    upToSeq: number,
  ): Promise<{ id: number | string; body: string; signature: string }[]> {
    return this.db.rows<{ id: number | string; body: string; signature: string }>(
      `SELECT s.id, s.body, s.signature FROM evidence_sets s
           WHERE s.id > ? AND (s.id IN (SELECT c.set_id FROM evidence_set_cases c WHERE c.case_id = ? AND c.from_seq <= ?)
              OR s.body LIKE '{"adopts":%')
           ORDER BY s.id LIMIT 500`,
      [afterId, caseId, upToSeq],
    );
  }

  /**
   * A stored artifact an evidence event references by hash (`artifacts` is written by the
   * notification pipeline; the ledger only reads it back for bundles).
   */
  async artifact(sha256: string): Promise<{ content: Buffer; media_type: string } | undefined> {
    const [row] = await this.db.rows<{ content: Buffer; media_type: string }>(
      'SELECT content, media_type FROM artifacts WHERE sha256 = ?',
      [sha256],
    );
    return row;
  }

  /** The head seq of a case on `tx` (undefined when the case has no head row). */
  async headSeq(tx: SqlRunner, caseId: string): Promise<number | string | undefined> {
    const [head] = await tx.rows<{ last_seq: number | string }>(
      'SELECT last_seq FROM case_heads WHERE case_id = ?',
      [caseId],
    );
    return head?.last_seq;
  }

  /**
   * Heads with evidence whose case id matches the LIKE `pattern` (`\` escapes), after case id
   * `after`, in case-id order.
   */
  headsLike(
    pattern: string,
    after: string,
    limit: number,
  ): Promise<
    { case_id: string; last_seq: number | string; last_hash: string; updated_at: number | string }[]
  > {
    return this.db.rows<{
      case_id: string;
      last_seq: number | string;
      last_hash: string;
      updated_at: number | string;
    }>(
      "SELECT case_id, last_seq, last_hash, updated_at FROM case_heads WHERE case_id LIKE ? ESCAPE '\\' AND case_id > ? AND last_seq > 0 ORDER BY case_id LIMIT ?",
      [pattern, after, limit],
    );
  }

  /** Up to `take` case ids after `after`, in case-id order (every head, with evidence or not). */
  async caseIdsAfter(after: string, take: number): Promise<string[]> {
    const rows = await this.db.rows<{ case_id: string }>(
      'SELECT case_id FROM case_heads WHERE case_id > ? ORDER BY case_id LIMIT ?',
      [after, take],
    );
    return rows.map((r) => r.case_id);
  }

  /** Heads with evidence last moved before `before` (ms), after case id `after`, in case-id order. */
  headsIdleSince(
    before: number,
    after: string,
    limit: number,
  ): Promise<{ case_id: string; last_seq: number | string; updated_at: number | string }[]> {
    return this.db.rows<{ case_id: string; last_seq: number | string; updated_at: number | string }>(
      'SELECT case_id, last_seq, updated_at FROM case_heads WHERE updated_at < ? AND case_id > ? AND last_seq > 0 ORDER BY case_id LIMIT ?',
      [before, after, limit],
    );
  }

  /**
   * Which of `caseIds` (at most a chunk) are under an active legal hold at `now` (`case_holds` is
   * written by the notification pipeline; retention only reads it).
   */
  async legallyHeld(now: number, caseIds: string[]): Promise<string[]> {
    const holds = await this.db.rows<{ case_id: string }>(
      `SELECT DISTINCT case_id FROM case_holds WHERE kind = 'legal_hold' AND released_at IS NULL AND (until_at IS NULL OR until_at > ?) AND case_id IN (${caseIds.map(() => '?').join(', ')})`,
      [now, ...caseIds],
    );
    return holds.map((h) => h.case_id);
  }
}
