import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '#libs/core';
import {
  earliestInstantAtWall,
  formatLocal,
  isWithinWindow,
  nextAllowedInstant,
  parseClock,
  resolveZone,
  type ContactWindow,
} from './time.js';

const CN: ContactWindow = { start: '08:00', end: '22:00' };
const US: ContactWindow = { start: '08:00', end: '21:00' };

describe('nextAllowedInstant', () => {
  it.each<[string, string, string, ContactWindow, string]>([
    // [case, now (UTC), zone, window, expected (UTC)]
    [
      'Beijing 22:30 -> 08:00 next morning',
      '2026-11-24T14:30:00Z',
      'Asia/Shanghai',
      CN,
      '2026-11-25T00:00:00.000Z',
    ],
    [
      'Beijing 22:00 exactly is closed',
      '2026-11-24T14:00:00Z',
      'Asia/Shanghai',
      CN,
      '2026-11-25T00:00:00.000Z',
    ],
    ['Beijing 21:59:59 is open', '2026-11-24T13:59:59Z', 'Asia/Shanghai', CN, '2026-11-24T13:59:59.000Z'],
    [
      'Beijing 07:59:30 -> 08:00 same day',
      '2026-11-24T23:59:30Z',
      'Asia/Shanghai',
      CN,
      '2026-11-25T00:00:00.000Z',
    ],
    [
      'Beijing 08:00 exactly is open',
      '2026-11-25T00:00:00Z',
      'Asia/Shanghai',
      CN,
      '2026-11-25T00:00:00.000Z',
    ],
    [
      'Beijing 03:00 -> 08:00 same day',
      '2026-11-24T19:00:00Z',
      'Asia/Shanghai',
      CN,
      '2026-11-25T00:00:00.000Z',
    ],
    // America/New_York spring forward 2026-03-08 02:00 EST -> 03:00 EDT
    [
      'NY 21:30 EST before spring-forward',
      '2026-03-08T02:30:00Z',
      'America/New_York',
      US,
      '2026-03-08T12:00:00.000Z',
    ],
    [
      'NY 01:30 EST on spring-forward night',
      '2026-03-08T06:30:00Z',
      'America/New_York',
      US,
      '2026-03-08T12:00:00.000Z',
    ],
    [
      'NY 03:30 EDT just after the gap',
      '2026-03-08T07:30:00Z',
      'America/New_York',
      US,
      '2026-03-08T12:00:00.000Z',
    ],
    // America/New_York fall back 2026-11-01 02:00 EDT -> 01:00 EST
    [
      'NY 21:30 EDT before fall-back',
      '2026-11-01T01:30:00Z',
      'America/New_York',
      US,
      '2026-11-01T13:00:00.000Z',
    ],
    ['NY 01:30 EDT (first pass)', '2026-11-01T05:30:00Z', 'America/New_York', US, '2026-11-01T13:00:00.000Z'],
    [
      'NY 01:30 EST (second pass)',
      '2026-11-01T06:30:00Z',
      'America/New_York',
      US,
      '2026-11-01T13:00:00.000Z',
    ],
    [
      'NY 21:00 exactly is closed',
      '2026-07-02T01:00:00Z',
      'America/New_York',
      US,
      '2026-07-02T12:00:00.000Z',
    ],
    ['NY 20:59 is open', '2026-07-02T00:59:00Z', 'America/New_York', US, '2026-07-02T00:59:00.000Z'],
    // overnight window
    [
      'overnight window, inside after midnight',
      '2026-05-01T00:30:00Z',
      'UTC',
      { start: '20:00', end: '02:00' },
      '2026-05-01T00:30:00.000Z',
    ],
    [
      'overnight window, closed mid-day',
      '2026-05-01T12:00:00Z',
      'UTC',
      { start: '20:00', end: '02:00' },
      '2026-05-01T20:00:00.000Z',
    ],
    [
      'window ending at 24:00',
      '2026-05-01T23:59:00Z',
      'UTC',
      { start: '09:00', end: '24:00' },
      '2026-05-01T23:59:00.000Z',
    ],
  ])('%s', (_name, now, zone, window, expected) => {
    expect(nextAllowedInstant(new Date(now), zone, window).toISOString()).toBe(expected);
  });

  it('returns the end of a DST gap when the window starts inside the gap', () => {
    // 02:30 does not exist in New York on 2026-03-08; the first allowed instant is 03:00 EDT.
    const got = nextAllowedInstant(new Date('2026-03-08T06:00:00Z'), 'America/New_York', {
      start: '02:30',
      end: '05:00',
    });
    expect(got.toISOString()).toBe('2026-03-08T07:00:00.000Z');
  });

  it('returns the first occurrence of a repeated wall time on fall-back night', () => {
    const got = nextAllowedInstant(new Date('2026-11-01T04:00:00Z'), 'America/New_York', {
      start: '01:30',
      end: '05:00',
    });
    expect(got.toISOString()).toBe('2026-11-01T05:30:00.000Z'); // 01:30 EDT, not 01:30 EST
  });

  it('re-opens at the fall-back transition when the clock falls back into the window', () => {
    // Window 00:00-01:45; at 01:50 EDT the window is closed, at 06:00Z the clock reads 01:00 EST.
    const got = nextAllowedInstant(new Date('2026-11-01T05:50:00Z'), 'America/New_York', {
      start: '00:00',
      end: '01:45',
    });
    expect(got.toISOString()).toBe('2026-11-01T06:00:00.000Z');
  });

  it('never returns an instant before now', () => {
    const now = new Date('2026-11-24T14:30:00Z');
    for (let m = 0; m < 24 * 60; m += 17) {
      const t = new Date(now.getTime() + m * 60_000);
      const got = nextAllowedInstant(t, 'Asia/Shanghai', CN);
      expect(got.getTime()).toBeGreaterThanOrEqual(t.getTime());
      expect(isWithinWindow(got, 'Asia/Shanghai', CN)).toBe(true);
    }
  });

  it('rejects an unknown zone with a ValidationError naming the field', () => {
    expect(() => nextAllowedInstant(new Date(), 'Mars/Olympus', CN)).toThrow(ValidationError);
    let caught: unknown;
    try {
      resolveZone('Nope/Nope');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).fields[0].path).toBe('recipient.timeZone');
  });

  it('rejects malformed and empty windows', () => {
    expect(() => nextAllowedInstant(new Date(), 'UTC', { start: '8:00', end: '22:00' })).toThrow(RangeError);
    expect(() => nextAllowedInstant(new Date(), 'UTC', { start: '08:00', end: '08:00' })).toThrow(RangeError);
    expect(() => nextAllowedInstant(new Date(), 'UTC', { start: '24:00', end: '08:00' })).toThrow(RangeError);
    expect(() => parseClock('12:60')).toThrow(RangeError);
    expect(parseClock('24:00', true)).toBe(1440);
  });
});

describe('isWithinWindow', () => {
  it.each<[string, string, boolean]>([
    ['2026-11-24T00:00:00Z', 'Asia/Shanghai', true], // 08:00
    ['2026-11-24T13:59:00Z', 'Asia/Shanghai', true], // 21:59
    ['2026-11-24T14:00:00Z', 'Asia/Shanghai', false], // 22:00
    ['2026-11-23T23:59:00Z', 'Asia/Shanghai', false], // 07:59
  ])('%s in %s -> %s', (at, zone, expected) => {
    expect(isWithinWindow(new Date(at), zone, CN)).toBe(expected);
  });
});

describe('earliestInstantAtWall / formatLocal', () => {
  it('finds local midnight across zones and DST days', () => {
    const ny = resolveZone('America/New_York');
    expect(earliestInstantAtWall({ year: 2026, month: 3, day: 8 }, 0, ny).toISOString()).toBe(
      '2026-03-08T05:00:00.000Z',
    );
    expect(earliestInstantAtWall({ year: 2026, month: 3, day: 9 }, 0, ny).toISOString()).toBe(
      '2026-03-09T04:00:00.000Z',
    );
    const sh = resolveZone('Asia/Shanghai');
    expect(earliestInstantAtWall({ year: 2026, month: 11, day: 25 }, 8 * 60, sh).toISOString()).toBe(
      '2026-11-25T00:00:00.000Z',
    );
  });

  it('formats local time with the zone offset', () => {
    expect(formatLocal(new Date('2026-11-24T14:30:00Z'), resolveZone('Asia/Shanghai'))).toBe(
      '2026-11-24T22:30:00.000+08:00',
    );
    expect(formatLocal(new Date('2026-03-08T12:00:00Z'), resolveZone('America/New_York'))).toBe(
      '2026-03-08T08:00:00.000-04:00',
    );
  });
});
