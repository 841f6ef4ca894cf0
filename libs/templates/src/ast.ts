/**
 * Static analysis of Handlebars sources: which variables, helpers and partials a template uses
 * (following partials), where, and whether a variable is needed unconditionally. Used by lint
 * and by the renderer's up-front "missing variable" check.
 */
import Handlebars from 'handlebars';
import { ALLOWED_HELPERS } from './helpers.js';

export interface SourcePosition {
  /** `sms`, `html`, ... or `partial:<name>`. */
  origin: string;
  line: number;
  /** 1-based. */
  column: number;
}

export interface VariableRef extends SourcePosition {
  /** Dotted path from the data root; array items are `*` (`items.*.amount`). Context values start with `@`. */
  path: string;
  /** False when the value is only read inside `#if`/`#unless`/`#each`/`#with` or as a block parameter. */
  required: boolean;
}

export interface HelperRef extends SourcePosition {
  name: string;
}

export interface PartialRef extends SourcePosition {
  name: string;
  dynamic: boolean;
  /** True when neither the template's partials nor the inline partials define it. */
  missing: boolean;
}

export interface ContentRef extends SourcePosition {
  /** Literal text exactly as written in the source. */
  text: string;
}

export interface AnalysisError extends SourcePosition {
  message: string;
}

export interface TemplateRefs {
  variables: VariableRef[];
  helpers: HelperRef[];
  partials: PartialRef[];
  contents: ContentRef[];
  /** Triple-stash `{{{x}}}` / `{{& x}}` outputs (unescaped even in HTML). */
  unescaped: SourcePosition[];
  /** Parse errors in partials (a parse error in the analysed source itself is thrown). */
  errors: AnalysisError[];
}

/** Data variables Handlebars defines itself inside blocks. */
const LOCAL_DATA = new Set(['index', 'key', 'first', 'last', 'level', 'partial-block']);
const CONDITIONAL_HELPERS = new Set(['if', 'unless']);
const SCOPE_HELPERS = new Set(['each', 'with']);

interface Scope {
  /** Path of the context from the data root, or null when unknown. */
  prefix: string[] | null;
  blockParams: Map<string, string[] | null>;
  parent: Scope | null;
}

type Node = hbs.AST.Node;

interface WalkState {
  origin: string;
  required: boolean;
  scope: Scope;
}

const parseCache = new Map<string, hbs.AST.Program>();

/** Parses a source without whitespace processing (positions and text stay as written). */
export function parseSource(source: string): hbs.AST.Program {
  const cached = parseCache.get(source);
  if (cached) return cached;
  const ast = Handlebars.parseWithoutProcessing(source);
  if (parseCache.size > 2000) parseCache.clear();
  parseCache.set(source, ast);
  return ast;
}

export function analyzeTemplate(
  source: string,
  origin: string,
  resolvePartial: (name: string) => string | undefined,
): TemplateRefs {
  const refs: TemplateRefs = {
    variables: [],
    helpers: [],
    partials: [],
    contents: [],
    unescaped: [],
    errors: [],
  };
  const inline = new Set<string>();
  const stack: string[] = [];
  const root: Scope = { prefix: [], blockParams: new Map(), parent: null };

  const pos = (node: Node, origin: string): SourcePosition => ({
    origin,
    line: node.loc?.start.line ?? 1,
    column: (node.loc?.start.column ?? 0) + 1,
  });

  function resolve(
    path: hbs.AST.PathExpression,
    scope: Scope,
  ): { path: string; segments: string[] | null } | null {
    if (path.data) {
      if (path.parts[0] === 'root')
        return { path: path.parts.slice(1).join('.'), segments: path.parts.slice(1) };
      if (LOCAL_DATA.has(path.parts[0] ?? '')) return null;
      return { path: `@${path.parts.join('.')}`, segments: null };
    }
    let s: Scope = scope;
    for (let i = 0; i < path.depth && s.parent; i++) s = s.parent;
    if (path.depth === 0 && path.parts.length > 0) {
      for (let b: Scope | null = scope; b; b = b.parent) {
        if (b.blockParams.has(path.parts[0])) {
          const base = b.blockParams.get(path.parts[0]);
          if (!base) return null;
          const segments = [...base, ...path.parts.slice(1)];
          return { path: segments.join('.'), segments };
        }
      }
    }
    if (!s.prefix) return null;
    const segments = [...s.prefix, ...path.parts];
    return { path: segments.join('.'), segments };
  }

  function addVariable(path: hbs.AST.PathExpression, st: WalkState, required: boolean): string[] | null {
    const r = resolve(path, st.scope);
    if (!r) return null;
    if (r.path !== '') {
      const isRelative = st.scope.prefix !== null && st.scope.prefix.length > 0 && !path.data;
      refs.variables.push({
        ...pos(path, st.origin),
        path: r.path,
        required: required && st.required && !isRelative,
      });
    }
    return r.segments;
  }

  function isHelperCall(node: { path: Node; params: Node[]; hash?: hbs.AST.Hash }, block: boolean): boolean {
    if (node.path.type !== 'PathExpression') return false;
    const p = node.path as hbs.AST.PathExpression;
    if (p.data || p.depth > 0 || p.parts.length !== 1 || /^this\b|^\.\//.test(p.original)) return false;
    if (node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0) return true;
    return ALLOWED_HELPERS.has(p.parts[0]) || (block && CONDITIONAL_HELPERS.has(p.parts[0]));
  }

  function expression(node: Node, st: WalkState, required: boolean): void {
    switch (node.type) {
      case 'PathExpression':
        addVariable(node as hbs.AST.PathExpression, st, required);
        break;
      case 'SubExpression': {
        const sub = node as hbs.AST.SubExpression;
        call(sub, st, required);
        break;
      }
      default:
        break;
    }
  }

  /** A helper call (mustache or sub-expression). */
  function call(
    node: { path: hbs.AST.PathExpression; params: Node[]; hash?: hbs.AST.Hash },
    st: WalkState,
    required: boolean,
  ) {
    const name = node.path.parts[0];
    refs.helpers.push({ ...pos(node.path, st.origin), name });
    // Our helpers reject missing values; `eq`, `lookup` accept them.
    const strictParams = required && name !== 'eq' && name !== 'lookup';
    for (const p of node.params) expression(p, st, strictParams);
    for (const pair of node.hash?.pairs ?? []) expression(pair.value, st, false);
  }

  function program(prog: hbs.AST.Program | undefined, st: WalkState): void {
    if (!prog) return;
    for (const stmt of prog.body) statement(stmt, st);
  }

  function walkPartial(name: string, node: Node, st: WalkState, scope: Scope): void {
    const known = inline.has(name);
    const source = known ? undefined : resolvePartial(name);
    refs.partials.push({
      ...pos(node, st.origin),
      name,
      dynamic: false,
      missing: !known && source === undefined,
    });
    if (source === undefined || stack.includes(name)) return;
    let ast: hbs.AST.Program;
    try {
      ast = parseSource(source);
    } catch (err) {
      const e = err as { message: string; lineNumber?: number; column?: number };
      refs.errors.push({
        origin: `partial:${name}`,
        line: e.lineNumber ?? 1,
        column: (e.column ?? 0) + 1,
        message: e.message,
      });
      return;
    }
    stack.push(name);
    program(ast, { origin: `partial:${name}`, required: st.required, scope });
    stack.pop();
  }

  function partialScope(
    node: hbs.AST.PartialStatement | hbs.AST.PartialBlockStatement,
    st: WalkState,
  ): Scope {
    if (node.params.length === 0) return st.scope;
    const ctx = node.params[0];
    if (ctx.type === 'PathExpression') {
      const r = resolve(ctx as hbs.AST.PathExpression, st.scope);
      expression(ctx, st, false);
      return { prefix: r?.segments ?? null, blockParams: new Map(), parent: st.scope };
    }
    return { prefix: null, blockParams: new Map(), parent: st.scope };
  }

  function statement(node: Node, st: WalkState): void {
    switch (node.type) {
      case 'ContentStatement': {
        const c = node as hbs.AST.ContentStatement;
        const text = typeof c.original === 'string' ? (c.original as unknown as string) : c.value;
        refs.contents.push({ ...pos(c, st.origin), text });
        break;
      }
      case 'MustacheStatement': {
        const m = node as hbs.AST.MustacheStatement;
        if (!m.escaped) refs.unescaped.push(pos(m, st.origin));
        if (m.path.type !== 'PathExpression') break;
        if (isHelperCall(m, false))
          call(m as { path: hbs.AST.PathExpression; params: Node[]; hash: hbs.AST.Hash }, st, true);
        else addVariable(m.path as hbs.AST.PathExpression, st, true);
        break;
      }
      case 'BlockStatement': {
        const b = node as hbs.AST.BlockStatement;
        const name = b.path.parts[0];
        if (isHelperCall(b, true)) {
          refs.helpers.push({ ...pos(b.path, st.origin), name });
          if (SCOPE_HELPERS.has(name)) {
            const first = b.params[0];
            let prefix: string[] | null = null;
            if (first?.type === 'PathExpression') {
              const segs = addVariable(first as hbs.AST.PathExpression, st, false);
              prefix = segs ? (name === 'each' ? [...segs, '*'] : segs) : null;
            } else if (first) expression(first, st, false);
            const blockParams = new Map<string, string[] | null>();
            if (b.program.blockParams?.[0]) blockParams.set(b.program.blockParams[0], prefix);
            const inner: Scope = { prefix, blockParams, parent: st.scope };
            program(b.program, { origin: st.origin, required: false, scope: inner });
            program(b.inverse, { ...st, required: false });
          } else {
            for (const p of b.params) expression(p, st, false);
            for (const pair of b.hash?.pairs ?? []) expression(pair.value, st, false);
            program(b.program, { ...st, required: false });
            program(b.inverse, { ...st, required: false });
          }
        } else {
          addVariable(b.path, st, false);
          program(b.program, {
            origin: st.origin,
            required: false,
            scope: { prefix: null, blockParams: new Map(), parent: st.scope },
          });
          program(b.inverse, { ...st, required: false });
        }
        break;
      }
      case 'DecoratorBlock': {
        const d = node as hbs.AST.BlockStatement;
        const nameParam = d.params[0];
        if (d.path.original === 'inline' && nameParam?.type === 'StringLiteral') {
          inline.add((nameParam as hbs.AST.StringLiteral).value);
        }
        program(d.program, { ...st, required: false });
        break;
      }
      case 'PartialStatement':
      case 'PartialBlockStatement': {
        const p = node as hbs.AST.PartialStatement | hbs.AST.PartialBlockStatement;
        if (p.name.type !== 'PathExpression') {
          refs.partials.push({ ...pos(p, st.origin), name: '(dynamic)', dynamic: true, missing: false });
          expression(p.name, st, false);
        } else {
          const name = (p.name as hbs.AST.PathExpression).original;
          if (name !== '@partial-block') walkPartial(name, p, st, partialScope(p, st));
        }
        for (const pair of p.hash?.pairs ?? []) expression(pair.value, st, false);
        if (p.type === 'PartialBlockStatement') program((p as hbs.AST.PartialBlockStatement).program, st);
        break;
      }
      default:
        break;
    }
  }

  const ast = parseSource(source);
  // Inline partials are defined before use anywhere in the source.
  for (const stmt of ast.body) {
    if (stmt.type === 'DecoratorBlock') {
      const d = stmt as hbs.AST.BlockStatement;
      const nameParam = d.params[0];
      if (nameParam?.type === 'StringLiteral') inline.add((nameParam as hbs.AST.StringLiteral).value);
    }
  }
  program(ast, { origin, required: true, scope: root });
  return refs;
}

/** Line and 1-based column of `offset` inside a content node that starts at (`line`, `column`). */
export function positionIn(content: ContentRef, offset: number): { line: number; column: number } {
  let line = content.line;
  let column = content.column;
  for (let i = 0; i < offset; i++) {
    if (content.text[i] === '\n') {
      line++;
      column = 1;
    } else column++;
  }
  return { line, column };
}
