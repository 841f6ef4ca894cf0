/**
 * The SQL of signed checkpoints: `checkpoints`, `checkpoint_leaves`, the advisory lock that
 * serialises their creation across PostgreSQL processes, and the reads of `case_heads` a
 * checkpoint is taken over. CheckpointService reaches these only through here; statements with a
 * `runner`/`tx` run on the caller's transaction.
 */
import { Injectable } from '@nestjs/common';
import { Db, type SqlRunner } from '#libs/persistence';

/** A row of `checkpoints` as the readers select it. */
export interface CheckpointRow {
  id: number | string;
  body: string;
  signature: string;
  reason: string;
  tsa_token: Buffer | null;
  tsa_gen_time: string | null;
  tsa_error: string | null;
}

/** A leaf of a checkpoint's tree: a case head as the checkpoint saw it. */
export interface CheckpointLeafRow {
  case_id: string;
  seq: number | string;
  hash: string;
}

export interface CheckpointInsert {
  createdAt: number;
  treeSize: number;
  rootHash: string;
  keyId: string;
  body: string;
  signature: string;
  reason: string;
  logSize: number;
  logRoot: string;
}

const COLUMNS = 'id, body, signature, reason, tsa_token, tsa_gen_time, tsa_error';
/** Arbitrary constant for the checkpoint advisory lock (PostgreSQL). */
const CHECKPOINT_LOCK = 7_340_212;
/** Leaves per multi-row INSERT (4 parameters each). */
const CHUNK = 500;

@Injectable()
export class CheckpointRepository {
  constructor(private readonly db: Db) {}

  /**
   * Takes the transaction-scoped checkpoint lock on PostgreSQL (other processes wait until `tx`
   * ends). SQLite has one writer connection already: nothing to take.
   */
  async lock(tx: SqlRunner): Promise<void> {
    if (this.db.dialect === 'postgres') await tx.rows('SELECT pg_advisory_xact_lock(?)', [CHECKPOINT_LOCK]);
  }

  /** Every case head with at least one event (what a checkpoint's tree is made of). */
  heads(tx: SqlRunner): Promise<{ case_id: string; last_seq: number | string; last_hash: string }[]> {
    return tx.rows<{ case_id: string; last_seq: number | string; last_hash: string }>(
      'SELECT case_id, last_seq, last_hash FROM case_heads WHERE last_seq > 0',
    );
  }

  /** The current head of a case with at least one event, or undefined. */
  async head(caseId: string): Promise<{ last_seq: number | string; last_hash: string } | undefined> {
    const [head] = await this.db.rows<{ last_seq: number | string; last_hash: string }>(
      'SELECT last_seq, last_hash FROM case_heads WHERE case_id = ? AND last_seq > 0',
      [caseId],
    );
    return head;
  }

  /** The id of the last checkpoint, 0 when there is none. */
  async lastId(tx: SqlRunner): Promise<number> {
    const [last] = await tx.rows<{ id: number | string | null }>('SELECT MAX(id) AS id FROM checkpoints');
    return last?.id === null || last?.id === undefined ? 0 : Number(last.id);
  }

  /** The signed body of checkpoint `id` (undefined when there is no such checkpoint). */
  async body(tx: SqlRunner, id: number): Promise<string | undefined> {
    const [row] = await tx.rows<{ body: string }>('SELECT body FROM checkpoints WHERE id = ?', [id]);
    return row?.body;
  }

  /** Stores a signed checkpoint and returns its id. */
  async insert(tx: SqlRunner, c: CheckpointInsert): Promise<number> {
    const [row] = await tx.rows<{ id: number | string }>(
      'INSERT INTO checkpoints (created_at, tree_size, root_hash, key_id, body, signature, reason, log_size, log_root) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
      [c.createdAt, c.treeSize, c.rootHash, c.keyId, c.body, c.signature, c.reason, c.logSize, c.logRoot],
    );
    return Number(row.id);
  }

  /** The leaves that changed since the previous checkpoint, stored under checkpoint `id`. */
  async insertLeaves(
    tx: SqlRunner,
    id: number,
    leaves: { caseId: string; seq: number; hash: string }[],
  ): Promise<void> {
    for (let i = 0; i < leaves.length; i += CHUNK) {
      const part = leaves.slice(i, i + CHUNK);
      await tx.exec(
        `INSERT INTO checkpoint_leaves (checkpoint_id, case_id, seq, hash) VALUES ${part.map(() => '(?, ?, ?, ?)').join(', ')}`,
        part.flatMap((h) => [id, h.caseId, h.seq, h.hash]),
      );
    }
  }

  /** The leaves of checkpoint `id`: per case, its latest leaf at or before `id`. */
  leavesAt(id: number, runner: SqlRunner = this.db): Promise<CheckpointLeafRow[]> {
    return runner.rows<CheckpointLeafRow>(
      `SELECT l.case_id, l.seq, l.hash FROM checkpoint_leaves l
       JOIN (SELECT case_id, MAX(checkpoint_id) AS cp FROM checkpoint_leaves WHERE checkpoint_id <= ? GROUP BY case_id) m
         ON m.case_id = l.case_id AND m.cp = l.checkpoint_id`,
      [id],
    );
  }

  /** Fills in the RFC 3161 time stamp of a checkpoint (the only change its trigger allows). */
  async setTimestamp(id: number, token: Buffer, genTime: string): Promise<void> {
    await this.db.exec('UPDATE checkpoints SET tsa_token = ?, tsa_gen_time = ? WHERE id = ?', [
      token,
      genTime,
      id,
    ]);
  }

  /** Records why a checkpoint got no time stamp. */
  async setTimestampError(id: number, error: string): Promise<void> {
    await this.db.exec('UPDATE checkpoints SET tsa_error = ? WHERE id = ?', [error, id]);
  }

  async latest(): Promise<CheckpointRow | undefined> {
    const [row] = await this.db.rows<CheckpointRow>(
      `SELECT ${COLUMNS} FROM checkpoints ORDER BY id DESC LIMIT 1`,
    );
    return row;
  }

  async get(id: number): Promise<CheckpointRow | undefined> {
    const [row] = await this.db.rows<CheckpointRow>(`SELECT ${COLUMNS} FROM checkpoints WHERE id = ?`, [id]);
    return row;
  }
}
