import type { TemplateDefinition } from '../types.js';

/** One line of a line diff: unchanged (' '), removed ('-') or added ('+'). */
export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
}

/** The changes of one field of a template definition (`parts.sms`, `schema`, `partials.sms-opt-out`, …). */
export interface FieldDiff {
  field: string;
  change: 'added' | 'removed' | 'changed';
  lines: DiffLine[];
}

/** Largest n*m the quadratic LCS runs on; beyond it a field diff is "everything removed, everything added". */
const MAX_CELLS = 4_000_000;

/** Line diff (longest common subsequence). */
export function diffLines(a: string, b: string): DiffLine[] {
  const x = a === '' ? [] : a.split('\n');
  const y = b === '' ? [] : b.split('\n');
  // Trim the common head and tail first: edits are usually local.
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (
    tail < x.length - head &&
    tail < y.length - head &&
    x[x.length - 1 - tail] === y[y.length - 1 - tail]
  ) {
    tail++;
  }
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const out: DiffLine[] = x.slice(0, head).map((text) => ({ op: ' ', text }));
  if (xs.length * ys.length > MAX_CELLS) {
    out.push(...xs.map((text): DiffLine => ({ op: '-', text })));
    out.push(...ys.map((text): DiffLine => ({ op: '+', text })));
  } else {
    const n = xs.length;
    const m = ys.length;
    const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xs[i] === ys[j]) {
        out.push({ op: ' ', text: xs[i] });
        i++;
        j++;
      } else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) {
        out.push({ op: '+', text: ys[j] });
        j++;
      } else {
        out.push({ op: '-', text: xs[i] });
        i++;
      }
    }
  }
  out.push(...x.slice(x.length - tail).map((text): DiffLine => ({ op: ' ', text })));
  return out;
}

/** The fields of a definition compared by {@link diffDefinitions}, as text. */
export function definitionFields(def: Partial<TemplateDefinition> | undefined): Map<string, string> {
  const f = new Map<string, string>();
  if (!def) return f;
  const put = (k: string, v: string | undefined) => {
    if (v !== undefined) f.set(k, v);
  };
  put('stage', def.stage);
  put('channel', def.channel);
  put('audience', def.audience);
  put('description', def.description);
  const p = def.parts ?? {};
  put('parts.sms', p.sms);
  put('parts.subject', p.subject);
  put('parts.html', p.html);
  put('parts.text', p.text);
  put('parts.letterTitle', p.letterTitle);
  put('parts.letter', p.letter);
  (p.attachments ?? []).forEach((a, i) => {
    put(`parts.attachments[${i}].title`, a.title);
    put(`parts.attachments[${i}].letter`, a.letter);
  });
  if (def.schema !== undefined) put('schema', JSON.stringify(def.schema, null, 2));
  if (def.exampleData !== undefined) put('exampleData', JSON.stringify(def.exampleData, null, 2));
  for (const [name, src] of Object.entries(def.partials ?? {}).sort(([x], [y]) => x.localeCompare(y))) {
    put(`partials.${name}`, src);
  }
  for (const r of def.registrations ?? []) {
    const { kind, locale: _locale, ...rest } = r;
    put(`registrations.${kind}`, JSON.stringify(rest, null, 2));
  }
  return f;
}

/** Field-by-field line diff of two definitions (`from` undefined: everything is added). */
export function diffDefinitions(
  from: Partial<TemplateDefinition> | undefined,
  to: Partial<TemplateDefinition> | undefined,
): FieldDiff[] {
  const a = definitionFields(from);
  const b = definitionFields(to);
  const names = [...new Set([...a.keys(), ...b.keys()])];
  const out: FieldDiff[] = [];
  for (const field of names) {
    const x = a.get(field);
    const y = b.get(field);
    if (x === y) continue;
    out.push({
      field,
      change: x === undefined ? 'added' : y === undefined ? 'removed' : 'changed',
      lines: diffLines(x ?? '', y ?? ''),
    });
  }
  return out;
}

/** A unified-diff-like text of field diffs, with `context` unchanged lines around each change. */
export function formatDiff(diffs: FieldDiff[], context = 2): string {
  const out: string[] = [];
  for (const d of diffs) {
    out.push(`@@ ${d.field} (${d.change})`);
    const keep = new Set<number>();
    d.lines.forEach((l, i) => {
      if (l.op === ' ') return;
      for (let k = Math.max(0, i - context); k <= Math.min(d.lines.length - 1, i + context); k++) keep.add(k);
    });
    let last = -1;
    d.lines.forEach((l, i) => {
      if (!keep.has(i)) return;
      if (last !== -1 && i > last + 1) out.push('…');
      out.push(`${l.op}${l.text}`);
      last = i;
    });
  }
  return out.join('\n');
}
