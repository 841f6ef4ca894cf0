import { randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { ConflictError, type NotificationStatus, NotFoundError } from '#libs/core';
import type { ChainedEvent, JsonValue } from '#libs/evidence';
import { Db, type SqlRunner } from '#libs/persistence';
import {
  callbackBody,
  type CallbackEvent,
  type CallbackEventType,
  callbackTypeFor,
  parseCallbackUrl,
} from './events.js';

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

/**
 * The durable outbox of status callbacks and what callers manage of it: their signing secret,
 * their endpoints, the deliveries with every attempt, the dead letters and replays. Events are
 * written by `record` inside the transaction that changes the status (the state machine), one
 * row per target: each endpoint the caller registered and the notice's own `callbackUrl`.
 */
@Injectable()
export class CallbacksService {
  constructor(
    private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Queues the callback of one evidence event for every target of its notification, in `tx`.
   * One statement; nothing is written when the notice's caller has no endpoint and no URL.
   */
  async record(
    tx: SqlRunner,
    ev: ChainedEvent,
    type: CallbackEventType,
    status: NotificationStatus,
    data: Record<string, JsonValue>,
  ): Promise<void> {
    if (!ev.notificationId) return;
    const event: CallbackEvent = {
      id: randomUUID(),
      type,
      createdAt: ev.recordedAt,
      notificationId: ev.notificationId,
      caseId: ev.caseId,
      status,
      data,
      evidence: { caseId: ev.caseId, seq: ev.seq },
    };
    const body = callbackBody(event);
    // UNION ALL: each placeholder is cast (PostgreSQL types untyped parameters of a union as text).
    // Delivery scheduling runs on the real clock: retries are about networks, not case time.
    const now = Date.now();
    const common = [event.id, event.id, ev.seq, type, body, now, now, now, ev.notificationId];
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

  /** `record` for a status change the state machine made (no callback for `sending`). */
  async recordStatus(tx: SqlRunner, ev: ChainedEvent, reason: string | null | undefined): Promise<void> {
    const p = ev.payload as Record<string, JsonValue>;
    const to = p.to as NotificationStatus;
    const type = callbackTypeFor(to, p);
    if (!type) return;
    await this.record(tx, ev, type, to, { ...p, ...(reason ? { reason } : {}) });
  }

  /** The caller's signing secret, made on first use. */
  async secret(owner: string): Promise<string> {
    const [row] = await this.db.rows<{ secret: string }>(
      'SELECT secret FROM callback_secrets WHERE owner = ?',
      [owner],
    );
    if (row) return row.secret;
    const secret = `cbs_${randomBytes(32).toString('base64url')}`;
    await this.db.exec(
      'INSERT INTO callback_secrets (owner, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (owner) DO NOTHING',
      [owner, secret, Date.now()],
    );
    const [stored] = await this.db.rows<{ secret: string }>(
      'SELECT secret FROM callback_secrets WHERE owner = ?',
      [owner],
    );
    return stored.secret;
  }

  /** Whether a per-request `callbackUrl` can be signed for this caller (it has a secret). */
  async hasSecret(owner: string): Promise<boolean> {
    const rows = await this.db.rows('SELECT 1 AS x FROM callback_secrets WHERE owner = ?', [owner]);
    return rows.length > 0;
  }

  parseUrl(raw: unknown, path = 'url'): string {
    return parseCallbackUrl(raw, this.config.callbacks.allowHttp, path);
  }

  async addEndpoint(
    owner: string,
    rawUrl: unknown,
  ): Promise<{ endpoint: CallbackEndpointView; secret: string }> {
    const url = this.parseUrl(rawUrl);
    const existing = await this.db.rows<{ id: string }>(
      'SELECT id FROM callback_endpoints WHERE owner = ? AND url = ? AND disabled_at IS NULL',
      [owner, url],
    );
    if (existing.length > 0)
      throw new ConflictError(`${url} is already registered (endpoint ${existing[0].id})`);
    const secret = await this.secret(owner);
    const id = randomUUID();
    const now = Date.now();
    await this.db.exec('INSERT INTO callback_endpoints (id, owner, url, created_at) VALUES (?, ?, ?, ?)', [
      id,
      owner,
      url,
      now,
    ]);
    return { endpoint: { id, url, createdAt: new Date(now).toISOString(), disabledAt: null }, secret };
  }

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

  /** Stops new events going to an endpoint; what is queued for it is still delivered. */
  async disableEndpoint(owner: string, id: string): Promise<CallbackEndpointView> {
    const n = await this.db.exec(
      'UPDATE callback_endpoints SET disabled_at = ? WHERE id = ? AND owner = ? AND disabled_at IS NULL',
      [Date.now(), id, owner],
    );
    const found = (await this.endpoints(owner)).find((e) => e.id === id);
    if (!found || (n === 0 && found.disabledAt === null))
      throw new NotFoundError(`No callback endpoint ${id}`);
    return found;
  }

  /** One keyset page of the caller's deliveries, newest last, optionally of one notice or status. */
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

  async delivery(owner: string, id: string): Promise<CallbackDeliveryView> {
    const [row] = await this.db.rows<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM callback_deliveries WHERE id = ? AND owner = ?`,
      [id, owner],
    );
    if (!row) throw new NotFoundError(`No callback delivery ${id}`);
    const attempts = await this.db.rows<{
      attempt: number | string;
      started_at: number | string;
      duration_ms: number | string;
      status_code: number | null;
      error: string | null;
    }>(
      'SELECT attempt, started_at, duration_ms, status_code, error FROM callback_attempts WHERE delivery_id = ? ORDER BY attempt',
      [id],
    );
    return {
      ...deliveryView(row),
      attemptLog: attempts.map((a) => ({
        attempt: Number(a.attempt),
        startedAt: iso(a.started_at) as string,
        durationMs: Number(a.duration_ms),
        statusCode: a.status_code === null ? null : Number(a.status_code),
        error: a.error,
      })),
    };
  }

  /** Sends a dead (or delivered) callback again: same event id and body, a fresh retry window. */
  async replay(owner: string, id: string): Promise<CallbackDeliveryView> {
    const now = Date.now();
    const n = await this.db.exec(
      "UPDATE callback_deliveries SET status = 'pending', next_attempt_at = ?, retry_from = ?, claimed_until = NULL, delivered_at = NULL WHERE id = ? AND owner = ? AND status <> 'pending'",
      [now, now, id, owner],
    );
    if (n === 0) {
      await this.delivery(owner, id); // 404 when it is not the caller's
      throw new ConflictError(`Callback delivery ${id} is still pending`);
    }
    return this.delivery(owner, id);
  }
}
