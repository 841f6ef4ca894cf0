import { ValidationError } from '#libs/core';

/**
 * `google.protobuf.Timestamp` as proto-loader hands it over and takes it back (`longs: String`:
 * `seconds` is a decimal string on the way in, a number is accepted too).
 */
export interface TimestampMsg {
  seconds: string | number;
  nanos: number;
}

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range timestamp.proto allows. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;

/** The Timestamp of an instant (ISO 8601 text or a Date); null (unset) for null. */
export function toTimestamp(instant: string | Date | null | undefined): TimestampMsg | null {
  if (instant === null || instant === undefined) return null;
  const ms = typeof instant === 'string' ? Date.parse(instant) : instant.getTime();
  if (Number.isNaN(ms)) throw new TypeError(`not an instant: ${String(instant)}`);
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/**
 * The instant of a Timestamp from a request, at millisecond precision (what the service stores);
 * null when unset. Out of the proto's range, or nanos outside 0..999,999,999, is a ValidationError
 * naming `path`.
 */
export function fromTimestamp(ts: TimestampMsg | null | undefined, path: string): Date | null {
  if (ts === null || ts === undefined) return null;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : Number(ts.seconds);
  const nanos = ts.nanos ?? 0;
  if (
    !Number.isInteger(seconds) ||
    seconds < MIN_SECONDS ||
    seconds > MAX_SECONDS ||
    !Number.isInteger(nanos) ||
    nanos < 0 ||
    nanos > 999_999_999
  ) {
    throw new ValidationError(`${path} is not a valid google.protobuf.Timestamp`, [
      { path, message: 'seconds within 0001-01-01..9999-12-31 and nanos 0..999999999' },
    ]);
  }
  return new Date(seconds * 1000 + Math.floor(nanos / 1_000_000));
}
