/**
 * Loads the template pack from disk (layout documented in docs/templates.md):
 *
 *   templates/_partials/<name>.hbs                 shared partial, every locale
 *   templates/_partials/<locale>/<name>.hbs        shared partial for one locale (wins over the above)
 *   templates/<key>/template.json                  stage, channel, audience, version, schema, exampleData
 *   templates/<key>/<locale>.sms.hbs               SMS text
 *   templates/<key>/<locale>.subject.hbs           email subject
 *   templates/<key>/<locale>.html.hbs              email HTML (escaped output)
 *   templates/<key>/<locale>.text.hbs              email plain text
 *   templates/<key>/<locale>.letter.md.hbs         letter body (Markdown)
 *   templates/<key>/<locale>.attachment.<id>.md.hbs  letter attachment (ids and titles in template.json)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNELS, LOCALES, STAGES, type Channel, type Locale, type Stage } from '#libs/core';
import { analyzeTemplate } from './ast.js';
import { channelParts, compileSource, registerPartials, REQUIRED_PARTS } from './engine.js';
import { AUDIENCES, type Audience, type TemplateDefinition, type TemplateParts } from './types.js';

const PARTIALS_DIR = '_partials';
const KEY_RE = /^[a-z]+\.[a-z]+\.[a-z0-9_]+$/;
const FILE_RE =
  /^(zh-CN|en)\.(sms|subject|html|text)\.hbs$|^(zh-CN|en)\.letter\.md\.hbs$|^(zh-CN|en)\.attachment\.([a-z0-9_-]+)\.md\.hbs$/;

type Localized = Partial<Record<Locale, string>>;

interface Manifest {
  key?: string;
  stage: Stage;
  channel: Channel;
  audience: Audience;
  version?: number;
  description?: string;
  attachLetter?: string;
  schema: Record<string, unknown>;
  exampleData: Record<string, unknown>;
  letter?: { title?: Localized; attachments?: { id: string; title: Localized }[] };
}

class PackError extends Error {
  constructor(file: string, message: string) {
    super(`template pack: ${file}: ${message}`);
    this.name = 'TemplatePackError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readText(file: string): string {
  return readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
}

function partialName(file: string): string {
  return file.replace(/\.hbs$/, '').replace(/\.(md|html|txt)$/, '');
}

/** Reads `_partials/`: shared ones under `*`, locale ones under their locale. */
export function loadPackPartials(dir: string): Record<Locale | '*', Record<string, string>> {
  const out: Record<string, Record<string, string>> = { '*': {} };
  for (const l of LOCALES) out[l] = {};
  const base = join(dir, PARTIALS_DIR);
  let entries: string[];
  try {
    entries = readdirSync(base).sort();
  } catch {
    return out as Record<Locale | '*', Record<string, string>>;
  }
  for (const entry of entries) {
    const path = join(base, entry);
    if (statSync(path).isDirectory()) {
      if (!(LOCALES as readonly string[]).includes(entry))
        throw new PackError(path, `unknown locale folder "${entry}"`);
      for (const f of readdirSync(path).sort()) {
        if (!f.endsWith('.hbs')) throw new PackError(join(path, f), 'partials must end in .hbs');
        out[entry][partialName(f)] = readText(join(path, f));
      }
    } else if (entry.endsWith('.hbs')) {
      out['*'][partialName(entry)] = readText(path);
    } else if (!entry.startsWith('.') && entry !== 'README.md') {
      throw new PackError(path, 'partials must end in .hbs');
    }
  }
  return out as Record<Locale | '*', Record<string, string>>;
}

function parseManifest(file: string, dirName: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readText(file));
  } catch (err) {
    throw new PackError(file, `not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new PackError(file, 'must be a JSON object');
  const m = raw as Partial<Manifest> & Record<string, unknown>;
  if (m.key !== undefined && m.key !== dirName)
    throw new PackError(file, `key "${String(m.key)}" must match its folder "${dirName}"`);
  if (!KEY_RE.test(dirName))
    throw new PackError(file, `key "${dirName}" must look like <stage>.<channel>.<name>`);
  if (!(STAGES as readonly unknown[]).includes(m.stage))
    throw new PackError(file, `stage must be one of ${STAGES.join(', ')}`);
  if (!(CHANNELS as readonly unknown[]).includes(m.channel)) {
    throw new PackError(file, `channel must be one of ${CHANNELS.join(', ')}`);
  }
  if (!AUDIENCES.includes(m.audience as Audience))
    throw new PackError(file, `audience must be one of ${AUDIENCES.join(', ')}`);
  if (!dirName.startsWith(`${m.stage}.${m.channel}.`)) {
    throw new PackError(file, `key "${dirName}" must start with "${m.stage}.${m.channel}."`);
  }
  if (m.version !== undefined && (!Number.isInteger(m.version) || (m.version as number) < 1)) {
    throw new PackError(file, 'version must be a positive integer');
  }
  if (!isObject(m.schema)) throw new PackError(file, 'schema must be a JSON Schema object');
  if (!isObject(m.exampleData)) throw new PackError(file, 'exampleData must be an object');
  if (m.attachLetter !== undefined && (m.channel !== 'email' || typeof m.attachLetter !== 'string')) {
    throw new PackError(file, '"attachLetter" is a letter template key, for email templates only');
  }
  if (m.description !== undefined && typeof m.description !== 'string')
    throw new PackError(file, 'description must be a string');
  if (m.letter !== undefined) {
    if (m.channel !== 'letter') throw new PackError(file, '"letter" settings are only for letter templates');
    if (!isObject(m.letter)) throw new PackError(file, '"letter" must be an object');
    for (const a of (m.letter.attachments ?? []) as unknown[]) {
      if (!isObject(a) || typeof a.id !== 'string' || !isObject(a.title)) {
        throw new PackError(file, 'each letter attachment needs an "id" and a localized "title"');
      }
    }
  }
  return m as Manifest;
}

function closure(
  sources: string[],
  resolve: (name: string) => string | undefined,
  file: string,
): Record<string, string> {
  const used: Record<string, string> = {};
  for (const source of sources) {
    const refs = analyzeTemplate(source, file, resolve);
    for (const p of refs.partials) {
      if (p.dynamic) throw new PackError(file, `dynamic partials are not allowed (line ${p.line})`);
      if (p.missing) throw new PackError(file, `unknown partial "${p.name}" (${p.origin} line ${p.line})`);
      const src = resolve(p.name);
      if (src !== undefined) used[p.name] = src;
    }
    for (const e of refs.errors) throw new PackError(file, `${e.origin}: ${e.message}`);
  }
  return used;
}

/**
 * Loads every template of the pack in `dir`, one definition per key and locale, sorted by key then
 * locale. Registers the pack's shared partials with the engine and copies into each definition the
 * partials it uses. Throws an Error naming the offending file when the pack is malformed.
 */
export function loadTemplatePack(dir: string): TemplateDefinition[] {
  const partials = loadPackPartials(dir);
  registerPartials(partials['*']);
  for (const l of LOCALES) registerPartials(partials[l], l);

  const defs: TemplateDefinition[] = [];
  const dirs = readdirSync(dir)
    .filter((d) => !d.startsWith('.') && !d.startsWith('_') && statSync(join(dir, d)).isDirectory())
    .sort();
  for (const dirName of dirs) {
    const folder = join(dir, dirName);
    const manifestFile = join(folder, 'template.json');
    let hasManifest = true;
    try {
      statSync(manifestFile);
    } catch {
      hasManifest = false;
    }
    if (!hasManifest) throw new PackError(folder, 'missing template.json');
    const manifest = parseManifest(manifestFile, dirName);

    const byLocale = new Map<Locale, { parts: TemplateParts; files: Map<string, string> }>();
    const attachments = new Map<Locale, Map<string, string>>();
    for (const f of readdirSync(folder).sort()) {
      if (f === 'template.json' || f.startsWith('.')) continue;
      const m = FILE_RE.exec(f);
      const file = join(folder, f);
      if (!m) throw new PackError(file, 'unexpected file name (see docs/templates.md for the pack layout)');
      const locale = (m[1] ?? m[3] ?? m[4]) as Locale;
      let entry = byLocale.get(locale);
      if (!entry) byLocale.set(locale, (entry = { parts: {}, files: new Map() }));
      const source = readText(file);
      if (m[5] !== undefined) {
        let map = attachments.get(locale);
        if (!map) attachments.set(locale, (map = new Map()));
        map.set(m[5], source);
        entry.files.set(`attachment:${m[5]}`, file);
        continue;
      }
      const part = (m[2] ?? 'letter') as keyof TemplateParts;
      (entry.parts as Record<string, string>)[part] = source;
      entry.files.set(part, file);
    }
    if (byLocale.size === 0) throw new PackError(folder, 'no template files (expected <locale>.<part>.hbs)');

    for (const [locale, { parts, files }] of byLocale) {
      for (const need of REQUIRED_PARTS[manifest.channel]) {
        if (parts[need] === undefined) {
          const name = need === 'letter' ? `${locale}.letter.md.hbs` : `${locale}.${need}.hbs`;
          throw new PackError(join(folder, name), `missing (a ${manifest.channel} template needs it)`);
        }
      }
      for (const part of Object.keys(parts)) {
        if (!channelParts(manifest.channel, { [part]: '' }).length) {
          throw new PackError(
            files.get(part) ?? folder,
            `a ${manifest.channel} template has no "${part}" part`,
          );
        }
      }
      const declared = manifest.letter?.attachments ?? [];
      const given = attachments.get(locale) ?? new Map<string, string>();
      for (const id of given.keys()) {
        if (!declared.some((a) => a.id === id)) {
          throw new PackError(
            files.get(`attachment:${id}`) ?? folder,
            `attachment "${id}" is not declared in template.json`,
          );
        }
      }
      if (declared.length > 0) {
        parts.attachments = declared.map((a) => {
          const source = given.get(a.id);
          if (source === undefined)
            throw new PackError(
              join(folder, `${locale}.attachment.${a.id}.md.hbs`),
              'missing attachment file',
            );
          const title = a.title[locale];
          if (typeof title !== 'string')
            throw new PackError(manifestFile, `attachment "${a.id}" has no ${locale} title`);
          return { title, letter: source };
        });
      }
      const title = manifest.letter?.title?.[locale];
      if (title !== undefined) parts.letterTitle = title;

      const resolve = (name: string) => partials[locale][name] ?? partials['*'][name];
      const sources = channelParts(manifest.channel, parts);
      for (const s of sources) {
        const file = files.get(s.name) ?? manifestFile;
        try {
          compileSource(s.source, s.mode, s.name);
        } catch (err) {
          throw new PackError(file, (err as Error).message);
        }
      }
      const used = closure(
        sources.map((s) => s.source),
        resolve,
        folder,
      );
      for (const [name, src] of Object.entries(used)) {
        for (const mode of new Set(sources.map((s) => s.mode))) {
          try {
            compileSource(src, mode, `partial:${name}`);
          } catch (err) {
            throw new PackError(join(dir, PARTIALS_DIR, `${name}.hbs`), (err as Error).message);
          }
        }
      }
      defs.push({
        key: dirName,
        locale,
        stage: manifest.stage,
        channel: manifest.channel,
        audience: manifest.audience,
        version: manifest.version ?? 1,
        schema: manifest.schema,
        exampleData: manifest.exampleData,
        parts,
        ...(manifest.description !== undefined ? { description: manifest.description } : {}),
        ...(manifest.attachLetter !== undefined ? { attachLetter: manifest.attachLetter } : {}),
        partials: used,
      });
    }
  }
  return defs;
}
