import { randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { ConflictError, type NotificationStatus, NotFoundError } from '#libs/core';
import type { ChainedEvent, JsonValue } from '#libs/evidence';
import { Db, type SqlRunner } from '#libs/persistence';
import {
  CallbackRepository,
  type CallbackDeliveryStatus,
  type CallbackDeliveryView,
  type CallbackEndpointView,
} from './callback.repository.js';
import {
  callbackBody,
  type CallbackEvent,
  type CallbackEventType,
  callbackTypeFor,
  parseCallbackUrl,
} from './events.js';

/**
 * The durable outbox of status callbacks and what callers manage of it: their signing secret,
 * their endpoints, the deliveries with every attempt, the dead letters and replays. Events are
 * written by `record` inside the transaction that changes the status (the state machine), one
 * row per target: each endpoint the caller registered and the notice's own `callbackUrl`.
 */
@Injectable()
export class CallbacksService {
  /** `repo` defaults to one over `db` so the service can be built by hand (unit specs). */
  constructor(
    db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: CallbackRepository = new CallbackRepository(db),
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
    // Delivery scheduling runs on the real clock: retries are about networks, not case time.
    await this.repo.enqueue(tx, {
      eventId: event.id,
      notificationId: ev.notificationId,
      seq: ev.seq,
      type,
      body,
      now: Date.now(),
    });
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
    const existing = await this.repo.secret(owner);
    if (existing !== null) return existing;
    await this.repo.addSecret(owner, `cbs_${randomBytes(32).toString('base64url')}`, Date.now());
    // Another process may have stored its own first: read back whichever won.
    const stored = await this.repo.secret(owner);
    if (stored === null) throw new Error(`callback secret of ${owner} was not stored`);
    return stored;
  }

  /** Whether a per-request `callbackUrl` can be signed for this caller (it has a secret). */
  hasSecret(owner: string): Promise<boolean> {
    return this.repo.hasSecret(owner);
  }

  parseUrl(raw: unknown, path = 'url'): string {
    return parseCallbackUrl(raw, this.config.callbacks.allowHttp, path);
  }

  async addEndpoint(
    owner: string,
    rawUrl: unknown,
  ): Promise<{ endpoint: CallbackEndpointView; secret: string }> {
    const url = this.parseUrl(rawUrl);
    const existing = await this.repo.activeEndpointId(owner, url);
    if (existing !== null) throw new ConflictError(`${url} is already registered (endpoint ${existing})`);
    const secret = await this.secret(owner);
    const id = randomUUID();
    const now = Date.now();
    await this.repo.insertEndpoint({ id, owner, url, createdAt: now });
    return { endpoint: { id, url, createdAt: new Date(now).toISOString(), disabledAt: null }, secret };
  }

  endpoints(owner: string): Promise<CallbackEndpointView[]> {
    return this.repo.endpoints(owner);
  }

  /** Stops new events going to an endpoint; what is queued for it is still delivered. */
  async disableEndpoint(owner: string, id: string): Promise<CallbackEndpointView> {
    const disabled = await this.repo.disableEndpoint(owner, id, Date.now());
    const found = (await this.endpoints(owner)).find((e) => e.id === id);
    if (!found || (!disabled && found.disabledAt === null))
      throw new NotFoundError(`No callback endpoint ${id}`);
    return found;
  }

  /** One keyset page of the caller's deliveries, newest last, optionally of one notice or status. */
  deliveries(
    owner: string,
    filter: { notificationId?: string; status?: CallbackDeliveryStatus },
    after: readonly [number, string] | null,
    take: number,
  ): Promise<CallbackDeliveryView[]> {
    return this.repo.deliveries(owner, filter, after, take);
  }

  async delivery(owner: string, id: string): Promise<CallbackDeliveryView> {
    const found = await this.repo.delivery(owner, id);
    if (!found) throw new NotFoundError(`No callback delivery ${id}`);
    return { ...found, attemptLog: await this.repo.attempts(id) };
  }

  /** Sends a dead (or delivered) callback again: same event id and body, a fresh retry window. */
  async replay(owner: string, id: string): Promise<CallbackDeliveryView> {
    if (!(await this.repo.replay(owner, id, Date.now()))) {
      await this.delivery(owner, id); // 404 when it is not the caller's
      throw new ConflictError(`Callback delivery ${id} is still pending`);
    }
    return this.delivery(owner, id);
  }
}
