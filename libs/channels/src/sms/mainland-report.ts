/**
 * What the mainland gateways' delivery reports share: Beijing-time timestamps, a token in the
 * callback URL as their only authentication (neither Aliyun nor Tencent signs its pushes), and
 * a dedup key over the report item's canonical JSON.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const SHANGHAI_OFFSET_MS = 8 * 3600_000; // Asia/Shanghai is UTC+8 all year (no DST)

/** `yyyyMMdd` of the day `d` falls on in Asia/Shanghai. */
export function shanghaiDay(d: Date): string {
  return new Date(d.getTime() + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10).replace(/-/g, '');
}

/** `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai (how both gateways write times) -> instant; null if malformed. */
export function parseShanghaiTime(s: string | undefined): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec((s ?? '').trim());
  if (!m) return null;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+08:00`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** JSON with object keys sorted at every level (undefined members left out): the same item hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The dedup key of one report item: a redelivery of the same item gets the same key. */
export function reportDedupKey(provider: string, id: string, item: unknown): string {
  return `${provider}:${id}:${createHash('sha256').update(canonicalJson(item)).digest('hex')}`;
}

/** Constant-time comparison over digests (lengths do not leak); empty never matches. */
export function tokenMatches(got: string | undefined, expected: string): boolean {
  if (got === undefined || got === '' || expected === '') return false;
  const a = createHash('sha256').update(got, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
