/**
 * Zone and wall-clock arithmetic for the gate. Pure; offsets come from luxon's IANA zone
 * data, so daylight-saving gaps (spring forward) and overlaps (fall back) are exact.
 */
import { IANAZone } from 'luxon';
import { ValidationError } from '#libs/core';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** A daily window of allowed local times, `start` inclusive, `end` exclusive ("HH:mm"; end may be "24:00"). */
export interface ContactWindow {
  start: string;
  end: string;
}

/** A wall-clock date in some zone. `month` is 1-12. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const zoneCache = new Map<string, IANAZone>();

/** Returns the IANA zone, or throws a ValidationError naming `path` for an unknown zone name. */
export function resolveZone(timeZone: string, path = 'recipient.timeZone'): IANAZone {
  const cached = zoneCache.get(timeZone);
  if (cached) return cached;
  if (typeof timeZone !== 'string' || timeZone.trim() === '' || !IANAZone.isValidZone(timeZone)) {
    throw new ValidationError(`Unknown time zone "${String(timeZone)}"`, [
      { path, message: 'must be an IANA time zone name such as Asia/Shanghai' },
    ]);
  }
  const zone = IANAZone.create(timeZone);
  zoneCache.set(timeZone, zone);
  return zone;
}

/** Parses "HH:mm" into minutes after local midnight (0..1440; 1440 only when `allow24` is set). */
export function parseClock(value: string, allow24 = false): number {
  const m = /^(\d{2}):(\d{2})$/.exec(value);
  if (!m) throw new RangeError(`Invalid time of day "${value}" (expected HH:mm)`);
  const h = Number(m[1]);
  const min = Number(m[2]);
  const total = h * 60 + min;
  if (min > 59 || total > 1440 || (total === 1440 && !allow24)) {
    throw new RangeError(`Invalid time of day "${value}"`);
  }
  return total;
}

interface ParsedWindow {
  start: number;
  end: number;
}

export function parseWindow(window: ContactWindow): ParsedWindow {
  const start = parseClock(window.start);
  const end = parseClock(window.end, true);
  if (start === end) throw new RangeError(`Contact window ${window.start}-${window.end} is empty`);
  return { start, end };
}

function offsetMs(zone: IANAZone, ts: number): number {
  return zone.offset(ts) * MINUTE_MS;
}

/** The wall clock at `ts` in `zone`, as a UTC-based Date whose UTC fields are the local fields. */
function wallOf(zone: IANAZone, ts: number): Date {
  return new Date(ts + offsetMs(zone, ts));
}

export function localDateOf(instant: Date, zone: IANAZone): LocalDate {
  const w = wallOf(zone, instant.getTime());
  return { year: w.getUTCFullYear(), month: w.getUTCMonth() + 1, day: w.getUTCDate() };
}

/** Minutes after local midnight at `instant`. */
export function localMinuteOfDay(instant: Date, zone: IANAZone): number {
  const w = wallOf(zone, instant.getTime());
  return w.getUTCHours() * 60 + w.getUTCMinutes();
}

export function formatLocalDate(d: LocalDate): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.year, 4)}-${p(d.month)}-${p(d.day)}`;
}

/** ISO-8601 local time with offset, e.g. 2026-11-24T22:30:00.000+08:00 (for evidence). */
export function formatLocal(instant: Date, zone: IANAZone): string {
  const ts = instant.getTime();
  const off = zone.offset(ts);
  const w = new Date(ts + off * MINUTE_MS).toISOString().slice(0, -1);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${w}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export function addLocalDays(d: LocalDate, days: number): LocalDate {
  const x = new Date(Date.UTC(d.year, d.month - 1, d.day + days));
  return { year: x.getUTCFullYear(), month: x.getUTCMonth() + 1, day: x.getUTCDate() };
}

/**
 * The earliest instant whose local wall time is at or after `minuteOfDay` on local date `d`.
 * For a wall time that occurs twice (fall back) this is the first occurrence; for one that
 * does not exist (spring forward gap) it is the end of the gap (the transition instant).
 */
export function earliestInstantAtWall(d: LocalDate, minuteOfDay: number, zone: IANAZone): Date {
  const naive = Date.UTC(d.year, d.month - 1, d.day) + minuteOfDay * MINUTE_MS;
  const offsets = new Set([
    offsetMs(zone, naive - DAY_MS),
    offsetMs(zone, naive),
    offsetMs(zone, naive + DAY_MS),
  ]);
  const valid: number[] = [];
  const guesses: number[] = [];
  for (const off of offsets) {
    const ts = naive - off;
    guesses.push(ts);
    if (offsetMs(zone, ts) === off) valid.push(ts);
  }
  if (valid.length > 0) return new Date(Math.min(...valid));
  // Gap: the wall time is skipped. Find the first instant whose wall time is past it.
  let lo = Math.min(...guesses);
  let hi = Math.max(...guesses);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (mid + offsetMs(zone, mid) >= naive) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

/** Start of the local calendar day that contains `instant` (earliest instant of that date). */
export function startOfLocalDay(d: LocalDate, zone: IANAZone): Date {
  return earliestInstantAtWall(d, 0, zone);
}

function inWindow(minute: number, w: ParsedWindow): boolean {
  return w.start < w.end ? minute >= w.start && minute < w.end : minute >= w.start || minute < w.end;
}

/** True when `instant` falls inside the daily window in `timeZone`. */
export function isWithinWindow(instant: Date, timeZone: string, window: ContactWindow): boolean {
  return inWindow(localMinuteOfDay(instant, resolveZone(timeZone)), parseWindow(window));
}

/** Instants in (from, to] at which the zone's UTC offset changes. */
function transitionsBetween(zone: IANAZone, from: number, to: number): number[] {
  const out: number[] = [];
  const step = 6 * HOUR_MS;
  for (let a = from; a < to; a += step) {
    const b = Math.min(a + step, to);
    if (zone.offset(a) === zone.offset(b)) continue;
    let lo = a;
    let hi = b;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (zone.offset(mid) === zone.offset(a)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

/**
 * The earliest instant at or after `now` that lies inside the daily `window` in `timeZone`:
 * `now` itself when it is already inside, otherwise the next window start (local wall
 * clock, DST-aware). Never returns a time before `now`.
 */
export function nextAllowedInstant(now: Date, timeZone: string, window: ContactWindow): Date {
  const zone = resolveZone(timeZone);
  const w = parseWindow(window);
  const nowMs = now.getTime();
  if (Number.isNaN(nowMs)) throw new RangeError('nextAllowedInstant: invalid date');
  if (inWindow(localMinuteOfDay(now, zone), w)) return new Date(nowMs);
  // Allowed-ness only switches on at a window start or at an offset transition.
  const today = localDateOf(now, zone);
  const candidates: number[] = [];
  for (let i = 0; i <= 2; i++) {
    candidates.push(earliestInstantAtWall(addLocalDays(today, i), w.start, zone).getTime());
  }
  candidates.push(...transitionsBetween(zone, nowMs, nowMs + 3 * DAY_MS));
  let best = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    if (c > nowMs && c < best && inWindow(localMinuteOfDay(new Date(c), zone), w)) best = c;
  }
  if (!Number.isFinite(best)) throw new RangeError('nextAllowedInstant: no allowed instant within 3 days');
  return new Date(best);
}

export const MS = { MINUTE: MINUTE_MS, HOUR: HOUR_MS, DAY: DAY_MS } as const;
