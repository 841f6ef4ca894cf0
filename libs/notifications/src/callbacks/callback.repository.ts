/**
 * The SQL of status callbacks: signing secrets, endpoints, the delivery outbox and its attempt
 * log. `CallbacksService` (what callers manage) and `CallbackDelivery` (the sender) reach these
 * tables only through here. Methods that take a `tx` run in the caller's transaction; the others
 * run on the pool. Every statement uses `?` placeholders and runs unchanged on SQLite and
 * PostgreSQL.
 */
import { Injectable } from '@nestjs/common';
import { Db, type SqlRunner } from '#libs/persistence';
import type { CallbackEvent } from './events.js';

export interface CallbackEndpointView {
  id: string;
  url: string;
  createdAt: string;
  disabledAt: string | null;
}

export type CallbackDeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface CallbackAttemptView {
  attempt: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
}

export interface CallbackDeliveryView {
  id: string;
  eventId: string;
  type: string;
  notificationId: string;
  url: string;
  endpointId: string | null;
  status: CallbackDeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  /** The signed body, exactly as sent. */
  event: CallbackEvent;
  attemptLog?: CallbackAttemptView[];
}

/** One event to queue for every target of its notification (`CallbackRepository.enqueue`). */
export interface CallbackOutboxEvent {
  eventId: string;
  notificationId: string;
  /** The evidence event's seq: the delivery order per (notification, target). */
  seq: number;
  type: string;
  /** The canonical signed body. */
  body: string;
  /** Real-clock epoch ms: first attempt, creation and start of the retry window. */
  now: number;
}

/** A delivery the sender may attempt now. */
export interface DueCallback {
  id: string;
  owner: string;
  url: string;
  body: string;
  eventId: string;
  /** Attempts made so far. */
  attempts: number;
  /** Start of the current retry window (creation, or the last replay). */
  retryFrom: number;
}

/** What one attempt ended with, written with `logAttempt` and `markDelivered`/`markFailed`. */
export interface CallbackAttemptRecord {
  deliveryId: string;
  attempt: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  notification_id: string;
  url: string;
  endpoint_id: string | null;
  status: string;
  attempts: number | string;
  next_attempt_at: number | string;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number | string;
  delivered_at: number | string | null;
  body: string;
}

interface DueRow {
  id: string;
  owner: string;
  url: string;
  body: string;
  event_id: string;
  attempts: number | string;
  retry_from: number | string;
}

const iso = (v: number | string | null) => (v === null ? null : new Date(Number(v)).toISOString());

function deliveryView(r: DeliveryRow): CallbackDeliveryView {
  return {
    id: r.id,
    eventId: r.event_id,
    type: r.type,
    notificationId: r.notification_id,
    url: r.url,
    endpointId: r.endpoint_id,
    status: r.status as CallbackDeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code),
    lastError: r.last_error,
    createdAt: iso(r.created_at) as string,
    deliveredAt: iso(r.delivered_at),
    event: JSON.parse(r.body) as CallbackEvent,
  };
}

const DELIVERY_COLUMNS =
  'id, event_id, type, notification_id, url, endpoint_id, status, attempts, next_attempt_at, last_status_code, last_error, created_at, delivered_at, body';

@Injectable()
export class CallbackRepository {
  constructor(private readonly db: Db) {}

  /**
   * Queues one delivery per target of the event's notification, in `tx`: each enabled endpoint
   * of the notice's caller (id `<event>:<endpoint>`) and the notice's own `callbackUrl` unless an
   * enabled endpoint has the same URL (id `<event>:request`). One statement; nothing is written
   * when there is no target.
   */
  async enqueue(tx: SqlRunner, e: CallbackOutboxEvent): Promise<void> {
    // UNION ALL: each placeholder is cast (PostgreSQL types untyped parameters of a union as text).
    const common = [e.eventId, e.eventId, e.seq, e.type, e.body, e.now, e.now, e.now, e.notificationId];
    await tx.exec(
      `INSERT INTO callback_deliveries (id, event_id, owner, endpoint_id, url, notification_id, seq, type, body, status, attempts, next_attempt_at, created_at, retry_from)
       SELECT CAST(? AS VARCHAR(40)) || ':' || e.id, CAST(? AS VARCHAR(40)), e.owner, e.id, e.url, n.id, CAST(? AS BIGINT), CAST(? AS VARCHAR(40)), CAST(? AS TEXT), 'pending', 0, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)
         FROM notifications n JOIN callback_endpoints e ON e.owner = n.caller AND e.disabled_at IS NULL
        WHERE n.id = ?
       UNION ALL
       SELECT CAST(? AS VARCHAR(40)) || ':request', CAST(? AS VARCHAR(40)), n.caller, NULL, n.callback_url, n.id, CAST(? AS BIGINT), CAST(? AS VARCHAR(40)), CAST(? AS TEXT), 'pending', 0, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)
         FROM notifications n
        WHERE n.id = ? AND n.callback_url IS NOT NULL AND n.caller IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM callback_endpoints e
                           WHERE e.owner = n.caller AND e.url = n.callback_url AND e.disabled_at IS NULL)`,
      [...common, ...common],
    );
  }

  /** The caller's signing secret, or null when it has none yet. */
  async secret(owner: string): Promise<string | null> {
    const [row] = await this.db.rows<{ secret: string }>(
      'SELECT secret FROM callback_secrets WHERE owner = ?',
      [owner],
    );
    return row ? row.secret : null;
  }

  /** Stores a caller's secret unless it has one already (the first writer wins a race). */
  async addSecret(owner: string, secret: string, at: number): Promise<void> {
    await this.db.exec(
      'INSERT INTO callback_secrets (owner, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (owner) DO NOTHING',
      [owner, secret, at],
    );
  }

  async hasSecret(owner: string): Promise<boolean> {
    const rows = await this.db.rows('SELECT 1 AS x FROM callback_secrets WHERE owner = ?', [owner]);
    return rows.length > 0;
  }

  /** The id of the caller's enabled endpoint with this URL, if any. */
  async activeEndpointId(owner: string, url: string): Promise<string | null> {
    const [row] = await this.db.rows<{ id: string }>(
      'SELECT id FROM callback_endpoints WHERE owner = ? AND url = ? AND disabled_at IS NULL',
      [owner, url],
    );
    return row ? row.id : null;
  }

  async insertEndpoint(e: { id: string; owner: string; url: string; createdAt: number }): Promise<void> {
    await this.db.exec('INSERT INTO callback_endpoints (id, owner, url, created_at) VALUES (?, ?, ?, ?)', [
      e.id,
      e.owner,
      e.url,
      e.createdAt,
    ]);
  }

  /** Every endpoint of the caller, disabled ones too, oldest first. */
  async endpoints(owner: string): Promise<CallbackEndpointView[]> {
    const rows = await this.db.rows<{
      id: string;
      url: string;
      created_at: string | number;
      disabled_at: string | number | null;
    }>(
      'SELECT id, url, created_at, disabled_at FROM callback_endpoints WHERE owner = ? ORDER BY created_at, id',
      [owner],
    );
    return rows.map((r) => ({
      id: r.id,
      url: r.url,
      createdAt: iso(r.created_at) as string,
      disabledAt: iso(r.disabled_at),
    }));
  }

  /** Disables the caller's endpoint; false when it is not the caller's or already disabled. */
  async disableEndpoint(owner: string, id: string, at: number): Promise<boolean> {
    const n = await this.db.exec(
      'UPDATE callback_endpoints SET disabled_at = ? WHERE id = ? AND owner = ? AND disabled_at IS NULL',
      [at, id, owner],
    );
    return n !== 0;
  }

  /** One keyset page of the caller's deliveries in (created_at, id) order: `take` rows after `after`. */
  async deliveries(
    owner: string,
    filter: { notificationId?: string; status?: CallbackDeliveryStatus },
    after: readonly [number, string] | null,
    take: number,
  ): Promise<CallbackDeliveryView[]> {
    const where = ['owner = ?'];
    const params: unknown[] = [owner];
    if (filter.notificationId) {
      where.push('notification_id = ?');
      params.push(filter.notificationId);
    }
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (after) {
      where.push('(created_at, id) > (?, ?)');
      params.push(after[0], after[1]);
    }
    const rows = await this.db.rows<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM callback_deliveries WHERE ${where.join(' AND ')} ORDER BY created_at, id LIMIT ?`,
      [...params, take],
    );
    return rows.map(deliveryView);
  }

  /** One delivery of the caller (without its attempt log), or null when it is not the caller's. */
  async delivery(owner: string, id: string): Promise<CallbackDeliveryView | null> {
    const [row] = await this.db.rows<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM callback_deliveries WHERE id = ? AND owner = ?`,
      [id, owner],
    );
    return row ? deliveryView(row) : null;
  }

  /** Every attempt of a delivery, first first. */
  async attempts(deliveryId: string): Promise<CallbackAttemptView[]> {
    const rows = await this.db.rows<{
      attempt: number | string;
      started_at: number | string;
      duration_ms: number | string;
      status_code: number | null;
      error: string | null;
    }>(
      'SELECT attempt, started_at, duration_ms, status_code, error FROM callback_attempts WHERE delivery_id = ? ORDER BY attempt',
      [deliveryId],
    );
    return rows.map((a) => ({
      attempt: Number(a.attempt),
      startedAt: iso(a.started_at) as string,
      durationMs: Number(a.duration_ms),
      statusCode: a.status_code === null ? null : Number(a.status_code),
      error: a.error,
    }));
  }

  /**
   * Makes a dead or delivered delivery of the caller pending again, due at `now` with a retry
   * window from `now`; false when it is still pending or not the caller's.
   */
  async replay(owner: string, id: string, now: number): Promise<boolean> {
    const n = await this.db.exec(
      "UPDATE callback_deliveries SET status = 'pending', next_attempt_at = ?, retry_from = ?, claimed_until = NULL, delivered_at = NULL WHERE id = ? AND owner = ? AND status <> 'pending'",
      [now, now, id, owner],
    );
    return n !== 0;
  }

  /**
   * Pending deliveries due at `now` and not claimed, earliest first, at most `limit`. Only the
   * head of each (notification, target) lane qualifies: a delivery waits while an earlier event
   * (lower seq) to the same URL is still pending.
   */
  async due(now: number, limit: number): Promise<DueCallback[]> {
    const rows = await this.db.rows<DueRow>(
      `SELECT d.id, d.owner, d.url, d.body, d.event_id, d.attempts, d.retry_from FROM callback_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.claimed_until IS NULL OR d.claimed_until < ?)
          AND NOT EXISTS (SELECT 1 FROM callback_deliveries p
                           WHERE p.notification_id = d.notification_id AND p.url = d.url
                             AND p.status = 'pending' AND p.seq < d.seq)
        ORDER BY d.next_attempt_at, d.seq LIMIT ?`,
      [now, now, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      owner: r.owner,
      url: r.url,
      body: r.body,
      eventId: r.event_id,
      attempts: Number(r.attempts),
      retryFrom: Number(r.retry_from),
    }));
  }

  /**
   * Claims a pending delivery until `until` by compare-and-set; false when another process holds
   * an unexpired claim (or it is no longer pending).
   */
  async claim(id: string, until: number, now: number): Promise<boolean> {
    const claimed = await this.db.exec(
      "UPDATE callback_deliveries SET claimed_until = ? WHERE id = ? AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)",
      [until, id, now],
    );
    return claimed === 1;
  }

  async logAttempt(tx: SqlRunner, a: CallbackAttemptRecord): Promise<void> {
    await tx.exec(
      'INSERT INTO callback_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error) VALUES (?, ?, ?, ?, ?, ?)',
      [a.deliveryId, a.attempt, a.startedAt, a.durationMs, a.statusCode, a.error],
    );
  }

  /** Ends a delivery as delivered after `attempt` and releases its claim. */
  async markDelivered(
    tx: SqlRunner,
    id: string,
    attempt: number,
    at: number,
    statusCode: number | null,
  ): Promise<void> {
    await tx.exec(
      "UPDATE callback_deliveries SET status = 'delivered', attempts = ?, delivered_at = ?, claimed_until = NULL, last_status_code = ?, last_error = NULL WHERE id = ?",
      [attempt, at, statusCode, id],
    );
  }

  /** Records a failed attempt: retried at `retryAt`, or dead; the claim is released either way. */
  async markFailed(
    tx: SqlRunner,
    id: string,
    f: { dead: boolean; attempt: number; retryAt: number; statusCode: number | null; error: string },
  ): Promise<void> {
    await tx.exec(
      'UPDATE callback_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, claimed_until = NULL, last_status_code = ?, last_error = ? WHERE id = ?',
      [f.dead ? 'dead' : 'pending', f.attempt, f.retryAt, f.statusCode, f.error, id],
    );
  }
}
