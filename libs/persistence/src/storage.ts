import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  statfsSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { AppConfig } from '#libs/config';
import type { SqlRunner } from './database.js';

/**
 * The service cannot use its storage: the message names the path and the fix, because it is
 * what an operator reads first (main.ts prints only the message).
 */
export class StorageStartupError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'StorageStartupError';
  }
}

/** notices.db with its -wal/-shm: owner read/write only (they hold debtors' personal data). */
export const DATA_FILE_MODE = 0o600;

function uid(): string {
  return typeof process.getuid === 'function' ? String(process.getuid()) : 'the service user';
}

/** The operator's fix for an unusable SQLite file, by error code. */
export function sqliteFix(path: string, code: string | undefined): string {
  const dir = dirname(resolve(path));
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') {
    return `the file system of ${dir} is full: free space there (or set SQLITE_PATH to a volume with room)`;
  }
  return `make ${dir} and the files in it writable by uid ${uid()} (e.g. "chown -R ${uid()} ${dir} && chmod u+rwx ${dir}"; on a read-only mount, mount it read-write), or set SQLITE_PATH to a writable location`;
}

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: string; driverError?: { code?: string } };
  return e?.driverError?.code ?? e?.code;
}

/**
 * Before SQLite opens the file: the folder exists and is writable, and the database file is
 * created (or narrowed) with mode 0600, so SQLite's -wal and -shm, which take the database
 * file's mode, are 0600 too.
 */
export function prepareSqliteFile(path: string): void {
  if (path === ':memory:') return;
  const dir = dirname(resolve(path));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
    closeSync(openSync(path, 'a', DATA_FILE_MODE));
    narrowSqliteFiles(path);
  } catch (err) {
    const code = codeOf(err);
    throw new StorageStartupError(
      `Cannot use the SQLite database ${resolve(path)} (${code ?? String(err)}). Fix: ${sqliteFix(path, code)}.`,
      path,
    );
  }
}

/** chmod 0600 of the database file and its -wal/-shm where they exist. */
export function narrowSqliteFiles(path: string): void {
  if (path === ':memory:') return;
  for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, DATA_FILE_MODE);
}

/**
 * A write that changes nothing (a write transaction is still started): fails on a read-only
 * file, folder, mount or PostgreSQL replica, where `SELECT 1` would pass.
 */
export async function probeWrite(db: { transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> }) {
  await db.transaction((tx) => tx.exec('UPDATE notifications SET status = status WHERE 1 = 0'));
}

/** Wraps a failure to open or migrate the database into a message naming the path and the fix. */
export function storageStartupError(database: AppConfig['database'], err: unknown): Error {
  if (err instanceof StorageStartupError) return err;
  const code = codeOf(err);
  const reason = err instanceof Error ? err.message : String(err);
  if (database.type === 'sqlite') {
    return new StorageStartupError(
      `Cannot use the SQLite database ${resolve(database.path)}: ${reason}${code ? ` (${code})` : ''}. Fix: ${sqliteFix(database.path, code)}.`,
      database.path,
    );
  }
  const url = new URL(database.url);
  const where = `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  return new StorageStartupError(
    `Cannot use the PostgreSQL database ${where}: ${reason}${code ? ` (${code})` : ''}. Fix: check DATABASE_URL, that the server accepts connections and that the role may write (not a read-only replica).`,
    where,
  );
}

/** Free bytes on the file system holding `path` (for readiness). */
export function freeBytes(path: string): number {
  const s = statfsSync(dirname(resolve(path)));
  return Number(s.bavail) * Number(s.bsize);
}
