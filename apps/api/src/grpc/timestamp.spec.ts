import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '#libs/core';
import { fromTimestamp, toTimestamp } from './timestamp.js';

describe('google.protobuf.Timestamp conversion', () => {
  it('splits an instant into seconds and nanos, milliseconds kept', () => {
    expect(toTimestamp('2026-11-24T14:30:00.123Z')).toEqual({ seconds: '1795530600', nanos: 123_000_000 });
    expect(toTimestamp(new Date(0))).toEqual({ seconds: '0', nanos: 0 });
    expect(toTimestamp(null)).toBeNull();
    expect(toTimestamp(undefined)).toBeNull();
  });

  it('counts nanos forward from the floor second before 1970', () => {
    // -0.5 s is -1 s + 500 ms, as timestamp.proto requires (nanos are never negative).
    expect(toTimestamp(new Date(-500))).toEqual({ seconds: '-1', nanos: 500_000_000 });
    expect(fromTimestamp({ seconds: '-1', nanos: 500_000_000 }, 'until')?.getTime()).toBe(-500);
  });

  it('round-trips any millisecond instant', () => {
    for (const iso of ['1969-07-20T20:17:40.001Z', '2026-02-28T23:59:59.999Z', '9999-12-31T23:59:59.000Z']) {
      const ts = toTimestamp(iso);
      expect(fromTimestamp(ts, 'x')?.toISOString()).toBe(iso);
    }
    expect(fromTimestamp({ seconds: 1_795_530_600, nanos: 999_999_999 }, 'x')?.toISOString()).toBe(
      '2026-11-24T14:30:00.999Z',
    );
    expect(fromTimestamp(null, 'x')).toBeNull();
  });

  it('refuses what timestamp.proto does not allow, naming the field', () => {
    const bad = [
      { seconds: '253402300800', nanos: 0 },
      { seconds: '-62135596801', nanos: 0 },
      { seconds: '1', nanos: -1 },
      { seconds: '1', nanos: 1_000_000_000 },
      { seconds: 'ten', nanos: 0 },
    ];
    for (const ts of bad) {
      let err: unknown;
      try {
        fromTimestamp(ts, 'until');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).fields.map((f) => f.path)).toEqual(['until']);
    }
  });
});
