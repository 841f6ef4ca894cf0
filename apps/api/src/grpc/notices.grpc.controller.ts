import { Controller } from '@nestjs/common';
import { GrpcMethod, GrpcStreamMethod } from '@nestjs/microservices';
import { concatMap, from, map, type Observable, reduce } from 'rxjs';
import {
  CursorKeys,
  HoldBodySchema,
  type OptOutBody,
  OptOutBodySchema,
  pageOf,
  pageRequestOf,
  parseCreateNotification,
  parseStrict,
  refuseNul,
} from '#libs/contracts';
import { NotFoundError, RateLimitedError, storedAddressKey, ValidationError } from '#libs/core';
import { EvidenceService } from '#libs/evidence';
import {
  HoldsService,
  type IdempotencyRef,
  NotificationsService,
  OptOutsService,
  type OptOutReason,
  parseHoldKind,
} from '#libs/notifications';
import { grpcCaller } from '../auth/principal.js';
import { idempotencyScopeOf } from '../http/actor.js';
import { PerNotice, RateLimiter } from '../auth/rate-limiter.js';
import { Scopes } from '../auth/scopes.js';
import { toProblem } from '../problem.js';
import {
  type AddOptOutRequestMsg,
  evidenceMessage,
  holdMessage,
  type HoldRequestMsg,
  holdView,
  notificationMessage,
  type PageRequestMsg,
  type SendRequestMsg,
  toCreateBody,
  toOptOutBody,
  verificationMessage,
} from './messages.js';
import { fromTimestamp, toTimestamp } from './timestamp.js';

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
  refuseNul(raw, 'case_id'); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
  if (!CASE_ID.test(raw)) {
    throw new ValidationError('case_id is invalid', [
      { path: 'case_id', message: 'letters, digits, dot, dash, underscore; 1-64' },
    ]);
  }
  return raw;
}

/** The caller-scoped Idempotency-Key of a Send message (docs/api.md, "Idempotency"). */
function idempotencyOf(m: SendRequestMsg, meta: Meta): IdempotencyRef | null {
  const key = idempotencyKeyOf(m);
  return key ? { scope: idempotencyScopeOf(grpcCaller(meta)), key } : null;
}

function actor(meta: Meta): string {
  return grpcCaller(meta)?.name ?? 'grpc';
}

/** `limit` and `cursor` of a list request as REST's query (proto3 `0` / `''` = not given). */
function pageQueryOf(m: PageRequestMsg): { limit?: number; cursor?: string } {
  refuseNul(m);
  return { limit: m.limit === 0 ? undefined : m.limit, cursor: m.cursor || undefined };
}

/**
 * gRPC service `cns.v1.Notices`: the same services, validation and scopes as the REST routes
 * each method mirrors (docs/api.md, "gRPC"). Lists page with the REST cursors (same list kinds
 * and keys, so a REST `next` continues a gRPC list and the other way round).
 */
@Controller()
export class NoticesGrpcController {
  constructor(
    private readonly notifications: NotificationsService,
    private readonly holds: HoldsService,
    private readonly evidence: EvidenceService,
    private readonly optOuts: OptOutsService,
    private readonly limiter: RateLimiter,
  ) {}

  @GrpcMethod('Notices', 'Send')
  @Scopes('notifications:send')
  async send(req: SendRequestMsg, meta: Meta) {
    const key = idempotencyOf(req, meta);
    const { notification, created } = await this.notifications.accept(
      parseCreateNotification(toCreateBody(req)),
      key,
      null,
      idempotencyScopeOf(grpcCaller(meta)),
    );
    return notificationMessage(notification, !created);
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
        null,
        idempotencyScopeOf(grpcCaller(meta)),
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
    return notificationMessage(await this.notifications.view(req.id));
  }

  @GrpcMethod('Notices', 'Cancel')
  @Scopes('notifications:send')
  async cancel(req: { id: string; reason: string }) {
    refuseNul(req); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
    if (!UUID.test(req.id))
      throw new ValidationError('id must be a UUID', [{ path: 'id', message: 'not a UUID' }]);
    const reason = req.reason && req.reason.length <= 500 ? req.reason : 'cancelled by caller';
    return notificationMessage(await this.notifications.cancel(req.id, reason));
  }

  /** PUT /v1/cases/:caseId/hold: the same body schema (`until` as an RFC 3339 instant). */
  @GrpcMethod('Notices', 'Hold')
  @Scopes('notifications:send')
  async hold(req: HoldRequestMsg, meta: Meta) {
    refuseNul(req); // input policy: no U+0000 anywhere (PostgreSQL cannot store it)
    const until = fromTimestamp(req.until, 'until');
    const body = parseStrict(
      HoldBodySchema,
      { kind: req.kind, until: until?.toISOString(), reason: req.reason || undefined },
      'hold',
    );
    const kind = parseHoldKind(body.kind);
    return holdMessage(
      await this.holds.place(
        caseIdOf(req.caseId),
        { kind, until: body.until ?? undefined, reason: body.reason },
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
    return from(events.filter((e) => e.seq > (req.afterSeq ?? 0)).map(evidenceMessage));
  }

  /** GET /v1/notifications?caseId=: the same page request, service call and cursor. */
  @GrpcMethod('Notices', 'ListNotifications')
  @Scopes('notifications:read')
  async listNotifications(req: PageRequestMsg) {
    const caseId = caseIdOf(req.caseId);
    const page = pageRequestOf(pageQueryOf(req), 'notifications.byCase', CursorKeys.timeAndId);
    const rows = await this.notifications.listByCase(caseId, page);
    const { items, next } = pageOf(rows, page, (n) => [Date.parse(n.createdAt), n.id] as const);
    return { caseId, items: items.map((n) => notificationMessage(n)), nextCursor: next ?? '' };
  }

  /** GET /v1/cases/:caseId/holds. */
  @GrpcMethod('Notices', 'ListHolds')
  @Scopes('notifications:read')
  async listHolds(req: PageRequestMsg) {
    const caseId = caseIdOf(req.caseId);
    const page = pageRequestOf(pageQueryOf(req), 'holds.byCase', CursorKeys.timeAndId);
    const rows = await this.holds.listPage(caseId, page.after, page.limit + 1);
    const { items, next } = pageOf(rows, page, (h) => [Date.parse(h.createdAt), h.id] as const);
    return { caseId, holds: items.map(holdView), nextCursor: next ?? '' };
  }

  /** GET /v1/cases/:caseId/evidence: `verification` of the whole chain on the first page only. */
  @GrpcMethod('Notices', 'ListEvidence')
  @Scopes('evidence:read')
  async listEvidence(req: PageRequestMsg) {
    const caseId = caseIdOf(req.caseId);
    const page = pageRequestOf(pageQueryOf(req), 'evidence.events', CursorKeys.seq);
    const [rows, verification] = await Promise.all([
      this.evidence.caseEventsPage(caseId, page.after ?? 0, page.limit + 1),
      page.after === null ? this.evidence.verifyCase(caseId) : Promise.resolve(null),
    ]);
    const { items, next } = pageOf(rows, page, (e) => e.seq);
    return {
      caseId,
      verification: verificationMessage(verification),
      events: items.map(evidenceMessage),
      nextCursor: next ?? '',
    };
  }

  /** POST /v1/opt-outs: the same body schema; answers the key sends match on. */
  @GrpcMethod('Notices', 'AddOptOut')
  @Scopes('notifications:send')
  async addOptOut(req: AddOptOutRequestMsg, meta: Meta) {
    const { address, channel, reason } = parseStrict(
      OptOutBodySchema,
      toOptOutBody(req),
      'opt-out',
    ) as OptOutBody;
    const key = await this.optOuts.add(address, channel, reason as OptOutReason, `api:${actor(meta)}`);
    return { address: key, channel, reason, createdAt: null };
  }

  /** The opt-outs of one phone number or email address, on every channel (no REST route). */
  @GrpcMethod('Notices', 'ListOptOuts')
  @Scopes('notifications:read')
  async listOptOuts(req: { address: string }) {
    refuseNul(req);
    if (!req.address || req.address.length > 320) {
      throw new ValidationError('address is required (a phone number or email address)', [
        { path: 'address', message: '1-320 characters' },
      ]);
    }
    const rows = await this.optOuts.list(req.address);
    const address = storedAddressKey('*', req.address); // the key list() matched on
    return {
      address,
      optOuts: rows.map((o) => ({ ...o, address, createdAt: toTimestamp(o.createdAt) })),
    };
  }
}
