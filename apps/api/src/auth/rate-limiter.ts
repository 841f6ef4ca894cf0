/**
 * Per-key token buckets, in memory, per process: N api processes allow N times the rate.
 * Good enough against a runaway client; a shared limit needs Redis (not done).
 */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes one token; returns 0 when allowed, else the seconds to wait before retrying. */
  take(key: string, limit: RateLimit, now = Date.now()): number {
    if (limit.perSecond <= 0) return 0;
    const b = this.buckets.get(key) ?? { tokens: limit.burst, at: now };
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / limit.perSecond));
  }
}
