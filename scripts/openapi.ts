/**
 * Generates the OpenAPI document from the app without listening (in-memory SQLite, no gRPC):
 *   npm run openapi          writes ./openapi.json
 *   npm run openapi:check    fails (exit 1) when ./openapi.json is stale, or when an operation
 *                            lacks a 2xx schema or a request body (see `openApiGaps`)
 *   node dist/scripts/openapi.js --gaps   lists those operations
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '#libs/config';
import { startApi } from '../apps/api/src/bootstrap.js';
import { createLogger } from '#libs/observability';
import { buildOpenApi, openApiGaps } from '../apps/api/src/observability/openapi.js';

const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../..' : '..', import.meta.url));
export const OPENAPI_FILE = join(ROOT, 'openapi.json');

/** The document as committed: stable JSON text, two-space indented. */
export async function generateOpenApi(): Promise<unknown> {
  const config = loadConfig({
    NODE_ENV: 'test',
    SQLITE_PATH: ':memory:',
    GRPC_PORT: '0',
    LOG_LEVEL: 'silent',
    API_KEYS_BOOTSTRAP: `openapi-${randomBytes(24).toString('hex')}`,
  });
  const { app } = await startApi({ config, listen: false, logger: createLogger('silent') });
  try {
    return JSON.parse(JSON.stringify(buildOpenApi(app))) as unknown;
  } finally {
    await app.close();
  }
}

async function main(): Promise<number> {
  const check = process.argv.includes('--check');
  const doc = await generateOpenApi();
  if (process.argv.includes('--gaps')) {
    const gaps = openApiGaps(doc);
    console.log(gaps.join('\n'));
    console.log(`${gaps.length} operations with gaps`);
    return 0;
  }
  if (check) {
    const gaps = openApiGaps(doc);
    if (gaps.length) {
      console.error(
        `operations without a 2xx schema or a request body (x-no-body when none):\n${gaps.join('\n')}`,
      );
      return 1;
    }
    let committed: unknown = null;
    try {
      committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    } catch {
      /* missing or unreadable: stale */
    }
    if (!isDeepStrictEqual(committed, doc)) {
      console.error('openapi.json is stale: run `npm run openapi` and commit the result');
      return 1;
    }
    console.log('openapi.json is up to date');
    return 0;
  }
  let text = `${JSON.stringify(doc, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(OPENAPI_FILE)) ?? {};
    text = await prettier.format(text, { ...options, parser: 'json' });
  } catch {
    /* prettier is a dev dependency: plain JSON is fine too */
  }
  writeFileSync(OPENAPI_FILE, text);
  console.log(`wrote ${OPENAPI_FILE}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
