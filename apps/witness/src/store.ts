/**
 * The witness's own state in its own SQLite file: per log origin, the last checkpoint it
 * cosigned (size, root, the note with its cosignature), plus a record of refused checkpoints
 * that were signed by a known log (evidence of misbehaviour for the auditors).
 *
 * Durability before answering: WAL with synchronous=FULL, and the read-check-write of one
 * add-checkpoint runs in one IMMEDIATE transaction, so two requests (or two processes on the
 * same file) cannot roll the stored size back.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export interface WitnessState {
  size: number;
  root: Buffer;
  /** The cosigned checkpoint note (log signatures and the witness's cosignature). */
  note: string;
}

export interface WitnessStore {
  get(origin: string): WitnessState | null;
  put(origin: string, state: WitnessState): void;
  /** Runs fn in one write transaction (rolled back if it throws). */
  atomically<T>(fn: () => T): T;
  recordRefusal(origin: string, status: number, reason: string, body: string): void;
  refusals(origin?: string): { origin: string; at: number; status: number; reason: string; body: string }[];
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS witness_checkpoints (
  origin     TEXT PRIMARY KEY,
  size       INTEGER NOT NULL CHECK (size >= 0),
  root       BLOB NOT NULL CHECK (length(root) = 32),
  note       TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
-- The stored size of a log never goes down.
CREATE TRIGGER IF NOT EXISTS witness_checkpoints_grow_only
BEFORE UPDATE ON witness_checkpoints
WHEN NEW.size < OLD.size OR (NEW.size = OLD.size AND NEW.root <> OLD.root)
BEGIN
  SELECT RAISE(ABORT, 'a cosigned checkpoint can only be replaced by a consistent larger one');
END;
CREATE TRIGGER IF NOT EXISTS witness_checkpoints_no_delete
BEFORE DELETE ON witness_checkpoints
BEGIN
  SELECT RAISE(ABORT, 'cosigned checkpoints are not deleted');
END;
CREATE TABLE IF NOT EXISTS witness_refusals (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  origin TEXT NOT NULL,
  at     INTEGER NOT NULL,
  status INTEGER NOT NULL,
  reason TEXT NOT NULL,
  body   TEXT NOT NULL
);
`;

/** Refusals kept per origin (the oldest are dropped beyond this). */
const MAX_REFUSALS_PER_ORIGIN = 1000;

export function openWitnessStore(file: string, now: () => number = Date.now): WitnessStore {
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true });
    const created = !existsSync(file);
    if (created) {
      // Created 0600: the state is not secret but only the witness writes it.
      new Database(file).close();
      chmodSync(file, 0o600);
    }
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  const getStmt = db.prepare<[string], { size: number; root: Buffer; note: string }>(
    'SELECT size, root, note FROM witness_checkpoints WHERE origin = ?',
  );
  const putStmt = db.prepare(
    `INSERT INTO witness_checkpoints (origin, size, root, note, updated_at) VALUES (@origin, @size, @root, @note, @at)
     ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note,
       updated_at = excluded.updated_at`,
  );
  const refuseStmt = db.prepare(
    'INSERT INTO witness_refusals (origin, at, status, reason, body) VALUES (?, ?, ?, ?, ?)',
  );
  const pruneStmt = db.prepare(
    `DELETE FROM witness_refusals WHERE origin = ? AND id NOT IN
       (SELECT id FROM witness_refusals WHERE origin = ? ORDER BY id DESC LIMIT ${MAX_REFUSALS_PER_ORIGIN})`,
  );
  return {
    get(origin) {
      const row = getStmt.get(origin);
      return row ? { size: row.size, root: Buffer.from(row.root), note: row.note } : null;
    },
    put(origin, s) {
      putStmt.run({ origin, size: s.size, root: s.root, note: s.note, at: now() });
    },
    atomically<T>(fn: () => T): T {
      return db.transaction(fn).immediate();
    },
    recordRefusal(origin, status, reason, body) {
      db.transaction(() => {
        refuseStmt.run(origin, now(), status, reason, body);
        pruneStmt.run(origin, origin);
      }).immediate();
    },
    refusals(origin) {
      const rows = origin
        ? db
            .prepare(
              'SELECT origin, at, status, reason, body FROM witness_refusals WHERE origin = ? ORDER BY id',
            )
            .all(origin)
        : db.prepare('SELECT origin, at, status, reason, body FROM witness_refusals ORDER BY id').all();
      return rows as { origin: string; at: number; status: number; reason: string; body: string }[];
    },
    close() {
      db.close();
    },
  };
}
