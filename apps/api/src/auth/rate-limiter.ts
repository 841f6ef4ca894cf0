import { Inject, Injectable, Logger, type OnApplicationShutdown, SetMetadata } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { RateLimitedError } from '#libs/core';

/** A key's limit: `burst` tokens, refilled as a window every `burst / perSecond` seconds. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** What the caller is told: the IETF draft RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-07). */
export interface RateState {
  limit: number;
  remaining: number;
  /** Seconds until the window resets (whole seconds, at least 1 while tokens are used). */
  reset: number;
  /** Window length in seconds (`RateLimit-Policy: <limit>;w=<window>`). */
  window: number;
}

export const PER_NOTICE_KEY = 'cns:rate-per-notice';
/**
 * The handler takes one token per notice itself (batch lines, SendBatch items): the guard only
 * checks that a token is left and takes none for the request.
 */
export const PerNotice = () => SetMetadata(PER_NOTICE_KEY, true);

/** The `RateLimit-*` headers for a state. */
export function rateLimitHeaders(s: RateState): Record<string, string> {
  return {
    'RateLimit-Limit': String(s.limit),
    'RateLimit-Remaining': String(s.remaining),
    'RateLimit-Reset': String(s.reset),
    'RateLimit-Policy': `${s.limit};w=${s.window}`,
  };
}

/**
 * Per-API-key limits counted in notices: a request takes one token, a batch line or a gRPC
 * SendBatch item takes one more each (see batch.controller.ts). rate-limiter-flexible keeps the
 * counters in Redis in queue mode, so every api process shares one limit per key; standalone
 * (one process) keeps them in memory. If Redis fails, an in-memory limiter takes over for that
 * process (the limit then applies per process until Redis is back) instead of failing requests.
 */
@Injectable()
export class RateLimiter implements OnApplicationShutdown {
  private readonly log = new Logger('RateLimiter');
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private redis?: Promise<Redis>;
  private client?: Redis;
  private lastWarn = 0;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** After the HTTP server has drained: requests still in flight keep their limiter. */
  async onApplicationShutdown(): Promise<void> {
    this.client?.disconnect();
  }

  /**
   * The Redis connection, made on the first limited request (processes whose keys are all
   * unlimited never connect). enableOfflineQueue false: while Redis is away, calls fail fast into
   * the insurance limiter instead of queueing.
   */
  private store(url: string): Promise<Redis> {
    this.redis ??= (async () => {
      const r = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      r.on('error', (err: Error) => {
        if (Date.now() - this.lastWarn < 60_000) return;
        this.lastWarn = Date.now();
        this.log.warn(`Redis unavailable, rate limits apply per process meanwhile: ${err.message}`);
      });
      this.client = r;
      await r.connect().catch(() => undefined);
      return r;
    })();
    return this.redis;
  }

  /** The limit that applies to a key (its own, else the configured default); null = unlimited. */
  limitOf(own: RateLimit | null): RateLimit | null {
    const l = own ?? this.config.auth.rateLimit;
    return l.perSecond > 0 ? l : null;
  }

  /** Takes `tokens` for `keyId`; throws RateLimitedError (with the state) when they are not there. */
  async take(keyId: string, own: RateLimit | null, tokens = 1): Promise<RateState | null> {
    const limit = this.limitOf(own);
    if (!limit) return null;
    const limiter = await this.limiter(limit);
    try {
      return stateOf(limit, await limiter.consume(keyId, tokens));
    } catch (err) {
      if (err instanceof RateLimiterRes) throw limited(limit, err);
      throw err;
    }
  }

  /** The current state without taking a token; throws when nothing is left. */
  async check(keyId: string, own: RateLimit | null): Promise<RateState | null> {
    const limit = this.limitOf(own);
    if (!limit) return null;
    const res = await (await this.limiter(limit)).get(keyId);
    if (!res) return { limit: limit.burst, remaining: limit.burst, reset: 0, window: windowOf(limit) };
    if (res.remainingPoints <= 0) throw limited(limit, res);
    return stateOf(limit, res);
  }

  private async limiter(limit: RateLimit): Promise<RateLimiterAbstract> {
    const id = `${limit.burst}:${limit.perSecond}`;
    let l = this.limiters.get(id);
    if (!l) {
      const opts = { points: limit.burst, duration: limit.burst / limit.perSecond };
      const url = this.config.queue.redisUrl;
      if (url) {
        const storeClient = await this.store(url);
        l = this.limiters.get(id);
        if (l) return l;
        l = new RateLimiterRedis({
          ...opts,
          storeClient,
          keyPrefix: `${this.config.queue.prefix}:ratelimit:${id}`,
          insuranceLimiter: new RateLimiterMemory(opts),
        });
      } else {
        l = new RateLimiterMemory(opts);
      }
      this.limiters.set(id, l);
    }
    return l;
  }
}

function windowOf(limit: RateLimit): number {
  return Math.max(1, Math.ceil(limit.burst / limit.perSecond));
}

function stateOf(limit: RateLimit, res: RateLimiterRes): RateState {
  return {
    limit: limit.burst,
    remaining: Math.max(0, res.remainingPoints),
    reset: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
    window: windowOf(limit),
  };
}

function limited(limit: RateLimit, res: RateLimiterRes): RateLimitedError {
  const state = stateOf(limit, res);
  return new RateLimitedError(
    `Rate limit exceeded: ${limit.burst} notices per ${windowOf(limit)} s for this API key; retry after ${state.reset} s`,
    [],
    { retryAfter: state.reset, rateLimit: { ...state, remaining: 0 } },
  );
}
