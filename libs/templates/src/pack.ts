/**
 * Loads the template pack from disk (layout documented in docs/templates.md):
 *
 *   templates/_partials/<name>.hbs                 shared partial, every locale
 *   templates/_partials/<locale>/<name>.hbs        shared partial for one locale (wins over the above)
 *   templates/<key>/template.json                  stage, channel, audience, version, schema, exampleData
 *   templates/<key>/<locale>.sms.hbs               SMS text
 *   templates/<key>/<locale>.voice.hbs             voice call text (read by text-to-speech)
 *   templates/<key>/<locale>.subject.hbs           email subject
 *   templates/<key>/<locale>.html.hbs              email HTML (escaped output)
 *   templates/<key>/<locale>.text.hbs              email plain text
 *   templates/<key>/<locale>.letter.md.hbs         letter body (Markdown)
 *   templates/<key>/<locale>.attachment.<id>.md.hbs  letter attachment (ids and titles in template.json)
 *
 * An SMS template's template.json may carry `registrations` (the template as approved by mainland
 * gateways, per provider kind and locale); see `parseRegistrations` and registrations.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNELS, LOCALES, STAGES, type Channel, type Locale, type Stage } from '#libs/core';
import { analyzeTemplate } from './ast.js';
import { channelParts, compileSource, registerPartials, REQUIRED_PARTS } from './engine.js';
import { PROVIDER_SMS_RULES } from './registrations.js';
import {
  AUDIENCES,
  SMS_PROVIDER_KINDS,
  type Audience,
  type SmsProviderKind,
  type SmsRegistration,
  type TemplateDefinition,
  type TemplateParts,
} from './types.js';

const PARTIALS_DIR = '_partials';
const KEY_RE = /^[a-z]+\.[a-z]+\.[a-z0-9_]+$/;
/** A template part file's name (its locale in group 1, 3 or 4). */
export const FILE_RE =
  /^(zh-CN|en)\.(sms|voice|subject|html|text)\.hbs$|^(zh-CN|en)\.letter\.md\.hbs$|^(zh-CN|en)\.attachment\.([a-z0-9_-]+)\.md\.hbs$/;

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
  registrations?: unknown;
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

/** Aliyun refuses these variable names ("不能为 email、mobile、id、nick、site 等"). */
const ALIYUN_RESERVED_NAMES = new Set(['email', 'mobile', 'id', 'nick', 'site']);

/**
 * Reads `registrations` of an SMS manifest:
 *
 *   "registrations": {
 *     "aliyun":  { "zh-CN": { "templateCode", "signName", "text": "…${card}…", "params": { "card": "{{cardLast4}}" } } },
 *     "tencent": { "zh-CN": { "templateCode", "signName", "text": "…{1}…",     "params": ["{{cardLast4}}"] } }
 *   }
 *
 * Every placeholder of the text needs a param and every param a placeholder; Tencent's are numbered
 * 1..n with `params[i]` for `{i+1}`. Each param must compile as a plain Handlebars source.
 */
export function parseRegistrations(file: string, raw: unknown, channel: Channel): SmsRegistration[] {
  if (raw === undefined) return [];
  if (channel !== 'sms') throw new PackError(file, '"registrations" are for SMS templates only');
  if (!isObject(raw)) throw new PackError(file, '"registrations" must be an object of provider kinds');
  const out: SmsRegistration[] = [];
  for (const [kind, byLocale] of Object.entries(raw)) {
    if (!(SMS_PROVIDER_KINDS as readonly string[]).includes(kind)) {
      throw new PackError(
        file,
        `registrations: unknown provider kind "${kind}" (known: ${SMS_PROVIDER_KINDS.join(', ')})`,
      );
    }
    if (!isObject(byLocale)) throw new PackError(file, `registrations.${kind} must be an object of locales`);
    for (const [locale, entry] of Object.entries(byLocale)) {
      const at = `registrations.${kind}.${locale}`;
      if (!(LOCALES as readonly string[]).includes(locale))
        throw new PackError(file, `${at}: unknown locale "${locale}"`);
      if (!isObject(entry)) throw new PackError(file, `${at} must be an object`);
      for (const f of ['templateCode', 'signName', 'text'] as const) {
        if (typeof entry[f] !== 'string' || entry[f].trim() === '')
          throw new PackError(file, `${at}.${f} must be a non-empty string`);
      }
      const signName = entry.signName as string;
      if (/[【】]/.test(signName))
        throw new PackError(file, `${at}.signName is written without 【】 (the gateway adds them)`);
      const text = entry.text as string;
      if (/[【】]/.test(text))
        throw new PackError(
          file,
          `${at}.text: 【】 delimit the sign name, which the gateway adds (not in the text)`,
        );
      const params = registrationParams(file, at, kind as SmsProviderKind, text, entry.params);
      for (const p of params) {
        try {
          compileSource(p.expr, 'plain', `${at}.params.${p.name}`);
        } catch (err) {
          throw new PackError(file, (err as Error).message);
        }
      }
      out.push({
        kind: kind as SmsProviderKind,
        locale: locale as Locale,
        templateCode: entry.templateCode as string,
        signName,
        text,
        params,
      });
    }
  }
  return out;
}

function registrationParams(
  file: string,
  at: string,
  kind: SmsProviderKind,
  text: string,
  raw: unknown,
): { name: string; expr: string }[] {
  const placeholder = new RegExp(PROVIDER_SMS_RULES[kind].placeholder.source, 'g');
  const used = [...text.matchAll(placeholder)].map((m) => m[1]);
  if (kind === 'aliyun') {
    const stray = /\$\{(?![A-Za-z][A-Za-z0-9_]*\})[^}]*\}?/.exec(text);
    if (stray)
      throw new PackError(file, `${at}.text: malformed placeholder "${stray[0]}" (Aliyun: \${name})`);
    if (!isObject(raw))
      throw new PackError(file, `${at}.params must be an object: placeholder name -> expression`);
    const params = Object.entries(raw).map(([name, expr]) => {
      if (typeof expr !== 'string' || expr.trim() === '')
        throw new PackError(file, `${at}.params.${name} must be a Handlebars expression`);
      if (ALIYUN_RESERVED_NAMES.has(name.toLowerCase()))
        throw new PackError(file, `${at}.params.${name}: Aliyun does not accept the variable name "${name}"`);
      return { name, expr };
    });
    for (const name of used) {
      if (!params.some((p) => p.name === name))
        throw new PackError(file, `${at}.text uses \${${name}} but params has no "${name}"`);
    }
    for (const p of params) {
      if (!used.includes(p.name))
        throw new PackError(file, `${at}.params.${p.name} is not a placeholder of the text`);
    }
    return params;
  }
  const stray = /\{(?!\d+\})[^{}]*\}/.exec(text);
  if (stray)
    throw new PackError(file, `${at}.text: malformed placeholder "${stray[0]}" (Tencent: {1}, {2}, ...)`);
  if (!Array.isArray(raw)) throw new PackError(file, `${at}.params must be an array ({1} is params[0])`);
  const numbers = [...new Set(used.map(Number))].sort((a, b) => a - b);
  const expected = raw.map((_, i) => i + 1);
  if (numbers.length !== expected.length || numbers.some((n, i) => n !== expected[i])) {
    throw new PackError(
      file,
      `${at}: Tencent placeholders must be numbered {1}..{${raw.length}} to match the ${raw.length} params (the text has ${
        numbers.length ? numbers.map((n) => `{${n}}`).join(', ') : 'none'
      })`,
    );
  }
  return raw.map((expr, i) => {
    if (typeof expr !== 'string' || expr.trim() === '')
      throw new PackError(file, `${at}.params[${i}] must be a Handlebars expression`);
    return { name: String(i + 1), expr };
  });
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
    const registrations = parseRegistrations(manifestFile, manifest.registrations, manifest.channel);

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
    for (const r of registrations) {
      if (!byLocale.has(r.locale))
        throw new PackError(
          manifestFile,
          `registrations.${r.kind}.${r.locale}: the template has no ${r.locale} files`,
        );
    }

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
        ...(registrations.some((r) => r.locale === locale)
          ? { registrations: registrations.filter((r) => r.locale === locale) }
          : {}),
      });
    }
  }
  return defs;
}
