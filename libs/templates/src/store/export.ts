import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { LOCALES, type Locale } from '#libs/core';
import { FILE_RE, loadPackPartials } from '../pack.js';
import type { TemplateDefinition } from '../types.js';

export interface ExportOptions {
  /** Formats a JSON file's text before it is written (e.g. with prettier); default `JSON.stringify(v, null, 2)`. */
  formatJson?: (text: string) => string | Promise<string>;
}

export interface ExportResult {
  /** Files written (relative to the output directory), sorted. Unchanged files are not rewritten. */
  written: string[];
  /** Part files removed because the current version no longer has the part. */
  removed: string[];
  /** (key, version per locale) exported. */
  templates: { key: string; versions: Partial<Record<Locale, number>> }[];
  warnings: string[];
}

export class TemplateExportError extends Error {
  constructor(readonly problems: string[]) {
    super(`template export refused:\n  - ${problems.join('\n  - ')}`);
    this.name = 'TemplateExportError';
  }
}

const PART_FILE: Record<string, string> = {
  sms: 'sms.hbs',
  voice: 'voice.hbs',
  subject: 'subject.hbs',
  html: 'html.hbs',
  text: 'text.hbs',
  letter: 'letter.md.hbs',
};
const PART_FILE_RE = FILE_RE;

/**
 * Writes the given definitions (the current version of every key and locale) as a template pack
 * in `dir` (layout of docs/templates.md), so that `loadTemplatePack(dir)` gives them back.
 * The locales of one key must agree on stage, channel, audience, schema, exampleData and
 * attachments (the pack keeps them once, in template.json); otherwise nothing is written.
 * Attachment ids already in `dir` are kept; partials are written per locale only where the
 * pack in `dir` does not already resolve them to the same source.
 */
export async function exportTemplatePack(
  defs: TemplateDefinition[],
  dir: string,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  const json = async (v: unknown) =>
    opts.formatJson
      ? opts.formatJson(JSON.stringify(v)) // compact: the formatter decides where lines break
      : `${JSON.stringify(v, null, 2)}\n`;
  const localeOrder = (l: Locale) => LOCALES.indexOf(l);
  const byKey = new Map<string, TemplateDefinition[]>();
  for (const d of defs) {
    const list = byKey.get(d.key) ?? [];
    list.push(d);
    byKey.set(d.key, list);
  }
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const [key, list] of byKey) {
    const [first, ...rest] = list;
    for (const other of rest) {
      for (const f of ['stage', 'channel', 'audience', 'schema', 'exampleData'] as const) {
        if (!isDeepStrictEqual(first[f], other[f])) {
          problems.push(
            `${key}: ${f} differs between ${first.locale} (v${first.version}) and ${other.locale} (v${other.version}); publish the same ${f} in every locale`,
          );
        }
      }
      if ((first.parts.attachments?.length ?? 0) !== (other.parts.attachments?.length ?? 0)) {
        problems.push(`${key}: the locales have a different number of letter attachments`);
      }
      if ((first.description ?? '') !== (other.description ?? '')) {
        warnings.push(`${key}: description differs between locales; the ${first.locale} one is exported`);
      }
    }
  }
  if (problems.length) throw new TemplateExportError(problems);

  const written: string[] = [];
  const removed: string[] = [];
  const write = (rel: string, text: string) => {
    const file = join(dir, rel);
    if (existsSync(file) && readFileSync(file, 'utf8') === text) return;
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
    written.push(rel);
  };

  mkdirSync(dir, { recursive: true });
  const templates: ExportResult['templates'] = [];
  for (const key of [...byKey.keys()].sort()) {
    const list = (byKey.get(key) ?? []).sort((a, b) => localeOrder(a.locale) - localeOrder(b.locale));
    const main = list.find((d) => d.locale === 'zh-CN') ?? list[0];
    const folder = join(dir, key);
    let oldManifest: { letter?: { attachments?: { id?: unknown }[] } } = {};
    try {
      oldManifest = JSON.parse(readFileSync(join(folder, 'template.json'), 'utf8')) as typeof oldManifest;
    } catch {
      // new key or unreadable: fresh ids
    }
    const oldIds = (oldManifest.letter?.attachments ?? []).map((a) => a.id);
    const attachmentIds = (main.parts.attachments ?? []).map((_, i) => {
      const id = oldIds[i];
      return typeof id === 'string' && /^[a-z0-9_-]+$/.test(id) ? id : `attachment${i + 1}`;
    });
    const manifest: Record<string, unknown> = {
      key,
      stage: main.stage,
      channel: main.channel,
      audience: main.audience,
      version: Math.max(...list.map((d) => d.version)),
      ...(main.description !== undefined ? { description: main.description } : {}),
      ...(main.attachLetter !== undefined ? { attachLetter: main.attachLetter } : {}),
      schema: main.schema,
      exampleData: main.exampleData,
    };
    if (main.channel === 'letter') {
      const letter: Record<string, unknown> = {};
      if (list.some((d) => d.parts.letterTitle !== undefined)) {
        letter.title = Object.fromEntries(
          list.filter((d) => d.parts.letterTitle !== undefined).map((d) => [d.locale, d.parts.letterTitle]),
        );
      }
      if (attachmentIds.length) {
        letter.attachments = attachmentIds.map((id, i) => ({
          id,
          title: Object.fromEntries(list.map((d) => [d.locale, d.parts.attachments?.[i]?.title ?? ''])),
        }));
      }
      if (Object.keys(letter).length) manifest.letter = letter;
    }
    const registrations = manifestRegistrations(list);
    if (registrations) manifest.registrations = registrations;
    write(`${key}/template.json`, await json(manifest));

    const wanted = new Set<string>();
    for (const d of list) {
      for (const [part, suffix] of Object.entries(PART_FILE)) {
        const src = (d.parts as Record<string, unknown>)[part];
        if (typeof src === 'string') {
          const name = `${d.locale}.${suffix}`;
          wanted.add(name);
          write(`${key}/${name}`, src);
        }
      }
      (d.parts.attachments ?? []).forEach((a, i) => {
        const name = `${d.locale}.attachment.${attachmentIds[i]}.md.hbs`;
        wanted.add(name);
        write(`${key}/${name}`, a.letter);
      });
    }
    const exported = new Set<string>(list.map((d) => d.locale));
    for (const f of existsSync(folder) ? readdirSync(folder) : []) {
      const m = PART_FILE_RE.exec(f);
      if (!m) continue;
      const locale = m[1] ?? m[3] ?? m[4];
      if (exported.has(locale) && !wanted.has(f)) {
        rmSync(join(folder, f));
        removed.push(`${key}/${f}`);
      }
    }
    templates.push({ key, versions: Object.fromEntries(list.map((d) => [d.locale, d.version])) });
  }

  // Partials: one source per (locale, name); the most recent version wins on a conflict.
  const partials = new Map<string, { src: string; version: number; key: string; ext: string }>();
  for (const d of defs) {
    for (const [name, src] of Object.entries(d.partials ?? {})) {
      const k = `${d.locale}|${name}`;
      const had = partials.get(k);
      if (had && had.src !== src) {
        warnings.push(`partial ${name} (${d.locale}) differs between ${had.key} and ${d.key}`);
        if (had.version >= d.version) continue;
      }
      const ext = d.channel === 'letter' ? '.md.hbs' : /<\/?[a-z][^>]*>/i.test(src) ? '.html.hbs' : '.hbs';
      partials.set(k, { src, version: d.version, key: d.key, ext });
    }
  }
  const existing = loadPackPartials(dir);
  for (const [k, { src, ext }] of [...partials.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const [locale, name] = k.split('|') as [Locale, string];
    if (!LOCALES.includes(locale)) continue;
    const current = existing[locale][name] ?? existing['*'][name];
    if (current === src) continue;
    const folder = join(dir, '_partials', locale);
    const file =
      (existsSync(folder) ? readdirSync(folder) : []).find(
        (f) => f.replace(/\.hbs$/, '').replace(/\.(md|html|txt)$/, '') === name,
      ) ?? `${name}${ext}`;
    write(`_partials/${locale}/${file}`, src);
  }
  return { written: written.sort(), removed: removed.sort(), templates, warnings };
}

/**
 * The SMS registrations of a key's locales in template.json's shape (kind -> locale -> entry;
 * Aliyun params an object, Tencent's an array in `{1}..{n}` order), or undefined when none.
 */
function manifestRegistrations(
  list: TemplateDefinition[],
): Record<string, Record<string, unknown>> | undefined {
  const out: Record<string, Record<string, unknown>> = {};
  for (const d of list) {
    for (const r of d.registrations ?? []) {
      if (r.locale !== d.locale) continue;
      const params =
        r.kind === 'tencent'
          ? [...r.params].sort((a, b) => Number(a.name) - Number(b.name)).map((p) => p.expr)
          : Object.fromEntries(r.params.map((p) => [p.name, p.expr]));
      (out[r.kind] ??= {})[r.locale] = {
        templateCode: r.templateCode,
        signName: r.signName,
        text: r.text,
        params,
      };
    }
  }
  return Object.keys(out).length ? out : undefined;
}
