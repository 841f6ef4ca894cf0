/**
 * Validates HTTP answers against the committed openapi.json (ajv): the status must be documented
 * for the operation, the media type listed, and a JSON body must match the documented schema.
 * The OpenAPI 3.0 dialect is turned into JSON Schema once (`nullable`), refs point into one
 * schema holding every component.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ROOT } from './infra.js';

type Node = Record<string, unknown>;
interface MediaType {
  schema?: Node;
}
interface Response {
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  responses?: Record<string, Response>;
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Node> };
}

const DOC_ID = 'openapi.json';

/** OpenAPI 3.0 schema object -> JSON Schema: `nullable`, and refs into the components schema. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node as Node)) {
    if (k === '$ref' && typeof v === 'string') out.$ref = v.startsWith('#/') ? `${DOC_ID}${v}` : v;
    else if (k === 'example' || k === 'examples' || k.startsWith('x-')) continue;
    else out[k] = toJsonSchema(v);
  }
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
    } else {
      return { anyOf: [out, { type: 'null' }] };
    }
  } else if (out.nullable === false) delete out.nullable;
  return out;
}

export interface Answer {
  method: string;
  /** The URL path (`/v1/notifications/6f1c…`) or the OpenAPI path (`/v1/notifications/{id}`). */
  path: string;
  status: number;
  contentType: string | null;
  /** The body text (JSON is parsed here). */
  body: string;
}

export class OpenApiValidator {
  readonly doc: OpenApiDoc;
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: { re: RegExp; path: string }[];
  /** Answers checked (for a suite to assert it checked something). */
  checked = 0;

  /** `allErrors: false` stops at the first error of an answer (the e2e hook: cheaper). */
  constructor(doc?: OpenApiDoc, opts: { allErrors?: boolean } = {}) {
    this.doc = doc ?? (JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as OpenApiDoc);
    this.ajv = new Ajv({ strict: false, allErrors: opts.allErrors ?? true });
    // ajv-formats is CommonJS: the default import is the plugin or its module object.
    const plugin = (
      typeof addFormatsModule === 'function'
        ? addFormatsModule
        : (addFormatsModule as unknown as { default: unknown }).default
    ) as (ajv: Ajv) => Ajv;
    plugin(this.ajv);
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema({ $id: DOC_ID, components: { schemas: toJsonSchema(this.doc.components.schemas) } });
    // Literal segments first, so `/v1/templates/policy` is not taken for `/v1/templates/{key}`.
    this.templates = Object.keys(this.doc.paths)
      .map((path) => ({
        path,
        re: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
        params: (path.match(/\{/g) ?? []).length,
      }))
      .sort((a, b) => a.params - b.params);
  }

  /** The OpenAPI path of a URL path, or null when the document has none. */
  templateOf(urlPath: string): string | null {
    if (this.doc.paths[urlPath]) return urlPath;
    return this.templates.find((t) => t.re.test(urlPath))?.path ?? null;
  }

  /**
   * The problems with an answer (empty when it conforms). `typedOnly`: only what the document
   * types is checked: an operation it lacks, a success answer of an operation that documents no
   * success, or an answer documented without content pass (`npm run openapi -- --gaps` lists them).
   */
  problems(a: Answer, opts: { typedOnly?: boolean } = {}): string[] {
    const label = `${a.method.toUpperCase()} ${a.path} -> ${a.status}`;
    const template = this.templateOf(a.path.split('?')[0]);
    const op = template ? this.doc.paths[template][a.method.toLowerCase()] : undefined;
    if (!template || !op) return opts.typedOnly ? [] : [`${label}: not an operation of openapi.json`];
    const responses = op.responses ?? {};
    const success = a.status >= 200 && a.status < 300;
    const res =
      responses[String(a.status)] ??
      responses[`${String(a.status)[0]}XX`] ??
      (success ? undefined : responses.default);
    if (!res) {
      if (opts.typedOnly && success && !Object.keys(responses).some((s) => s.startsWith('2'))) return [];
      return [`${label}: status not documented (${Object.keys(responses).join(', ')})`];
    }
    this.checked++;
    const content = res.content ?? {};
    if (!Object.keys(content).length) {
      return a.body.length && !opts.typedOnly ? [`${label}: a body where none is documented`] : [];
    }
    const type = (a.contentType ?? '').split(';')[0].trim().toLowerCase();
    const media = content[type];
    if (!media)
      return [
        `${label}: content-type ${type || '(none)'} not documented (${Object.keys(content).join(', ')})`,
      ];
    if (!/^application\/([\w.-]+\+)?json$/.test(type) || !media.schema) return [];
    let body: unknown;
    try {
      body = JSON.parse(a.body) as unknown;
    } catch {
      return [`${label}: body is not JSON`];
    }
    const key = `${template} ${a.method.toLowerCase()} ${a.status} ${type}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(media.schema) as Node);
      this.compiled.set(key, validate);
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) =>
        `${label} (${op.operationId ?? template}): ${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
    );
  }

  /** Throws when the answer does not conform. */
  assert(a: Answer): void {
    const problems = this.problems(a);
    if (problems.length) throw new Error(`answer does not match openapi.json:\n${problems.join('\n')}`);
  }

  /** Checks a fetch Response (reads a clone; the caller may still read the original). */
  async assertResponse(method: string, url: string, res: globalThis.Response): Promise<void> {
    this.assert({
      method,
      path: new URL(url).pathname,
      status: res.status,
      contentType: res.headers.get('content-type'),
      body: await res.clone().text(),
    });
  }
}

/* Every answer an e2e suite gets from an in-process app, checked against the document. */

let shared: OpenApiValidator | null = null;
const watched = new Set<string>();
const pending: Promise<void>[] = [];
/** Mismatches seen by the fetch hook (`npm test` fails the suite on them: see `assertWatchedAnswers`). */
export const watchedMismatches: string[] = [];
let hooked = false;

function methodOf(input: string | URL | Request, init?: RequestInit): string {
  return (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
}

/**
 * Answers from `baseUrl` fetched with the global fetch are validated (in the background: the
 * caller reads the answer as usual, streams included) against openapi.json, `typedOnly`: what
 * the document types must match, the rest (unknown routes, /docs, untyped answers) passes.
 * `OPENAPI_VALIDATE=off` turns it off.
 */
export function watchAnswers(baseUrl: string): () => void {
  if (process.env.OPENAPI_VALIDATE === 'off') return () => undefined;
  const origin = new URL(baseUrl).origin;
  watched.add(origin);
  if (!hooked) {
    hooked = true;
    const original = globalThis.fetch;
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const res = await original(input, init);
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      if (watched.has(url.origin)) {
        shared ??= new OpenApiValidator(undefined, { allErrors: false });
        const v = shared;
        if (v.templateOf(url.pathname)) {
          const method = methodOf(input, init);
          const copy = res.clone();
          pending.push(
            copy.text().then(
              (body) => {
                watchedMismatches.push(
                  ...v.problems(
                    {
                      method,
                      path: url.pathname,
                      status: res.status,
                      contentType: res.headers.get('content-type'),
                      body,
                    },
                    { typedOnly: true },
                  ),
                );
              },
              () => undefined, // aborted or cut off: nothing to check
            ),
          );
        }
      }
      return res;
    };
  }
  return () => watched.delete(origin);
}

/** The answers checked so far, and their mismatches (waits for bodies still being read). */
export async function watchedAnswers(): Promise<{ checked: number; mismatches: string[] }> {
  await Promise.all(pending.splice(0));
  return { checked: shared?.checked ?? 0, mismatches: [...watchedMismatches] };
}

/**
 * Called when an in-process app closes: with `OPENAPI_VALIDATE=report` appends the mismatches to
 * test-output/openapi-mismatches.txt; by default (`strict`) throws, failing the suite.
 */
export async function checkWatchedAnswers(): Promise<void> {
  const { mismatches } = await watchedAnswers();
  watchedMismatches.length = 0;
  if (!mismatches.length) return;
  if (process.env.OPENAPI_VALIDATE === 'report') {
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    appendFileSync(join(ROOT, 'test-output', 'openapi-mismatches.txt'), `${mismatches.join('\n')}\n`);
    return;
  }
  throw new Error(`answers that do not match openapi.json:\n${[...new Set(mismatches)].join('\n')}`);
}
