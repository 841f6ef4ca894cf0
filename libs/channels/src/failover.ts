import type { AppConfig } from '#libs/config';
import { ProviderError } from '#libs/core';
import type { ChannelProvider, NormalisedReceipt, OutboundMessage, SendResult } from './provider.js';

/**
 * Consecutive-failure circuit breaker: after `threshold` failures in a row it opens for
 * `cooldownMs`; then one trial call is let through (half-open): success closes it, failure
 * opens it again. State is per process.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private trial = false;

  constructor(
    readonly threshold: number,
    readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.openedAt === null) return 'closed';
    return this.now() - this.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /** May a call go to the protected provider now? */
  allows(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'half-open' && !this.trial) {
      this.trial = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.trial = false;
  }

  failure(): void {
    this.trial = false;
    this.failures += 1;
    if (this.openedAt !== null || this.failures >= this.threshold) this.openedAt = this.now();
  }
}

/** The breaker the configuration asks for (BREAKER_THRESHOLD, BREAKER_COOLDOWN_MS). */
export function breakerFor(config: AppConfig): CircuitBreaker {
  return new CircuitBreaker(config.breaker.threshold, config.breaker.cooldownMs);
}

/**
 * A channel with a primary and a secondary provider (a second SMS account, a second SMTP
 * relay). Calls go to the primary while its breaker is closed; a failure that surely did not
 * reach the primary (an HTTP/SMTP error answer or a refused connection) counts against the
 * breaker, and once it opens, sends go to the secondary. An ambiguous failure (a timeout
 * after the request was sent) is never retried elsewhere: the pipeline reconciles it first,
 * so a message is never sent by both.
 */
export class FailoverProvider implements ChannelProvider {
  readonly name: string;
  readonly channel: ChannelProvider['channel'];
  readonly sandbox: boolean;

  constructor(
    readonly primary: ChannelProvider,
    readonly secondary: ChannelProvider,
    readonly breaker: CircuitBreaker,
  ) {
    this.name = primary.name;
    this.channel = primary.channel;
    this.sandbox = primary.sandbox && secondary.sandbox;
  }

  providers(): ChannelProvider[] {
    return [this.primary, this.secondary];
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (this.breaker.allows()) {
      try {
        const r = await this.primary.send(message);
        this.breaker.success();
        return { ...r, provider: r.provider ?? this.primary.name };
      } catch (err) {
        const surelyNotSent = err instanceof ProviderError && err.retryable && err.extra.httpStatus !== null;
        if (!surelyNotSent) throw err;
        this.breaker.failure();
        if (this.breaker.state === 'closed') throw err;
        // The breaker just opened: this message never reached the primary, so the secondary may take it.
      }
    }
    // The secondary builds its own callback URL (its own webhook name, so its own secret).
    const r = await this.secondary.send(message);
    return {
      ...r,
      provider: r.provider ?? this.secondary.name,
      request: { failover: true, request: r.request },
    };
  }

  async poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null> {
    return (
      (await this.primary.poll(providerMessageId, message)) ?? this.secondary.poll(providerMessageId, message)
    );
  }

  async findSent(message: OutboundMessage, since: Date): Promise<SendResult | null> {
    const a = await this.primary.findSent(message, since);
    if (a) return { ...a, provider: a.provider ?? this.primary.name };
    const b = await this.secondary.findSent(message, since);
    return b ? { ...b, provider: b.provider ?? this.secondary.name } : null;
  }
}
