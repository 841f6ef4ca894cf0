import { describe, expect, it } from '@jest/globals';
import * as core from '#libs/core';
import { PROBLEM_TYPES, problemType } from './problems.js';

describe('problem types', () => {
  it('every error class has its problem type, with the same title and status', () => {
    const classes = (Object.values(core) as unknown[]).filter(
      (v): v is new (detail: string) => core.AppError =>
        typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof core.AppError,
    );
    expect(classes.length).toBeGreaterThanOrEqual(14);
    for (const Cls of classes) {
      const err = (Cls as unknown) === core.ProviderError ? new core.ProviderError('x', false) : new Cls('x');
      const t = problemType(err.code);
      expect({ code: err.code, title: t?.title, status: t?.status.includes(err.status) }).toEqual({
        code: err.code,
        title: err.title,
        status: true,
      });
    }
  });

  it('codes are unique and unknown codes have none', () => {
    expect(new Set(PROBLEM_TYPES.map((t) => t.code)).size).toBe(PROBLEM_TYPES.length);
    expect(problemType('toString')).toBeNull();
    expect(problemType('nope')).toBeNull();
  });
});
