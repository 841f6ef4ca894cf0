/**
 * Writes the current published version of every template (key and locale) from the database back
 * to files, in the pack layout of docs/templates.md.
 *
 *   npm run templates:export                 # into TEMPLATES_DIR (default ./templates)
 *   npm run templates:export -- --out ./pack # somewhere else
 *
 * Uses the service configuration (DATABASE_URL or SQLITE_PATH). Exit 0 on success, 1 when the
 * export is refused (e.g. a key whose locales disagree on the schema), 2 on bad usage.
 */
import 'reflect-metadata';
import { loadConfigFromEnv } from '#libs/config';
import { systemClock } from '#libs/core';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { exportTemplatePack, TemplateExportError, TemplateStore } from '#libs/templates';

/** prettier when installed (dev checkouts), so exported JSON matches the repository's formatting. */
async function jsonFormatter(): Promise<((text: string) => Promise<string>) | undefined> {
  try {
    const prettier = (await import('prettier')) as {
      format(text: string, opts: Record<string, unknown>): Promise<string>;
      resolveConfig(file: string): Promise<Record<string, unknown> | null>;
    };
    const opts = (await prettier.resolveConfig('template.json')) ?? {};
    return (text) => prettier.format(text, { ...opts, parser: 'json' });
  } catch {
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) out = argv[++i];
    else {
      process.stderr.write('usage: templates-export [--out <dir>]\n');
      return 2;
    }
  }
  const config = loadConfigFromEnv();
  const ds = createDataSource(config.database);
  await ds.initialize();
  try {
    await runMigrations(ds);
    const store = new TemplateStore(new Db(ds), systemClock);
    const latest = new Map<string, Awaited<ReturnType<TemplateStore['publishedVersions']>>[number]>();
    for (const v of await store.publishedVersions()) latest.set(`${v.key}|${v.locale}`, v);
    if (latest.size === 0) {
      process.stderr.write(
        'no published templates in the database (start the service once to load the pack)\n',
      );
      return 1;
    }
    const dir = out ?? config.templatesDir;
    const res = await exportTemplatePack(
      [...latest.values()].map((v) => v.definition),
      dir,
      { formatJson: await jsonFormatter() },
    );
    for (const w of res.warnings) process.stderr.write(`warning: ${w}\n`);
    for (const t of res.templates) {
      process.stdout.write(
        `${t.key} ${Object.entries(t.versions)
          .map(([l, v]) => `${l}=v${v}`)
          .join(' ')}\n`,
      );
    }
    process.stdout.write(
      `${res.written.length} file(s) written, ${res.removed.length} removed in ${dir}\n` +
        res.written.map((f) => `  + ${f}\n`).join('') +
        res.removed.map((f) => `  - ${f}\n`).join(''),
    );
    return 0;
  } catch (err) {
    if (err instanceof TemplateExportError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await ds.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
