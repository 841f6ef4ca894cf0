import { Controller } from '@nestjs/common';
import { GrpcMethod, GrpcStreamMethod } from '@nestjs/microservices';
import { concatMap, from, map, type Observable, reduce } from 'rxjs';
import {
  type NotificationView,
  parseCreateNotification,
  parseJsonText,
  parseRfc3339,
  refuseNul,
} from '#libs/contracts';
import { NotFoundError, RateLimitedError, ValidationError } from '#libs/core';
import { EvidenceService } from '#libs/evidence';
import {
  type HoldResult,
  HoldsService,
  type IdempotencyRef,
  NotificationsService,
  parseHoldKind,
} from '#libs/notifications';
import { grpcCaller } from '../auth/principal.js';
import { idempotencyScopeOf } from '../http/actor.js';
import { PerNotice, RateLimiter } from '../auth/rate-limiter.js';
import { Scopes } from '../auth/scopes.js';
import { toProblem } from '../problem.js';

/* Messages as proto-loader hands them over (camelCase, defaults filled in). */
export interface PostalAddressMsg {
  country: string;
  province: string;
  city: string;
  district: string;
  street: string;
  postcode: string;
  lines: string[];
}
export interface SendRequestMsg {
  idempotencyKey: string;
  caseId: string;
  channel: string;
  templateKey: string;
  locale: string;
  recipient: {
    role: string;
    name: string;
    phone: string;
    email: string;
    address: PostalAddressMsg | null;
    timeZone: string;
  } | null;
  dataJson: string;
}
interface BatchItem {
  index: number;
  id: string;
  status: string;
  replayed: boolean;
  errorCode: string;
  errorDetail: string;
}
interface SendBatchSummary {
  accepted: number;
  replayed: number;
  failed: number;
  results: BatchItem[];
}
interface Meta {
  get(key: string): (string | Buffer)[];
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Drops proto3 defaults ('' and empty lists) so the REST schema sees absent fields as absent. */
function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === '' || v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out as Partial<T>;
}

/** A gRPC SendRequest as the REST request body, then the same validation. */
export function toCreateBody(m: SendRequestMsg): unknown {
  let data: unknown = {};
  refuseNul(m);
  if (m.dataJson) data = parseJsonText(m.dataJson, 'data_json');
  const r = m.recipient;
  return compact({
    caseId: m.caseId,
    channel: m.channel,
    templateKey: m.templateKey,
    locale: m.locale,
    recipient: r
      ? compact({
          role: r.role,
          name: r.name,
          phone: r.phone,
          email: r.email,
          address: r.address ? compact({ ...r.address }) : undefined,
          timeZone: r.timeZone,
        })
      : undefined,
    data,
  });
}

function idempotencyKeyOf(m: SendRequestMsg): string | null {
  if (!m.idempotencyKey) return null;
  if (!KEY_PATTERN.test(m.idempotencyKey)) {
    throw new ValidationError('idempotency_key must be 1-255 visible ASCII characters', [
      { path: 'idempotency_key', message: 'invalid' },
    ]);
  }
  return m.idempotencyKey;
}

function caseIdOf(raw: string): string {
  if (!CASE_ID.test(raw)) {
    throw new ValidationError('case_id is invalid', [
      { path: 'case_id', message: 'letters, digits, dot, dash, underscore; 1-64' },
    ]);
  }
  return raw;
}

function toMessage(v: NotificationView | Omit<NotificationView, 'events'>, replayed = false) {
  return {
    id: v.id,
    caseId: v.caseId,
    channel: v.channel,
    status: v.status,
    statusReason: v.statusReason ?? '',
    template: v.template,
    recipientRole: v.recipient.role,
    provider: v.provider ?? '',
    providerMessageId: v.providerMessageId ?? '',
    notBefore: v.notBefore ?? '',
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    events:
      'events' in v
        ? v.events.map((e) => ({
            seq: e.seq,
            type: e.type,
            occurredAt: e.occurredAt,
            recordedAt: e.recordedAt,
            payloadJson: JSON.stringify(e.payload),
            hash: e.hash,
          }))
        : [],
    replayed,
  };
}

function holdMessage(r: HoldResult) {
  const h = r.hold;
  return {
    hold: {
      id: h.id,
      caseId: h.caseId,
      kind: h.kind,
      until: h.until ?? '',
      reason: h.reason ?? '',
      createdBy: h.createdBy,
      createdAt: h.createdAt,
      releasedAt: h.releasedAt ?? '',
    },
    notificationIds: r.notifications,
  };
}

/** The caller-scoped Idempotency-Key of a Send message (docs/api.md, "Idempotency"). */
function idempotencyOf(m: SendRequestMsg, meta: Meta): IdempotencyRef | null {
  const key = idempotencyKeyOf(m);
  return key ? { scope: idempotencyScopeOf(grpcCaller(meta)), key } : null;
}

function actor(meta: Meta): string {
  return grpcCaller(meta)?.name ?? 'grpc';
}

/** gRPC service `cns.v1.Notices`: the same services and validation as the REST controllers. */
@Controller()
export class NoticesGrpcController {
  constructor(
    private readonly notifications: NotificationsService,
    private readonly holds: HoldsService,
    private readonly evidence: EvidenceService,
    private readonly limiter: RateLimiter,
  ) {}

  @GrpcMethod('Notices', 'Send')
  @Scopes('notifications:send')
  async send(req: SendRequestMsg, meta: Meta) {
    const key = idempotencyOf(req, meta);
    const { notification, created } = await this.notifications.accept(
      parseCreateNotification(toCreateBody(req)),
      key,
    );
    return toMessage(notification, !created);
  }

  @GrpcStreamMethod('Notices', 'SendBatch')
  @Scopes('notifications:send')
  @PerNotice()
  /**
   * Must return the Observable synchronously: Nest replays the buffered stream only after that.
   * Each item takes one token of the caller's rate limit; an item without one is not accepted
   * (errorCode `rate_limited`).
   */
  sendBatch(items: Observable<SendRequestMsg>, meta: Meta): Observable<SendBatchSummary> {
    const caller = grpcCaller(meta);
    return items.pipe(
      // One at a time, in order: back-pressure is the stream's own flow control.
      concatMap((m, index) => from(this.limited(caller, index, () => this.acceptOne(m, index, meta)))),
      reduce((acc: BatchItem[], it: BatchItem) => [...acc, it], []),
      map((results) => ({
        accepted: results.filter((r) => r.id && !r.replayed).length,
        replayed: results.filter((r) => r.replayed).length,
        failed: results.filter((r) => r.errorCode).length,
        results,
      })),
    );
  }

  private async limited(
    caller: ReturnType<typeof grpcCaller>,
    index: number,
    accept: () => Promise<BatchItem>,
  ): Promise<BatchItem> {
    if (caller) {
      try {
        await this.limiter.take(caller.id, caller.rateLimit ?? null);
      } catch (err) {
        if (!(err instanceof RateLimitedError)) throw err;
        const p = toProblem(err);
        return { index, id: '', status: '', replayed: false, errorCode: p.code, errorDetail: p.detail };
      }
    }
    return accept();
  }

  private async acceptOne(m: SendRequestMsg, index: number, meta: Meta): Promise<BatchItem> {
    try {
      const key = idempotencyOf(m, meta);
      const { notification, created } = await this.notifications.accept(
        parseCreateNotification(toCreateBody(m)),
        key,
      );
      return {
        index,
        id: notification.id,
        status: notification.status,
        replayed: !created,
        errorCode: '',
        errorDetail: '',
      };
    } catch (err) {
      const p = toProblem(err);
      if (p.status >= 500) throw err;
      const fields = p.errors?.length ? ` (${p.errors.map((f) => f.path).join(', ')})` : '';
      return {
        index,
        id: '',
        status: '',
        replayed: false,
        errorCode: p.code,
        errorDetail: `${p.detail}${fields}`,
      };
    }
  }

  @GrpcMethod('Notices', 'Get')
  @Scopes('notifications:read')
  async get(req: { id: string }) {
    refuseNul(req); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
    if (!UUID.test(req.id))
      throw new ValidationError('id must be a UUID', [{ path: 'id', message: 'not a UUID' }]);
    return toMessage(await this.notifications.view(req.id));
  }

  @GrpcMethod('Notices', 'Cancel')
  @Scopes('notifications:send')
  async cancel(req: { id: string; reason: string }) {
    refuseNul(req); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
    if (!UUID.test(req.id))
      throw new ValidationError('id must be a UUID', [{ path: 'id', message: 'not a UUID' }]);
    const reason = req.reason && req.reason.length <= 500 ? req.reason : 'cancelled by caller';
    return toMessage(await this.notifications.cancel(req.id, reason));
  }

  @GrpcMethod('Notices', 'Hold')
  @Scopes('notifications:send')
  async hold(req: { caseId: string; kind: string; until: string; reason: string }, meta: Meta) {
    refuseNul(req); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
    const kind = parseHoldKind(req.kind);
    let until: Date | undefined;
    if (req.until) {
      until = parseRfc3339(req.until) ?? new Date(NaN);
      if (Number.isNaN(until.getTime())) {
        throw new ValidationError('until must be an RFC 3339 instant', [
          { path: 'until', message: 'not a date-time' },
        ]);
      }
    }
    if (req.reason.length > 500) {
      throw new ValidationError('reason must be at most 500 characters', [
        { path: 'reason', message: 'too long' },
      ]);
    }
    return holdMessage(
      await this.holds.place(
        caseIdOf(req.caseId),
        { kind, until, reason: req.reason || undefined },
        actor(meta),
      ),
    );
  }

  @GrpcMethod('Notices', 'Release')
  @Scopes('notifications:send')
  async release(req: { caseId: string; kind: string }, meta: Meta) {
    refuseNul(req); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
    const kind = req.kind ? parseHoldKind(req.kind) : undefined;
    const released = await this.holds.release(caseIdOf(req.caseId), kind, actor(meta));
    return { released: released.map(holdMessage) };
  }

  @GrpcMethod('Notices', 'StreamEvidence')
  @Scopes('evidence:read')
  async streamEvidence(req: { caseId: string; afterSeq: number }) {
    refuseNul(req); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
    const caseId = caseIdOf(req.caseId);
    const events = await this.evidence.caseEvents(caseId);
    if (events.length === 0) throw new NotFoundError(`No evidence for case ${caseId}`);
    return from(
      events
        .filter((e) => e.seq > (req.afterSeq ?? 0))
        .map((e) => ({
          seq: e.seq,
          caseId: e.caseId,
          notificationId: e.notificationId ?? '',
          type: e.type,
          occurredAt: e.occurredAt,
          recordedAt: e.recordedAt,
          payloadJson: JSON.stringify(e.payload),
          prevHash: e.prevHash,
          hash: e.hash,
        })),
    );
  }
}
