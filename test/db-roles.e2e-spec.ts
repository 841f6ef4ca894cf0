/**
 * Least privilege (issue 12, item 7): migrations run as the owner role (`npm run db:migrate`), the
 * service runs as a role that can read and write rows and nothing else. Real PostgreSQL, real
 * roles: every way an operator holding the service's credentials could silence the ledger's
 * triggers or rewrite its tables is refused by the server.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { migrateAsOwner } from '#libs/persistence';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { phoneFor, smsBody, TEST_AUTH_ENV } from './support/fixtures.js';
import {
  createPgDatabase,
  PG_ADMIN_URL,
  ROOT,
  type TempDatabase,
  uniqueName,
  waitFor,
} from './support/infra.js';

const run = promisify(execFile);

function urlAs(base: string, user: string): string {
  const u = new URL(base);
  u.username = user;
  u.password = '';
  return u.toString();
}

async function asRole(url: string, sql: string): Promise<{ ok: true } | { ok: false; code: string }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
    return { ok: true };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code ?? '?' };
  } finally {
    await c.end();
  }
}

describe('database roles: owner migrates, the service cannot touch the ledger structure', () => {
  let db: TempDatabase;
  let owner: string;
  let service: string;
  let ownerUrl: string;
  let serviceUrl: string;
  let api: InProcessApp | undefined;

  beforeAll(async () => {
    db = await createPgDatabase();
    owner = uniqueName('cns_owner');
    service = uniqueName('cns_service');
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE ${owner} LOGIN`);
    await admin.query(`CREATE ROLE ${service} LOGIN`);
    await admin.query(`ALTER DATABASE ${db.name} OWNER TO ${owner}`);
    await admin.end();
    ownerUrl = urlAs(db.url, owner);
    serviceUrl = urlAs(db.url, service);
  }, 30_000);

  afterAll(async () => {
    await api?.close();
    await db?.drop();
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    for (const r of [service, owner]) await admin.query(`DROP ROLE IF EXISTS ${r}`).catch(() => undefined);
    await admin.end();
  });

  it('in check mode the service refuses to start while migrations are pending, naming the fix', async () => {
    const started = run('node', [join(ROOT, 'dist/apps/api/src/main.js')], {
      cwd: ROOT,
      timeout: 30_000,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        DATABASE_URL: serviceUrl,
        DATABASE_MIGRATIONS: 'check',
        PORT: '0',
        GRPC_PORT: '0',
        ...TEST_AUTH_ENV,
      },
    });
    const err = (await started.then(
      () => null,
      (e: unknown) => e,
    )) as { code?: number; stdout?: string; stderr?: string } | null;
    expect(err?.code).toBe(1);
    expect(`${err?.stdout ?? ''}${err?.stderr ?? ''}`).toMatch(/migrations are pending.*npm run db:migrate/);
  }, 40_000);

  it('npm run db:migrate migrates as the owner and grants the service role', async () => {
    const res = await run('node', [join(ROOT, 'dist/scripts/db-migrate.js')], {
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: serviceUrl, DATABASE_OWNER_URL: ownerUrl },
    });
    expect(res.stdout).toContain(`migrated as ${owner}; ${service} may read and write rows`);
    // Idempotent: a second run (next release) finds nothing to do and grants again.
    await expect(migrateAsOwner({ url: serviceUrl, ownerUrl, poolSize: 1 })).resolves.toEqual({
      owner,
      service,
    });
    const c = new pg.Client({ connectionString: ownerUrl });
    await c.connect();
    const [t] = (await c.query(`SELECT tableowner FROM pg_tables WHERE tablename = 'evidence_events'`)).rows;
    await c.end();
    expect(t.tableowner).toBe(owner);
  }, 60_000);

  it('the service works as the service role: a notice is accepted, sent and proven', async () => {
    api = await startInProcess({
      dialect: 'postgres',
      databaseUrl: serviceUrl,
      env: { DATABASE_MIGRATIONS: 'check' },
    });
    const res = await postJson(api.baseUrl, '/v1/notifications', smsBody('C-roles-1', phoneFor(7_001)));
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    await waitFor(
      'delivered',
      async () => {
        const v = (await (await fetch(`${api!.baseUrl}/v1/notifications/${id}`)).json()) as {
          status: string;
        };
        return v.status === 'delivered' ? v : undefined;
      },
      20_000,
    );
    const verify = await postJson(api.baseUrl, '/v1/evidence/verify', { caseId: 'C-roles-1' });
    expect(verify.body).toMatchObject({ ok: true });
  }, 60_000);

  it('as the service role, every way to silence or rewrite the ledger is refused by PostgreSQL', async () => {
    const attacks = [
      'ALTER TABLE evidence_events DISABLE TRIGGER ALL',
      'DROP TRIGGER evidence_no_update_delete ON evidence_events',
      'DROP FUNCTION evidence_append_only() CASCADE',
      'TRUNCATE evidence_events',
      "UPDATE evidence_events SET type = 'forged'",
      'DELETE FROM evidence_events',
      'DELETE FROM template_versions',
      'DELETE FROM log_leaves',
      'UPDATE evidence_sets SET signature = signature',
      'ALTER TABLE notifications ADD COLUMN forged INT',
      'DROP TABLE checkpoints',
      'TRUNCATE case_heads',
      'CREATE TABLE shadow (a INT)',
      `INSERT INTO migrations (timestamp, name) VALUES (1, 'Forged1')`,
      `DELETE FROM migrations`,
    ];
    const results: Record<string, string> = {};
    for (const sql of attacks) {
      const r = await asRole(serviceUrl, sql);
      results[sql] = r.ok ? 'ALLOWED' : r.code;
    }
    // 42501 insufficient_privilege; 42501 as well for "must be owner".
    expect(results).toEqual(Object.fromEntries(attacks.map((a) => [a, '42501'])));
    // The rows the service needs stay writable.
    expect(await asRole(serviceUrl, `UPDATE notifications SET status = status WHERE 1 = 0`)).toEqual({
      ok: true,
    });
    // And the owner, who could, is still stopped by the triggers from editing history.
    const owned = await asRole(ownerUrl, "UPDATE evidence_events SET type = 'forged'");
    expect(owned).toEqual({ ok: false, code: 'P0001' });
  }, 30_000);
});
