/** JSON Schema validation of template data: ajv with allErrors, formats, compiled validators cached by schema hash. */
import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { RegExpEngine, RegExpLike } from 'ajv/dist/types/index.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import RE2 from 're2';
import type { ProblemField } from '#libs/core';

type FormatsPlugin = (ajv: Ajv) => Ajv;

// ajv-formats is CommonJS: depending on the loader the default import is the plugin or its module object.
const addFormats: FormatsPlugin = (
  typeof formatsModule === 'function'
    ? formatsModule
    : (formatsModule as unknown as { default: FormatsPlugin }).default
) as FormatsPlugin;

/** The template's schema itself is not a usable JSON Schema. */
export class TemplateSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateSchemaError';
  }
}

function makeAjv<T extends Ajv>(instance: T): T {
  addFormats(instance);
  return instance;
}

/**
 * Schema `pattern` / `patternProperties` run on RE2 (linear time in the input) instead of the
 * backtracking JavaScript engine: `^(a+)+$` against 31 characters took seconds with `RegExp`.
 * RE2 refuses what it cannot run in linear time (back-references, look-around), so such a schema
 * does not compile: lint reports `schema-invalid` and a submit is refused.
 */
export const linearRegExp: RegExpEngine = Object.assign(
  (pattern: string, flags: string): RegExpLike => new RE2(pattern, flags),
  { code: 'require("re2")' },
);

/** A linear-time regular expression (RE2) for patterns that come from template authors. */
export function safeRegExp(pattern: string): RegExpLike {
  return linearRegExp(pattern, 'u');
}

const ajvOptions = {
  allErrors: true,
  strict: true,
  strictRequired: false,
  logger: false,
  code: { regExp: linearRegExp },
} as const;
let ajv07: Ajv | undefined;
let ajv2020: Ajv | undefined;

function ajvFor(schema: Record<string, unknown>): Ajv {
  const dialect = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (dialect.includes('2020-12')) {
    ajv2020 ??= makeAjv(new Ajv2020(ajvOptions) as unknown as Ajv);
    return ajv2020;
  }
  ajv07 ??= makeAjv(new Ajv(ajvOptions));
  return ajv07;
}

const MAX_CACHE = 2000;
const validators = new Map<string, ValidateFunction>();

export function schemaHash(schema: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}

/** Compiles (or fetches from the cache) the validator of a template schema. Throws `TemplateSchemaError`. */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = schemaHash(schema);
  const cached = validators.get(key);
  if (cached) return cached;
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new TemplateSchemaError('schema must be a JSON object');
  }
  // Versions of one template may share an `$id`; ajv refuses a second schema with the same id.
  const { $id: _id, ...rest } = schema;
  let validate: ValidateFunction;
  try {
    validate = ajvFor(schema).compile(rest);
  } catch (err) {
    throw new TemplateSchemaError(`invalid JSON Schema: ${(err as Error).message}`);
  }
  if (validators.size >= MAX_CACHE) validators.clear();
  validators.set(key, validate);
  return validate;
}

/** `/items/0/amount` -> `data.items[0].amount`. */
export function pointerToPath(pointer: string, root = 'data'): string {
  if (pointer === '') return root;
  let out = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg)
      ? `[${seg}]`
      : /^[A-Za-z_$][\w$]*$/.test(seg)
        ? `.${seg}`
        : `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function fieldOf(error: ErrorObject): ProblemField {
  const base = error.instancePath;
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      return { path: pointerToPath(`${base}/${missing}`), message: 'is required' };
    }
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      return { path: pointerToPath(`${base}/${extra}`), message: 'is not allowed by the template schema' };
    }
    default:
      return { path: pointerToPath(base), message: error.message ?? `fails ${error.keyword}` };
  }
}

/** Validates `data` against `schema`; returns every problem (empty when valid). */
export function validateData(schema: Record<string, unknown>, data: unknown): ProblemField[] {
  const validate = compileSchema(schema);
  if (validate(data)) return [];
  const fields: ProblemField[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const field = fieldOf(error);
    const k = `${field.path}\u0000${field.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    fields.push(field);
  }
  return fields;
}

export function schemaCacheSize(): number {
  return validators.size;
}

export function clearSchemaCache(): void {
  validators.clear();
}
