/**
 * API keys from the command line (same database as the service; reads the same environment):
 *
 *   npm run apikeys -- create --name crm-prod --scopes notifications:send,notifications:read [--rate 20 --burst 40]
 *   npm run apikeys -- list
 *   npm run apikeys -- revoke <id>
 *
 * The key is printed once by `create`; only its SHA-256 is stored.
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFromEnv } from '#libs/config';
import { AppError } from '#libs/core';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { ApiKeysStore, parseScopes } from '../apps/api/src/auth/api-keys.store.js';
import { SCOPES } from '../apps/api/src/auth/scopes.js';

const USAGE = `usage:
  apikeys create --name <name> --scopes <scope,scope> [--rate <per second> --burst <n>]
  apikeys list [--json]
  apikeys revoke <id>
scopes: ${SCOPES.join(', ')} (admin implies all)`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [cmd, arg] = positionals;
  if (values.help || !cmd) {
    console.log(USAGE);
    return cmd || values.help ? 0 : 2;
  }
  const config = loadConfigFromEnv();
  const ds = createDataSource(config.database);
  await ds.initialize();
  try {
    await runMigrations(ds);
    const store = new ApiKeysStore(new Db(ds));
    const actor = `cli:${process.env.USER ?? 'unknown'}`;
    switch (cmd) {
      case 'create': {
        const rate = values.rate === undefined ? undefined : Number(values.rate);
        const burst = values.burst === undefined ? undefined : Number(values.burst);
        if (
          (rate !== undefined && !(Number.isInteger(rate) && rate >= 0)) ||
          (burst !== undefined && !(Number.isInteger(burst) && burst >= 1))
        ) {
          console.error('--rate must be an integer >= 0 and --burst an integer >= 1');
          return 2;
        }
        const { key, record } = await store.create(
          {
            name: values.name ?? '',
            scopes: parseScopes(values.scopes ?? ''),
            rateLimit:
              rate !== undefined ? { perSecond: rate, burst: burst ?? Math.max(1, rate * 2) } : undefined,
          },
          actor,
        );
        if (values.json) console.log(JSON.stringify({ ...record, key }));
        else {
          console.log(`created ${record.id} "${record.name}" [${record.scopes.join(' ')}]`);
          console.log(`key (shown only now): ${key}`);
        }
        return 0;
      }
      case 'list': {
        const keys = await store.list();
        if (values.json) console.log(JSON.stringify(keys));
        else {
          for (const k of keys) {
            console.log(
              `${k.id}  ${k.revokedAt ? 'revoked' : 'active '}  ${k.name.padEnd(24)} ${k.scopes.join(' ')}  created ${k.createdAt} by ${k.createdBy}${k.revokedAt ? `, revoked ${k.revokedAt} by ${k.revokedBy}` : ''}`,
            );
          }
          if (keys.length === 0) console.log('no API keys');
        }
        return 0;
      }
      case 'revoke': {
        if (!arg) {
          console.error(USAGE);
          return 2;
        }
        const rec = await store.revoke(arg, actor);
        console.log(values.json ? JSON.stringify(rec) : `revoked ${rec.id} "${rec.name}"`);
        return 0;
      }
      default:
        console.error(USAGE);
        return 2;
    }
  } finally {
    await ds.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) console.error(err.message);
    else if (err instanceof AppError) console.error(`${err.title}: ${err.message}`);
    else console.error(err);
    process.exit(1);
  },
);
