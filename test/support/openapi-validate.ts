/**
 * Validates HTTP answers against the committed openapi.json (ajv): the status must be documented
 * for the operation, the media type listed, and a JSON body must match the documented schema.
 * The OpenAPI 3.0 dialect is turned into JSON Schema once (`nullable`), refs point into one
 * schema holding every component.
 */
import { readFileSync } from 'node:fs';
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

  constructor(doc?: OpenApiDoc) {
    this.doc = doc ?? (JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as OpenApiDoc);
    this.ajv = new Ajv({ strict: false, allErrors: true });
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

  /** The problems with an answer (empty when it conforms). */
  problems(a: Answer): string[] {
    const label = `${a.method.toUpperCase()} ${a.path} -> ${a.status}`;
    const template = this.templateOf(a.path.split('?')[0]);
    const op = template ? this.doc.paths[template][a.method.toLowerCase()] : undefined;
    if (!template || !op) return [`${label}: not an operation of openapi.json`];
    const responses = op.responses ?? {};
    const res = responses[String(a.status)] ?? responses[`${String(a.status)[0]}XX`] ?? responses.default;
    if (!res) return [`${label}: status not documented (${Object.keys(responses).join(', ')})`];
    this.checked++;
    const content = res.content ?? {};
    if (!Object.keys(content).length) {
      return a.body.length ? [`${label}: a body where none is documented`] : [];
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
