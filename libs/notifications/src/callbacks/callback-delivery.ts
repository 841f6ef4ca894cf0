import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Db } from '#libs/persistence';
import { CallbackRepository, type DueCallback } from './callback.repository.js';
import { CALLBACK_HEADERS, callbackBackoffMs, callbackSignature } from './events.js';

export interface CallbackRunReport {
  delivered: number;
  retried: number;
  dead: number;
}

/**
 * Sends due callbacks from the outbox: signed POSTs, at most one in flight per (notification,
 * target) and in evidence order (a later event waits until the earlier one is delivered or dead),
 * retried with exponential backoff for CALLBACK_RETRY_FOR_MS, then kept as a dead letter. Safe in
 * any number of processes: a delivery is claimed by a compare-and-set before it is sent.
 */
@Injectable()
export class CallbackDelivery implements OnApplicationShutdown {
  private readonly log = new Logger(CallbackDelivery.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CallbackRunReport> | null = null;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly repo: CallbackRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((err: unknown) => {
          this.log.error(`callback delivery pass failed: ${String(err)}`);
          return { delivered: 0, retried: 0, dead: 0 };
        })
        .finally(() => {
          this.running = null;
        });
    }, this.config.callbacks.pollMs);
    this.timer.unref();
  }

  /** One pass over the due deliveries (also called by tests). */
  async runOnce(): Promise<CallbackRunReport> {
    const c = this.config.callbacks;
    const now = Date.now();
    const due = await this.repo.due(now, c.concurrency * 4);
    const report: CallbackRunReport = { delivered: 0, retried: 0, dead: 0 };
    let next = 0;
    const lane = async () => {
      while (next < due.length && !this.stopped) {
        const row = due[next++];
        const outcome = await this.deliver(row);
        if (outcome) report[outcome] += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(c.concurrency, due.length) }, lane));
    return report;
  }

  private async deliver(row: DueCallback): Promise<keyof CallbackRunReport | null> {
    const c = this.config.callbacks;
    const started = Date.now();
    if (!(await this.repo.claim(row.id, started + c.timeoutMs * 2 + 1_000, started))) return null; // another process has it
    const secret = await this.repo.secret(row.owner);
    let statusCode: number | null = null;
    let error: string | null = null;
    if (secret === null) {
      error = 'the caller has no callback secret';
    } else {
      const timestamp = String(Math.floor(Date.now() / 1000));
      try {
        const res = await fetch(row.url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(c.timeoutMs),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'collection-notices-callbacks/1',
            [CALLBACK_HEADERS.id]: row.eventId,
            [CALLBACK_HEADERS.timestamp]: timestamp,
            [CALLBACK_HEADERS.signature]: callbackSignature(secret, timestamp, row.body),
          },
          body: row.body,
        });
        statusCode = res.status;
        await res.body?.cancel().catch(() => undefined);
        if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
      } catch (err) {
        error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
    }
    const ended = Date.now();
    const attempt = row.attempts + 1;
    const retryAt = ended + callbackBackoffMs(attempt, c.retryBaseMs, c.retryMaxMs);
    const dead = retryAt > row.retryFrom + c.retryForMs;
    await this.db.transaction(async (tx) => {
      await this.repo.logAttempt(tx, {
        deliveryId: row.id,
        attempt,
        startedAt: started,
        durationMs: ended - started,
        statusCode,
        error: error?.slice(0, 600) ?? null,
      });
      if (!error) {
        await this.repo.markDelivered(tx, row.id, attempt, ended, statusCode);
        return;
      }
      await this.repo.markFailed(tx, row.id, {
        dead,
        attempt,
        retryAt,
        statusCode,
        error: error.slice(0, 600),
      });
    });
    if (!error) return 'delivered';
    if (dead)
      this.log.warn(
        `callback ${row.id} to ${new URL(row.url).origin} is dead after ${attempt} attempts: ${error}`,
      );
    return dead ? 'dead' : 'retried';
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
