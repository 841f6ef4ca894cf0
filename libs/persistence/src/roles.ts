import type { DataSource } from 'typeorm';
import { createDataSource, runMigrations } from './database.js';
import { StorageStartupError } from './storage.js';

/**
 * Least privilege on PostgreSQL (docs/evidence.md, "Database roles"). Two roles:
 * - the **owner** (`DATABASE_OWNER_URL`) owns the tables and runs `npm run db:migrate`;
 * - the **service** (`DATABASE_URL`) gets SELECT/INSERT/UPDATE/DELETE and nothing else: it cannot
 *   ALTER, DROP or TRUNCATE a table, or drop or disable a trigger (all need ownership or a
 *   privilege it is never granted), and on the append-only tables it cannot even try to
 *   UPDATE or DELETE (the triggers refuse those for the owner too).
 */
export const APPEND_ONLY_TABLES: readonly string[] = [
  'evidence_events',
  'evidence_sets',
  'evidence_set_cases',
  'log_leaves',
  'checkpoint_leaves',
  'checkpoint_notes',
  'witness_cosignatures',
  'template_versions',
  'template_audit',
];

/** The role a postgres:// URL logs in as. */
export function roleOf(url: string): string {
  const user = decodeURIComponent(new URL(url).username);
  if (!user) throw new StorageStartupError(`${redact(url)} names no user: the service role is unknown`, url);
  return user;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Grants the service role what it needs on every table and sequence the owner has made. */
export async function grantServiceRole(ds: DataSource, role: string): Promise<void> {
  const r = ident(role);
  const tables = (
    (await ds.query(
      `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`,
    )) as { tablename: string }[]
  ).map((t) => t.tablename);
  await ds.query(`GRANT USAGE ON SCHEMA ${ident(await currentSchema(ds))} TO ${r}`);
  for (const t of tables) {
    const append = APPEND_ONLY_TABLES.includes(t);
    await ds.query(`REVOKE ALL ON ${ident(t)} FROM ${r}`);
    // The migrations table is read (the start-up check), never written, by the service.
    const grant =
      t === 'migrations' ? 'SELECT' : append ? 'SELECT, INSERT' : 'SELECT, INSERT, UPDATE, DELETE';
    await ds.query(`GRANT ${grant} ON ${ident(t)} TO ${r}`);
  }
  await ds.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${ident(await currentSchema(ds))} TO ${r}`);
}

async function currentSchema(ds: DataSource): Promise<string> {
  const [row] = (await ds.query('SELECT current_schema() AS s')) as { s: string }[];
  return row.s;
}

/**
 * Refuses to start while migrations are pending (`DATABASE_MIGRATIONS=check`: the service does not
 * migrate). Reads the migrations table only; a missing or unreadable table counts as pending.
 */
export async function assertMigrated(ds: DataSource): Promise<void> {
  const expected = (ds.options.migrations as (new () => { name?: string })[]).map(
    (M) => new M().name ?? M.name,
  );
  let applied: string[] = [];
  let problem = '';
  try {
    applied = ((await ds.query('SELECT name FROM migrations')) as { name: string }[]).map((r) => r.name);
  } catch (err) {
    problem = ` (the migrations table cannot be read: ${err instanceof Error ? err.message : String(err)})`;
  }
  const pending = expected.filter((n) => !applied.includes(n));
  if (pending.length > 0) {
    throw new StorageStartupError(
      `Database migrations are pending and DATABASE_MIGRATIONS=check: ${pending.length} of ${expected.length}${problem}. Fix: run \`npm run db:migrate\` with DATABASE_OWNER_URL set (the owner role), then start the service again.`,
      'migrations',
    );
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * `npm run db:migrate`: runs the migrations as the owner (`DATABASE_OWNER_URL`) and grants the
 * service role (the user of `DATABASE_URL`) its privileges. Returns the service role's name.
 */
export async function migrateAsOwner(database: {
  url: string;
  ownerUrl?: string;
  poolSize: number;
}): Promise<{ owner: string; service: string }> {
  if (!database.ownerUrl) {
    throw new StorageStartupError(
      'DATABASE_OWNER_URL is not set. Fix: set it to the owner role that owns the tables (docs/evidence.md, "Database roles").',
      'DATABASE_OWNER_URL',
    );
  }
  const owner = roleOf(database.ownerUrl);
  const service = roleOf(database.url);
  const ds = createDataSource({
    type: 'postgres',
    url: database.ownerUrl,
    // runMigrations holds one connection for the advisory lock while migrating on another.
    poolSize: 2,
    migrations: 'auto',
  });
  await ds.initialize();
  try {
    await runMigrations(ds);
    if (service !== owner) await grantServiceRole(ds, service);
  } finally {
    await ds.destroy();
  }
  return { owner, service };
}
