/**
 * Strict rendering of template definitions. One isolated Handlebars environment with only the
 * whitelisted helpers; every compiled template and partial is cached by a hash of its source and
 * escaping mode; JSON Schema validators are cached by schema hash (see schema.ts).
 */
import { createHash } from 'node:crypto';
import Handlebars from 'handlebars';
import { TemplateDataError, type Channel, type Locale, type ProblemField } from '#libs/core';
import { analyzeTemplate } from './ast.js';
import { DEFAULT_RENDER_LIMITS, RenderBudget, type RenderLimits, TemplateBudgetError } from './budget.js';
import { ALLOWED_HELPERS, TEMPLATE_HELPERS, TemplateHelperError } from './helpers.js';
import { validateData } from './schema.js';
import { smsSegments } from './sms.js';
import type { RenderContext, RenderedMessage, TemplateDefinition, TemplateParts } from './types.js';

/** The template itself is broken (syntax error, unknown helper or partial, bad schema). Not a data problem. */
export class TemplateDefinitionError extends Error {
  constructor(
    message: string,
    readonly part?: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
    this.name = 'TemplateDefinitionError';
  }
}

/**
 * `html` escapes output (email HTML); `markdown` escapes it for the letter's Markdown (letter bodies and
 * attachments: a value such as the ID mask `1101**1234` prints as written); `plain` does not (SMS, subject, text,
 * letter titles). Only values are escaped: the template's and partials' own Markdown is kept.
 */
export type EscapeMode = 'html' | 'markdown' | 'plain';

/** Inline characters the letter's Markdown reader (and CommonMark) gives a meaning: backslash-escaped in values. */
const MD_INLINE = /[\\*_`[\]|<>~]/g;
/** Block markers at the start of a line (after up to 3 spaces): headings, quotes, list bullets, ordered lists. */
const MD_LINE_START = /^( {0,3})(#|>|[-+](?=\s|$)|(\d{1,9})([.)])(?=\s|$))/gm;

/**
 * Escapes a value for the letter's Markdown (libs/letters/src/markdown.ts understands a backslash before any ASCII
 * punctuation, as CommonMark does). Newlines are kept; a marker at the start of any of the value's lines is
 * escaped, since the value may start a line of the template.
 */
export function escapeMarkdown(value: unknown): string {
  let s: string;
  if (typeof value === 'string') s = value;
  else if (value == null) return '';
  else s = String(value);
  return s
    .replace(MD_INLINE, '\\$&')
    .replace(MD_LINE_START, (_m, indent: string, marker: string, digits?: string, dot?: string) =>
      digits !== undefined ? `${indent}${digits}\\${dot}` : `${indent}\\${marker}`,
    );
}

type Compiled = Handlebars.TemplateDelegate;

interface InternalEnv {
  parse: typeof Handlebars.parse;
  Compiler: new () => { compile(ast: hbs.AST.Program, options: CompileOptions): unknown };
  JavaScriptCompiler: new () => {
    compile(env: unknown, options: CompileOptions, context: undefined, asObject: true): unknown;
  };
  template: (spec: unknown) => Compiled;
}

const env = Handlebars.create();
env.unregisterHelper('log');
for (const [name, fn] of Object.entries(TEMPLATE_HELPERS)) env.registerHelper(name, fn);

/**
 * The escaping function of `markdown` parts, reached by the compiled code as a helper. Templates cannot call it
 * (`knownHelpersOnly` with a name outside ALLOWED_HELPERS); Handlebars wraps helpers to rewrite their last
 * argument, so the compiled call passes an options object after the value.
 */
const MD_ESCAPE_HELPER = '__letterMarkdownEscape';
env.registerHelper(MD_ESCAPE_HELPER, (value: unknown) => escapeMarkdown(value));

/** The budget of the render in progress (rendering is synchronous: at most one at a time). */
let activeBudget: RenderBudget | undefined;

// `{{#each}}` (and `{{#list}}` over an array, which Handlebars hands to `each`) counts every
// iteration and the characters it produces against the render's budget.
const builtinEach = env.helpers.each as (
  this: unknown,
  context: unknown,
  options: Handlebars.HelperOptions,
) => string;
env.registerHelper('each', function (this: unknown, context: unknown, options: Handlebars.HelperOptions) {
  const budget = activeBudget;
  if (!budget) return builtinEach.call(this, context, options);
  const fn = options.fn;
  const counted = ((item: unknown, runtime?: Handlebars.RuntimeOptions) => {
    budget.iteration();
    const out = fn(item, runtime);
    budget.output(out.length);
    return out;
  }) as Handlebars.TemplateDelegate;
  return builtinEach.call(this, context, { ...options, fn: counted });
});

const knownHelpers: Record<string, boolean> = { log: false };
for (const name of ALLOWED_HELPERS) knownHelpers[name] = true;

const BASE_OPTIONS = {
  data: true,
  strict: true,
  knownHelpers,
  knownHelpersOnly: true,
  explicitPartialContext: false,
  preventIndent: true,
} as const;

type CompileOptions = typeof BASE_OPTIONS & { noEscape: boolean };

type JsCompiler = new () => {
  compile(env: unknown, options: CompileOptions, context: undefined, asObject: true): unknown;
};

/** Handlebars' JavaScript compiler with `{{value}}` output escaped for Markdown instead of HTML. */
const MarkdownCompiler: JsCompiler = (() => {
  const Base = (env as unknown as InternalEnv).JavaScriptCompiler;
  class Md extends Base {}
  const proto = Md.prototype as unknown as {
    compiler: unknown;
    appendEscaped(): void;
    pushSource(s: unknown): void;
    appendToBuffer(parts: unknown[]): unknown;
    aliasable(name: string): unknown;
    popStack(): unknown;
  };
  proto.compiler = Md; // child programs ({{#each}}, {{#if}} bodies) compile with the same class
  proto.appendEscaped = function (this: typeof proto) {
    this.pushSource(
      this.appendToBuffer([
        this.aliasable(`container.helpers.${MD_ESCAPE_HELPER}`),
        '(',
        this.popStack(),
        ', {})',
      ]),
    );
  };
  return Md;
})();

const RUNTIME_OPTIONS = {
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
  allowCallsToHelperMissing: false,
} as const;

const MAX_CACHE = 5000;
const compiledCache = new Map<string, Compiled>();
let compileCount = 0;

function sha(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex');
}

/** Line and 1-based column of a Handlebars parse/compile error, when it says. */
export function errorPosition(err: unknown): { line?: number; column?: number } {
  const e = err as { lineNumber?: unknown; column?: unknown; message?: string };
  if (typeof e.lineNumber === 'number') {
    return { line: e.lineNumber, column: typeof e.column === 'number' ? e.column + 1 : undefined };
  }
  const m = /on line (\d+)/.exec(e.message ?? '') ?? /- (\d+):(\d+)\s*$/.exec(e.message ?? '');
  if (m) return { line: Number(m[1]), column: m[2] !== undefined ? Number(m[2]) + 1 : undefined };
  return {};
}

/** Compiles eagerly (Handlebars' own `compile` defers errors to the first call), cached by source hash. */
export function compileSource(source: string, mode: EscapeMode, part = 'template'): Compiled {
  const key = sha(mode, source);
  const cached = compiledCache.get(key);
  if (cached) return cached;
  const options: CompileOptions = { ...BASE_OPTIONS, noEscape: mode === 'plain' };
  const internal = env as unknown as InternalEnv;
  let compiled: Compiled;
  try {
    const ast = internal.parse(source);
    const environment = new internal.Compiler().compile(ast, options);
    const Js = mode === 'markdown' ? MarkdownCompiler : internal.JavaScriptCompiler;
    const spec = new Js().compile(environment, options, undefined, true);
    compiled = internal.template(spec);
  } catch (err) {
    const { line, column } = errorPosition(err);
    throw new TemplateDefinitionError(`${part}: ${(err as Error).message}`, part, line, column);
  }
  if (compiledCache.size >= MAX_CACHE) compiledCache.clear();
  compiledCache.set(key, compiled);
  compileCount++;
  return compiled;
}

// ---------------------------------------------------------------------------------------------
// Partial registry (shared parts of the pack); a definition's own `partials` take precedence.

const registry = new Map<string, Map<string, string>>();
const ANY_LOCALE = '*';
let partialGeneration = 0;

/** Registers shared partials, for one locale or (without `locale`) for every locale. */
export function registerPartials(partials: Record<string, string>, locale?: Locale): void {
  const k = locale ?? ANY_LOCALE;
  let map = registry.get(k);
  if (!map) registry.set(k, (map = new Map()));
  for (const [name, source] of Object.entries(partials)) map.set(name, source);
  partialGeneration++;
}

export function clearPartials(): void {
  registry.clear();
  partialGeneration++;
}

/** The registered partials visible to `locale` (locale-specific ones override the shared ones). */
export function registeredPartials(locale: Locale): Record<string, string> {
  return {
    ...Object.fromEntries(registry.get(ANY_LOCALE) ?? []),
    ...Object.fromEntries(registry.get(locale) ?? []),
  };
}

export function partialResolver(
  def: TemplateDefinition,
  extra?: Record<string, string>,
): (name: string) => string | undefined {
  const own = def.partials ?? {};
  const fallback = extra ?? registeredPartials(def.locale);
  return (name) =>
    Object.hasOwn(own, name) ? own[name] : Object.hasOwn(fallback, name) ? fallback[name] : undefined;
}

// ---------------------------------------------------------------------------------------------

interface CompiledPart {
  name: string;
  mode: EscapeMode;
  fn: Compiled;
  partials: Record<string, Compiled>;
  /** Root data paths read unconditionally (checked before rendering so all are reported at once). */
  required: string[][];
}

interface Bundle {
  parts: Map<string, CompiledPart>;
  /** Registry generation the bundle was compiled against (registry partials may change). */
  generation: number;
}

const bundleCache = new Map<string, Bundle>();

type PartSource = { name: string; source: string; mode: EscapeMode };

/**
 * How a channel's templates are written and assembled, one entry per channel (a channel missing
 * here does not compile): the parts it renders with their escaping mode, the parts it must have,
 * and how the rendered parts become the message.
 */
interface TemplateFormat {
  required: (keyof TemplateParts)[];
  parts(
    parts: TemplateParts,
    add: (name: string, source: string | undefined, mode: EscapeMode) => void,
  ): void;
  assemble(def: TemplateDefinition, get: (name: string) => string, out: Map<string, string>): RenderedMessage;
}

const FORMATS: Readonly<Record<Channel, TemplateFormat>> = {
  sms: {
    required: ['sms'],
    parts: (p, add) => add('sms', p.sms, 'plain'),
    assemble(_def, get) {
      const text = get('sms').trim();
      const { encoding, segments } = smsSegments(text);
      return { channel: 'sms', sms: { text, encoding, segments } };
    },
  },
  email: {
    required: ['subject', 'html', 'text'],
    parts(p, add) {
      add('subject', p.subject, 'plain');
      add('html', p.html, 'html');
      add('text', p.text, 'plain');
    },
    assemble: (_def, get) => ({
      channel: 'email',
      email: {
        subject: get('subject').replace(/\s+/g, ' ').trim(),
        html: `${get('html').trim()}\n`,
        text: `${get('text').trim()}\n`,
      },
    }),
  },
  letter: {
    required: ['letter'],
    parts(p, add) {
      add('letterTitle', p.letterTitle, 'plain');
      add('letter', p.letter, 'markdown');
      (p.attachments ?? []).forEach((a, i) => {
        add(`attachments[${i}].title`, a.title, 'plain');
        add(`attachments[${i}].letter`, a.letter, 'markdown');
      });
    },
    assemble(def, get, out) {
      const markdown = `${get('letter').trim()}\n`;
      const attachments = (def.parts.attachments ?? []).map((_, i) => ({
        title: get(`attachments[${i}].title`).replace(/\s+/g, ' ').trim(),
        markdown: `${get(`attachments[${i}].letter`).trim()}\n`,
      }));
      return { channel: 'letter', letter: { title: letterTitle(def, out, markdown), markdown, attachments } };
    },
  },
  voice: {
    required: ['voice'],
    parts: (p, add) => add('voice', p.voice, 'plain'),
    // Spoken by text-to-speech: one paragraph, whitespace as the voice pauses on it (a line
    // break after Chinese punctuation joins without a space).
    assemble: (_def, get) => ({
      channel: 'voice',
      voice: {
        text: get('voice')
          .replace(/([。！？；，、：])\s+/g, '$1')
          .replace(/\s+/g, ' ')
          .trim(),
      },
    }),
  },
};

/** The parts a channel renders, with their escaping mode. */
export function channelParts(channel: Channel, parts: TemplateParts): PartSource[] {
  const out: PartSource[] = [];
  FORMATS[channel].parts(parts, (name, source, mode) => {
    if (source !== undefined) out.push({ name, source, mode });
  });
  return out;
}

/** The parts an editor may write for a channel's template (attachments aside), in form order. */
export function editableParts(channel: Channel): string[] {
  const every: TemplateParts = {
    sms: '',
    voice: '',
    subject: '',
    html: '',
    text: '',
    letter: '',
    letterTitle: '',
  };
  return channelParts(channel, every).map((p) => p.name);
}

export const REQUIRED_PARTS: Readonly<Record<Channel, (keyof TemplateParts)[]>> = Object.fromEntries(
  Object.entries(FORMATS).map(([channel, f]) => [channel, f.required]),
) as Record<Channel, (keyof TemplateParts)[]>;

function compilePart(def: TemplateDefinition, name: string, source: string, mode: EscapeMode): CompiledPart {
  const fn = compileSource(source, mode, name);
  const resolvePartial = partialResolver(def);
  let refs;
  try {
    refs = analyzeTemplate(source, name, resolvePartial);
  } catch (err) {
    throw new TemplateDefinitionError(`${name}: ${(err as Error).message}`, name);
  }
  const partials: Record<string, Compiled> = {};
  for (const p of refs.partials) {
    if (p.dynamic)
      throw new TemplateDefinitionError(`${name}: dynamic partials are not allowed`, name, p.line, p.column);
    if (p.missing)
      throw new TemplateDefinitionError(`${name}: unknown partial "${p.name}"`, name, p.line, p.column);
    const src = resolvePartial(p.name);
    if (src !== undefined && !partials[p.name])
      partials[p.name] = compileSource(src, mode, `partial:${p.name}`);
  }
  const seen = new Set<string>();
  const required: string[][] = [];
  for (const v of refs.variables) {
    if (!v.required || v.path.startsWith('@') || v.path.includes('*') || seen.has(v.path)) continue;
    seen.add(v.path);
    required.push(v.path.split('.'));
  }
  return { name, mode, fn, partials, required };
}

/** Fast path for the same definition object: its sources compared by value (cheap when unchanged). */
const byDefinition = new WeakMap<TemplateDefinition, { inputs: unknown[]; bundle: Bundle }>();

function definitionInputs(def: TemplateDefinition, sources: { source: string }[]): unknown[] {
  const partials = def.partials ?? {};
  return [
    def.channel,
    def.locale,
    ...sources.map((s) => s.source),
    ...Object.keys(partials),
    ...Object.values(partials),
  ];
}

function sameInputs(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function bundleFor(def: TemplateDefinition): Bundle {
  const sources = channelParts(def.channel, def.parts);
  const inputs = definitionInputs(def, sources);
  const known = byDefinition.get(def);
  if (known && known.bundle.generation === partialGeneration && sameInputs(known.inputs, inputs))
    return known.bundle;
  const bundle = bundleBySource(def, sources);
  byDefinition.set(def, { inputs, bundle });
  return bundle;
}

function bundleBySource(
  def: TemplateDefinition,
  sources: { name: string; source: string; mode: EscapeMode }[],
): Bundle {
  const key = sha(def.channel, def.locale, JSON.stringify(sources), JSON.stringify(def.partials ?? null));
  const cached = bundleCache.get(key);
  if (cached && cached.generation === partialGeneration) return cached;
  for (const required of REQUIRED_PARTS[def.channel]) {
    if (def.parts[required] === undefined) {
      throw new TemplateDefinitionError(
        `${def.key}: a ${def.channel} template needs a "${required}" part`,
        required,
      );
    }
  }
  const bundle: Bundle = { parts: new Map(), generation: partialGeneration };
  for (const s of sources) bundle.parts.set(s.name, compilePart(def, s.name, s.source, s.mode));
  if (bundleCache.size >= MAX_CACHE) bundleCache.clear();
  bundleCache.set(key, bundle);
  return bundle;
}

// ---------------------------------------------------------------------------------------------

function hasPath(data: unknown, segments: string[]): boolean {
  let cur: unknown = data;
  for (const seg of segments) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return false;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur !== undefined;
}

function contextProblems(ctx: RenderContext): ProblemField[] {
  const fields: ProblemField[] = [];
  const need = (value: unknown, path: string) => {
    if (typeof value !== 'string' || value.trim() === '') fields.push({ path, message: 'is required' });
  };
  if (typeof ctx !== 'object' || ctx === null) return [{ path: 'context', message: 'is required' }];
  if (typeof ctx.bank !== 'object' || ctx.bank === null)
    fields.push({ path: 'context.bank', message: 'is required' });
  else {
    need(ctx.bank.name, 'context.bank.name');
    need(ctx.bank.address, 'context.bank.address');
    need(ctx.bank.phone, 'context.bank.phone');
    need(ctx.bank.complaintChannel, 'context.bank.complaintChannel');
  }
  need(ctx.recipientName, 'context.recipientName');
  need(ctx.caseId, 'context.caseId');
  return fields;
}

/** The `@`-variables every template sees. Optional values are present (possibly undefined) so strict mode allows `{{#if @x}}`. */
export function contextFrame(def: TemplateDefinition, ctx: RenderContext): Record<string, unknown> {
  return {
    locale: def.locale,
    bank: {
      name: ctx.bank.name,
      address: ctx.bank.address,
      phone: ctx.bank.phone,
      complaintChannel: ctx.bank.complaintChannel,
      website: ctx.bank.website,
    },
    recipientName: ctx.recipientName,
    caseId: ctx.caseId,
    notificationId: ctx.notificationId,
    unsubscribeUrl: ctx.unsubscribeUrl,
    issuedOn: ctx.issuedOn,
  };
}

function runtimeProblem(part: string, err: unknown): ProblemField {
  if (err instanceof TemplateHelperError) return { path: 'data', message: `${part}: ${err.message}` };
  const message = (err as Error).message ?? String(err);
  const m = /^"([^"]+)" not defined in/.exec(message);
  if (m) {
    return {
      path: `data.${m[1]}`,
      message: `is required by the template (${part}: ${message.replace(/ in \[object Object\]/, '')})`,
    };
  }
  return { path: 'data', message: `${part}: ${message}` };
}

function runPart(part: CompiledPart, data: unknown, frame: Record<string, unknown>): string {
  return part.fn(data, { ...RUNTIME_OPTIONS, data: frame, partials: part.partials });
}

/**
 * Validates `data` against the template schema, then renders every part of the template's channel.
 * Throws `TemplateDataError` listing every problem (schema violations and variables the template needs
 * but the data lacks) and `TemplateDefinitionError` when the template itself is broken.
 */
export function renderTemplate(
  def: TemplateDefinition,
  data: unknown,
  ctx: RenderContext,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): RenderedMessage {
  const bundle = bundleFor(def);
  let fields: ProblemField[];
  try {
    fields = validateData(def.schema, data);
  } catch (err) {
    throw new TemplateDefinitionError(`${def.key}: ${(err as Error).message}`, 'schema');
  }
  const reported = new Set(fields.map((f) => f.path));
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    for (const part of bundle.parts.values()) {
      for (const segments of part.required) {
        const path = `data.${segments.join('.')}`;
        if (reported.has(path) || hasPath(data, segments)) continue;
        reported.add(path);
        fields.push({ path, message: `is required by the template (${part.name})` });
      }
    }
  }
  fields.push(...contextProblems(ctx));
  if (fields.length > 0) {
    throw new TemplateDataError(
      `Data for template ${def.key} (${def.locale}) has ${fields.length} problem(s)`,
      fields,
    );
  }

  const frame = contextFrame(def, ctx);
  const out = new Map<string, string>();
  const problems: ProblemField[] = [];
  const budget = new RenderBudget(limits, `${def.key} (${def.locale})`);
  const outer = activeBudget;
  activeBudget = budget;
  try {
    for (const part of bundle.parts.values()) {
      try {
        const text = runPart(part, data, frame);
        budget.output(text.length);
        out.set(part.name, text);
      } catch (err) {
        if (err instanceof TemplateBudgetError) throw err;
        problems.push(runtimeProblem(part.name, err));
      }
    }
  } finally {
    activeBudget = outer;
  }
  if (problems.length > 0) {
    throw new TemplateDataError(
      `Data for template ${def.key} (${def.locale}) has ${problems.length} problem(s)`,
      problems,
    );
  }
  return assemble(def, out);
}

/**
 * Renders the param expressions of an SMS registration (registrations.ts) for one message: each is
 * compiled like the SMS body (plain output, the whitelisted helpers, the definition's partials) and
 * run with the same data and `@`-context, so a value is exactly what the body shows in its place.
 * Call it with the data and context `renderTemplate` got. A broken expression throws
 * `TemplateDefinitionError`; one the data cannot satisfy throws `TemplateDataError`.
 */
export function registrationValueRenderer(
  def: TemplateDefinition,
  data: unknown,
  ctx: RenderContext,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): (expr: string) => string {
  const frame = contextFrame(def, ctx);
  const compiled = new Map<string, CompiledPart>();
  return (expr) => {
    let part = compiled.get(expr);
    if (!part) compiled.set(expr, (part = compilePart(def, 'registration', expr, 'plain')));
    const budget = new RenderBudget(limits, `${def.key} (${def.locale}) registration`);
    const outer = activeBudget;
    activeBudget = budget;
    try {
      const text = runPart(part, data, frame);
      budget.output(text.length);
      return text;
    } catch (err) {
      if (err instanceof TemplateBudgetError) throw err;
      const problem = runtimeProblem(`registration "${expr}"`, err);
      throw new TemplateDataError(`Data for template ${def.key} (${def.locale}): ${problem.message}`, [
        problem,
      ]);
    } finally {
      activeBudget = outer;
    }
  };
}

function assemble(def: TemplateDefinition, out: Map<string, string>): RenderedMessage {
  return FORMATS[def.channel].assemble(def, (name) => out.get(name) ?? '', out);
}

function letterTitle(def: TemplateDefinition, out: Map<string, string>, markdown: string): string {
  const explicit = out.get('letterTitle')?.replace(/\s+/g, ' ').trim();
  if (explicit) return explicit;
  const heading = /^#{1,3}\s+(.+)$/m.exec(markdown);
  return heading ? heading[1].trim() : def.key;
}

/** Numbers for tests and metrics. */
export function templateCacheStats(): { compiledSources: number; compilations: number; bundles: number } {
  return { compiledSources: compiledCache.size, compilations: compileCount, bundles: bundleCache.size };
}

export function clearTemplateCaches(): void {
  compiledCache.clear();
  bundleCache.clear();
}
