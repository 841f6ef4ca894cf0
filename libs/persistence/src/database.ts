import { DataSource, type EntityManager } from 'typeorm';
import type { AppConfig } from '#libs/config';
import { ENTITIES } from './entities.js';
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from './migrations/index.js';
import { prepareSqliteFile } from './storage.js';

export type Dialect = 'sqlite' | 'postgres';

export function createDataSource(db: AppConfig['database']): DataSource {
  if (db.type === 'sqlite') {
    // The folder must be writable and notices.db (so its -wal/-shm too) is created 0600.
    prepareSqliteFile(db.path);
    return new DataSource({
      type: 'better-sqlite3',
      database: db.path,
      entities: ENTITIES,
      migrations: SQLITE_MIGRATIONS,
      migrationsTransactionMode: 'each',
      enableWAL: true,
      timeout: 10_000,
      statementCacheSize: 200,
      prepareDatabase: (raw: { pragma(s: string): unknown }) => {
        raw.pragma('synchronous = NORMAL');
        raw.pragma('foreign_keys = ON');
      },
    });
  }
  return new DataSource({
    type: 'postgres',
    url: db.url,
    entities: ENTITIES,
    migrations: POSTGRES_MIGRATIONS,
    migrationsTransactionMode: 'each',
    poolSize: db.poolSize,
    extra: { max: db.poolSize, application_name: 'collection-notices' },
  });
}

/** Arbitrary constant for the migration advisory lock (PostgreSQL). */
const MIGRATION_LOCK = 7_340_211;

/**
 * Runs pending migrations. On PostgreSQL several processes (api + workers) may start at once:
 * an advisory lock makes them take turns, so each migration runs exactly once.
 */
export async function runMigrations(ds: DataSource): Promise<void> {
  if (ds.options.type !== 'postgres') {
    await ds.runMigrations();
    return;
  }
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await ds.runMigrations();
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

/** A statement runner bound to one connection (a transaction, or the pool). */
export interface SqlRunner {
  /** Rows of a SELECT (or of a statement with RETURNING). `?` placeholders on both dialects. */
  rows<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a write and returns the number of affected rows. */
  exec(sql: string, params?: unknown[]): Promise<number>;
}

/**
 * Dialect-aware SQL access for the hot paths. Write `?` placeholders; they become `$1..$n`
 * on PostgreSQL. SQLite has one connection, so transactions (and writes outside them) are
 * serialised through a mutex: otherwise statements of concurrent requests would interleave
 * inside one another's transaction.
 */
export class Db implements SqlRunner {
  readonly dialect: Dialect;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly ds: DataSource) {
    this.dialect = ds.options.type === 'postgres' ? 'postgres' : 'sqlite';
  }

  text(sql: string): string {
    if (this.dialect === 'sqlite') return sql;
    let i = 0;
    return sql.replace(/\?/g, () => `$${++i}`);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.dialect !== 'sqlite') return fn();
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.ds.query(this.text(sql), params)) as T[];
  }

  exec(sql: string, params: unknown[] = []): Promise<number> {
    return this.serial(async () => {
      const qr = this.ds.createQueryRunner();
      try {
        const res = (await qr.query(this.text(sql), params, true)) as { affected?: number };
        return res.affected ?? 0;
      } finally {
        await qr.release();
      }
    });
  }

  /** Runs `fn` in one transaction (READ COMMITTED on PostgreSQL). */
  transaction<T>(fn: (tx: SqlRunner, em: EntityManager) => Promise<T>): Promise<T> {
    return this.serial(() =>
      this.ds.transaction(async (em) => {
        const qr = em.queryRunner;
        if (!qr) throw new Error('transaction without query runner');
        const tx: SqlRunner = {
          rows: async <R>(sql: string, params: unknown[] = []) =>
            (await qr.query(this.text(sql), params)) as R[],
          exec: async (sql: string, params: unknown[] = []) => {
            const res = (await qr.query(this.text(sql), params, true)) as { affected?: number };
            return res.affected ?? 0;
          },
        };
        return fn(tx, em);
      }),
    );
  }

  isUniqueViolation(err: unknown): boolean {
    const e = err as { code?: string; driverError?: { code?: string } };
    const code = e.driverError?.code ?? e.code;
    return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  }
}
