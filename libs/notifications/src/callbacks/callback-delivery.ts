import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Db } from '#libs/persistence';
import { CALLBACK_HEADERS, callbackBackoffMs, callbackSignature } from './events.js';

interface DueRow {
  id: string;
  owner: string;
  url: string;
  body: string;
  event_id: string;
  attempts: number | string;
  retry_from: number | string;
}

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
    const due = await this.db.rows<DueRow>(
      `SELECT d.id, d.owner, d.url, d.body, d.event_id, d.attempts, d.retry_from FROM callback_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.claimed_until IS NULL OR d.claimed_until < ?)
          AND NOT EXISTS (SELECT 1 FROM callback_deliveries p
                           WHERE p.notification_id = d.notification_id AND p.url = d.url
                             AND p.status = 'pending' AND p.seq < d.seq)
        ORDER BY d.next_attempt_at, d.seq LIMIT ?`,
      [now, now, c.concurrency * 4],
    );
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

  private async deliver(row: DueRow): Promise<keyof CallbackRunReport | null> {
    const c = this.config.callbacks;
    const started = Date.now();
    const claimed = await this.db.exec(
      "UPDATE callback_deliveries SET claimed_until = ? WHERE id = ? AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)",
      [started + c.timeoutMs * 2 + 1_000, row.id, started],
    );
    if (claimed !== 1) return null; // another process has it
    const [secret] = await this.db.rows<{ secret: string }>(
      'SELECT secret FROM callback_secrets WHERE owner = ?',
      [row.owner],
    );
    let statusCode: number | null = null;
    let error: string | null = null;
    if (!secret) {
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
            [CALLBACK_HEADERS.id]: row.event_id,
            [CALLBACK_HEADERS.timestamp]: timestamp,
            [CALLBACK_HEADERS.signature]: callbackSignature(secret.secret, timestamp, row.body),
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
    const attempt = Number(row.attempts) + 1;
    const retryAt = ended + callbackBackoffMs(attempt, c.retryBaseMs, c.retryMaxMs);
    const dead = retryAt > Number(row.retry_from) + c.retryForMs;
    await this.db.transaction(async (tx) => {
      await tx.exec(
        'INSERT INTO callback_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error) VALUES (?, ?, ?, ?, ?, ?)',
        [row.id, attempt, started, ended - started, statusCode, error?.slice(0, 600) ?? null],
      );
      if (!error) {
        await tx.exec(
          "UPDATE callback_deliveries SET status = 'delivered', attempts = ?, delivered_at = ?, claimed_until = NULL, last_status_code = ?, last_error = NULL WHERE id = ?",
          [attempt, ended, statusCode, row.id],
        );
        return;
      }
      await tx.exec(
        'UPDATE callback_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, claimed_until = NULL, last_status_code = ?, last_error = ? WHERE id = ?',
        [dead ? 'dead' : 'pending', attempt, retryAt, statusCode, error.slice(0, 600), row.id],
      );
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
