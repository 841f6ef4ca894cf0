/**
 * Runs the database migrations as the owner role and grants the service role its privileges
 * (PostgreSQL; docs/evidence.md, "Database roles"):
 *
 *   DATABASE_OWNER_URL=postgres://cns_owner@db/cns DATABASE_URL=postgres://cns_service@db/cns \
 *     npm run db:migrate
 *
 * Start the service afterwards with DATABASE_MIGRATIONS=check and without DATABASE_OWNER_URL.
 * Exit 0 on success, 1 on failure (the message says why and what to fix).
 */
import 'reflect-metadata';
import { loadConfigFromEnv } from '#libs/config';
import { migrateAsOwner } from '#libs/persistence';

async function main(): Promise<number> {
  const config = loadConfigFromEnv();
  if (config.database.type !== 'postgres') {
    process.stderr.write('db:migrate is for PostgreSQL (DATABASE_URL); SQLite migrates at start\n');
    return 1;
  }
  const { owner, service } = await migrateAsOwner(config.database);
  process.stdout.write(
    owner === service
      ? `migrated as ${owner} (one role: no privileges to grant; see docs/evidence.md)\n`
      : `migrated as ${owner}; ${service} may read and write rows, and nothing else\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
