/**
 * `npm run bench`: runs B1-B5 in one go and writes docs/performance.md (header with the machine and
 * date, then one section per benchmark). Sizes and selection come from the environment:
 *
 *   BENCH_ONLY=B2,B5       run only these (the other sections keep their last figures)
 *   BENCH_B1_N=60          letters per renderer        BENCH_B2_N=10000, BENCH_B2_RAW_N=50000
 *   BENCH_B3_RATES=100,250,500  BENCH_B3_SECONDS=10     BENCH_B4_N=100000   BENCH_B5_N=1000000
 *   BENCH_B6_N=1000000
 *   BENCH_PROFILE=1        CPU-profile api and workers during B2 and summarise the top frames
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PG_ADMIN_URL, REDIS_BASE_URL } from '../test/support/infra.js';
import { ROOT } from './support/stack.js';
import { benchApi } from './api/run.js';
import { benchBulk } from './bulk/run.js';
import { benchEvidence } from './evidence/run.js';
import { benchLog } from './log/run.js';
import { benchPipeline } from './pipeline/run.js';

const DOC = join(ROOT, 'docs', 'performance.md');
const ORDER = ['B1', 'B2', 'B3', 'B4', 'B5', 'B6'];

async function machine(): Promise<string[]> {
  const c = cpus();
  let pgVersion = 'unknown';
  let redisVersion = 'unknown';
  try {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    pgVersion =
      (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ??
      pgVersion;
    await client.end();
  } catch (err) {
    pgVersion = `unreachable (${String(err)})`;
  }
  try {
    const r = new Redis(REDIS_BASE_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    redisVersion = /redis_version:(\S+)/.exec(await r.info('server'))?.[1] ?? redisVersion;
    r.disconnect();
  } catch (err) {
    redisVersion = `unreachable (${String(err)})`;
  }
  return [
    `- CPU: ${c[0]?.model ?? 'unknown'}, ${c.length} cores; RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Linux ${release()}`,
    `- Node.js ${process.version}; PostgreSQL ${pgVersion}; Redis ${redisVersion} (the machine's servers, one private database and key prefix per run)`,
  ];
}

/** Splits the document into its preamble and `## ` sections keyed by their first word after `## `. */
function sections(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = doc.split(/^(?=## )/m);
  for (const p of parts) {
    if (!p.startsWith('## ')) continue;
    const key = /^## (\S+)/.exec(p)?.[1] ?? p.slice(3, 20);
    out.set(key, p.trimEnd() + '\n');
  }
  return out;
}

async function main(): Promise<void> {
  const only = new Set(
    (process.env.BENCH_ONLY ?? ORDER.join(',')).split(',').map((s) => s.trim().toUpperCase()),
  );
  const started = new Date();
  const loadBefore = loadavg()[0] ?? 0;
  const fresh = new Map<string, string[]>();
  const failures: string[] = [];
  const step = async (key: string, fn: () => Promise<string[]>): Promise<void> => {
    if (!only.has(key)) return;
    try {
      fresh.set(key, await fn());
    } catch (err) {
      console.error(`${key} failed:`, err);
      failures.push(key);
      fresh.set(key, [`## ${key}`, '', `Failed in the run of ${started.toISOString()}: ${String(err)}`, '']);
    }
  };
  if (only.has('B1')) {
    // B1 writes its own `## B1 letters` section.
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'dist', 'bench', 'letters', 'run.js'), process.env.BENCH_B1_N ?? '60'],
      {
        cwd: ROOT,
        stdio: 'inherit',
      },
    );
    if (r.status !== 0) failures.push('B1');
  }
  await step('B2', async () => (await benchPipeline()).section);
  await step('B3', async () => (await benchApi()).section);
  await step('B4', async () => (await benchBulk()).section);
  await step('B5', async () => (await benchEvidence()).section);
  await step('B6', async () => (await benchLog()).section);

  const old = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';
  const kept = sections(old);
  for (const [k, lines] of fresh) kept.set(k, lines.join('\n').trimEnd() + '\n');
  const measured = [...only].filter((k) => ORDER.includes(k)).join(', ');
  const header = [
    '# Performance',
    '',
    `Written by \`npm run bench\` (\`node dist/bench/run.js\`; sizes via \`BENCH_*\`, see bench/run.ts). Last run:`,
    `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, sections ${measured}; sections not in that run keep`,
    'their earlier figures. Every figure of one run is measured side by side on this machine:',
    '',
    ...(await machine()),
    `- 1-minute load average at the start of the run ${loadBefore.toFixed(2)}, at the end ${(loadavg()[0] ?? 0).toFixed(2)}`,
    '  (the machine is shared: anything above ~0.3 at the start means other work ran alongside the benchmarks)',
    '',
    'Targets (2 cores): B2 >= 2,000 notices/s end to end and >= 0.10 of raw BullMQ; B3 p99 <= 15 ms at 500 req/s with',
    'zero errors; B4 <= 30 s and <= 600 MB RSS; B5 <= 10 s; B6 verify a 1,000,000-event log from storage <= 10 s. Findings and causes: see "Analysis" below.',
    '',
  ];
  const body = [
    ...ORDER.filter((k) => kept.has(k)).map((k) => kept.get(k) as string),
    ...[...kept.entries()].filter(([k]) => !ORDER.includes(k)).map(([, v]) => v),
  ];
  writeFileSync(DOC, `${header.join('\n')}\n${body.join('\n')}`);
  console.log(`wrote ${DOC}`);
  if (failures.length) {
    console.error(`failed: ${failures.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
