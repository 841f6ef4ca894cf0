import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '#libs/core';
import { CursorKeys, decodeCursor, encodeCursor, limitOf, pageOf, pageRequestOf } from './page.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).fields?.[0]?.path;
  }
  return undefined;
}

describe('page helper', () => {
  it('limit: default, bounds, and a 400 naming limit beyond them', () => {
    expect(limitOf(undefined)).toBe(50);
    expect(limitOf('')).toBe(50);
    expect(limitOf('500')).toBe(500);
    expect(limitOf('1')).toBe(1);
    for (const bad of ['501', '0', '-1', '1.5', 'ten', '1e2', ['1', '2'], ' ']) {
      expect(fieldOf(() => limitOf(bad))).toBe('limit');
    }
  });

  it('a cursor round-trips its key and refuses another list, garbage and wrong shapes', () => {
    const c = encodeCursor('notifications.byCase', [1764742400000, 'abc']);
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c, 'notifications.byCase', CursorKeys.timeAndId)).toEqual([1764742400000, 'abc']);
    expect(fieldOf(() => decodeCursor(c, 'evidence.events', CursorKeys.seq))).toBe('cursor');
    expect(fieldOf(() => decodeCursor('not a cursor!', 'x', CursorKeys.seq))).toBe('cursor');
    expect(
      fieldOf(() => decodeCursor(`${c.slice(0, -3)}zzz`, 'notifications.byCase', CursorKeys.timeAndId)),
    ).toBe('cursor');
    const wrongShape = encodeCursor('evidence.events', 'seven');
    expect(fieldOf(() => decodeCursor(wrongShape, 'evidence.events', CursorKeys.seq))).toBe('cursor');
    expect(fieldOf(() => pageRequestOf({ cursor: ['a', 'b'] }, 'x', CursorKeys.seq))).toBe('cursor');
  });

  it('pageOf cuts limit + 1 rows to a page with a cursor at its last item', () => {
    const req = pageRequestOf({ limit: '2' }, 'evidence.events', CursorKeys.seq);
    expect(req).toEqual({ kind: 'evidence.events', limit: 2, after: null });
    const page = pageOf([{ seq: 1 }, { seq: 2 }, { seq: 3 }], req, (e) => e.seq);
    expect(page.items).toEqual([{ seq: 1 }, { seq: 2 }]);
    expect(pageRequestOf({ limit: '2', cursor: page.next }, 'evidence.events', CursorKeys.seq).after).toBe(2);
    expect(pageOf([{ seq: 3 }], req, (e) => e.seq)).toEqual({ items: [{ seq: 3 }], next: null });
    expect(pageOf([], req, (e: { seq: number }) => e.seq)).toEqual({ items: [], next: null });
  });
});
