import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type InProcessApp, startInProcess } from './support/app.js';
import { TEST_ADMIN_KEY } from './support/fixtures.js';
import { ROOT } from './support/infra.js';
import { OpenApiValidator } from './support/openapi-validate.js';

const run = promisify(execFile);
const DIR = join(ROOT, 'test-output', 'openapi-client');

/** What test/openapi-client/flows.mts exports, once compiled (its own types stay in that file). */
interface Flows {
  runFlows(opts: {
    baseUrl: string;
    adminKey: string;
    caseId: string;
    middleware?: {
      onResponse(o: { request: Request; response: Response; schemaPath: string }): Promise<void>;
    };
  }): Promise<{
    keyName: string;
    created: { id: string; status: string; caseId: string };
    replayed: string | null;
    delivered: { status: string; events: { type: string }[] };
    pages: { items: number; next: string | null }[];
    evidence: { events: number; verified: boolean; next: string | null; secondPage: number };
    cancelled: { status: string };
    templates: string[];
    notFound: { code: string; status: number; type: string };
    notFoundType: { title: string; status: number[] };
  }>;
}

/**
 * Acceptance (issue 17): a client generated from the committed openapi.json compiles and runs
 * the README's flows, and every answer it gets matches the document.
 */
describe('a client generated from openapi.json', () => {
  let api: InProcessApp;
  let flows: Flows;
  const validator = new OpenApiValidator();
  const seen: string[] = [];
  const mismatches: string[] = [];

  beforeAll(async () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    // Generate the types from the committed document, as a caller would.
    await run(process.execPath, [
      join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
      join(ROOT, 'openapi.json'),
      '--output',
      join(DIR, 'api.d.ts'),
    ]);
    copyFileSync(join(ROOT, 'test', 'openapi-client', 'flows.mts'), join(DIR, 'flows.mts'));
    writeFileSync(
      join(DIR, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2023',
          lib: ['es2023', 'dom'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          types: [],
          outDir: '.',
        },
        files: ['flows.mts'],
      }),
    );
    // Type-check and compile the caller's program against the generated types.
    try {
      await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', DIR]);
    } catch (err) {
      throw new Error(`the client does not compile:\n${(err as { stdout?: string }).stdout ?? String(err)}`, {
        cause: err,
      });
    }
    flows = (await import(pathToFileURL(join(DIR, 'flows.mjs')).href)) as Flows;
    api = await startInProcess({ dialect: 'sqlite', autoAuth: false });
  }, 120_000);

  afterAll(async () => {
    await api?.close();
  });

  it('runs the README flows, every answer as documented', async () => {
    const r = await flows.runFlows({
      baseUrl: api.baseUrl,
      adminKey: TEST_ADMIN_KEY,
      caseId: 'C-2026-000123',
      middleware: {
        async onResponse({ request, response, schemaPath }) {
          seen.push(`${request.method} ${schemaPath} ${response.status}`);
          mismatches.push(...(await problemsOf(validator, request, response)));
        },
      },
    });
    expect(mismatches).toEqual([]);

    expect(r.keyName).toBe('client-C-2026-000123');
    expect([r.created.status, r.created.caseId]).toEqual(['accepted', 'C-2026-000123']);
    expect(r.replayed).toBe('true');
    expect(r.delivered.status).toBe('delivered');
    expect(r.delivered.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['notification.accepted', 'template.pinned', 'receipt.received']),
    );
    // Three notices, two a page: the first page has a next cursor, the last none.
    expect(r.pages.map((p) => p.items)).toEqual([2, 1]);
    expect(r.pages[0].next).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(r.pages[1].next).toBeNull();
    expect(r.evidence).toMatchObject({ events: 5, verified: true });
    expect(r.evidence.next).not.toBeNull();
    expect(r.evidence.secondPage).toBe(5);
    expect(r.cancelled.status).toBe('cancelled');
    expect(r.templates).toContain('early.sms.reminder/zh-CN');
    expect([r.notFound.code, r.notFound.status, r.notFound.type]).toEqual([
      'not_found',
      404,
      '/problems/not_found',
    ]);
    expect(r.notFoundType).toEqual({ title: 'Not found', status: [404] });

    expect(seen).toEqual(
      expect.arrayContaining([
        'POST /v1/admin/api-keys 201',
        'POST /v1/notifications 202',
        'GET /v1/notifications/{id} 200',
        'GET /v1/notifications 200',
        'GET /v1/cases/{caseId}/evidence 200',
        'POST /v1/notifications/{id}/cancel 200',
        'GET /v1/templates 200',
        'GET /v1/notifications/{id} 404',
        'GET /problems/{code} 200',
      ]),
    );
    expect(validator.checked).toBe(seen.length);
  }, 60_000);

  it('the validator refuses an answer the document does not describe', () => {
    const ok = {
      method: 'GET',
      path: '/v1/notifications/6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11',
      status: 404,
      contentType: 'application/problem+json',
      body: JSON.stringify({
        type: '/problems/not_found',
        title: 'Not found',
        status: 404,
        detail: 'x',
        code: 'not_found',
      }),
    };
    expect(validator.problems(ok)).toEqual([]);
    // Any error status is a problem (`default`); a success the operation does not list is not.
    expect(validator.problems({ ...ok, status: 418 })).toEqual([]);
    expect(validator.problems({ ...ok, status: 201 })[0]).toMatch(/status not documented/);
    expect(validator.problems({ ...ok, contentType: 'text/plain' })[0]).toMatch(/content-type text\/plain/);
    expect(validator.problems({ ...ok, body: JSON.stringify({ code: 'nope' }) }).length).toBeGreaterThan(0);
    expect(
      validator
        .problems({
          ...ok,
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({ id: 'x', undocumented: true }),
        })
        .join('\n'),
    ).toMatch(/must NOT have additional properties|must have required property/);
    expect(validator.problems({ ...ok, path: '/v1/nowhere' })[0]).toMatch(/not an operation/);
  });
});

async function problemsOf(
  validator: OpenApiValidator,
  request: Request,
  response: Response,
): Promise<string[]> {
  return validator.problems({
    method: request.method,
    path: new URL(request.url).pathname,
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: await response.clone().text(),
  });
}
