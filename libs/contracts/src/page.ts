/**
 * Cursor pagination for every REST list (docs/api.md, "Pagination"): `limit` (default 50, at most
 * 500; over the cap is a 400 naming `limit`) and `cursor`, the opaque `next` of the previous page.
 * A cursor is base64url JSON `{ "k": <list>, "v": <the last item's sort key> }`; one that does not
 * decode, belongs to another list or carries a key of the wrong shape is a 400 naming `cursor`.
 * Lists are ordered by a stable, unique key, and services read `limit + 1` rows after the cursor
 * (keyset, `WHERE (k) > (:cursor) ORDER BY k LIMIT n + 1`), so a page never skips or repeats an
 * item however large the list.
 */
import { z } from 'zod';
import { ValidationError } from '#libs/core';

export const PAGE_DEFAULT_LIMIT = 50;
export const PAGE_MAX_LIMIT = 500;

/** What a service needs to read one page: the key after which to start, and how many items. */
export interface PageRequest<K> {
  /** The list the cursor belongs to (`notifications.byCase`, `evidence.events`, ...). */
  readonly kind: string;
  readonly limit: number;
  /** The sort key of the previous page's last item; null on the first page. */
  readonly after: K | null;
}

export interface Page<T> {
  items: T[];
  /** The cursor for the next page; null on the last one. */
  next: string | null;
}

/** The base64url cursor for `key` of list `kind`. */
export function encodeCursor(kind: string, key: unknown): string {
  return Buffer.from(JSON.stringify({ k: kind, v: key }), 'utf8').toString('base64url');
}

function badCursor(message: string): ValidationError {
  return new ValidationError('cursor is invalid', [{ path: 'cursor', message }]);
}

/** The sort key in `cursor`, checked against `keySchema` and the list's `kind`. */
export function decodeCursor<K>(cursor: string, kind: string, keySchema: z.ZodType<K>): K {
  if (cursor.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw badCursor('not a cursor this API issued (base64url)');
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
  } catch {
    throw badCursor('not a cursor this API issued');
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) {
    throw badCursor('not a cursor this API issued');
  }
  const { k, v } = decoded as { k?: unknown; v?: unknown };
  if (k !== kind) throw badCursor('a cursor of another list');
  const parsed = keySchema.safeParse(v);
  if (!parsed.success) throw badCursor('not a cursor this API issued');
  return parsed.data;
}

/** Reads an integer `limit` in 1..max (default `def`); anything else is a 400 naming `limit`. */
export function limitOf(raw: unknown, def = PAGE_DEFAULT_LIMIT, max = PAGE_MAX_LIMIT): number {
  if (raw === undefined || raw === '') return def;
  const text = typeof raw === 'string' ? raw.trim() : typeof raw === 'number' ? String(raw) : null;
  const n = text !== null && /^\d{1,12}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new ValidationError(`limit must be an integer 1..${max}`, [
      { path: 'limit', message: `an integer 1..${max}` },
    ]);
  }
  return n;
}

/** The page request of `query` (`limit`, `cursor`) for list `kind`, whose keys `keySchema` checks. */
export function pageRequestOf<K>(
  query: { limit?: unknown; cursor?: unknown },
  kind: string,
  keySchema: z.ZodType<K>,
  opts: { defaultLimit?: number; maxLimit?: number } = {},
): PageRequest<K> {
  const limit = limitOf(
    query.limit,
    opts.defaultLimit ?? PAGE_DEFAULT_LIMIT,
    opts.maxLimit ?? PAGE_MAX_LIMIT,
  );
  const raw = query.cursor;
  if (raw === undefined || raw === '') return { kind, limit, after: null };
  if (typeof raw !== 'string') throw badCursor('one cursor');
  return { kind, limit, after: decodeCursor(raw, kind, keySchema) };
}

/**
 * The page from `rows` read with `LIMIT limit + 1`: the first `limit` items, and a cursor at the
 * last of them when a further row shows there is more.
 */
export function pageOf<T, K>(rows: T[], req: PageRequest<K>, keyOf: (item: T) => K): Page<T> {
  const items = rows.slice(0, req.limit);
  const more = rows.length > req.limit && items.length > 0;
  return { items, next: more ? encodeCursor(req.kind, keyOf(items[items.length - 1])) : null };
}

/** Keys of the usual shapes. */
export const CursorKeys = {
  /** `[createdAt ms, id]`. */
  timeAndId: z.tuple([z.number().int().min(0), z.string().min(1).max(128)]),
  /** A sequence number or serial id. */
  seq: z.number().int().min(0),
  /** A case id, template key, ... */
  text: z.string().min(1).max(256),
  /** `[text, text]`, e.g. `[templateKey, locale]`. */
  textPair: z.tuple([z.string().min(1).max(256), z.string().min(1).max(64)]),
} as const;
