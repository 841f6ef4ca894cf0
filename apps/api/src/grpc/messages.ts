/**
 * cns.v1 messages as proto-loader hands them over (camelCase, proto3 defaults filled in, unset
 * messages null) and the conversions between them and the REST bodies and views: a request is
 * turned into the REST body and goes through the same zod schema; a view is the REST answer with
 * its instants as google.protobuf.Timestamp.
 */
import type { NotificationView } from '#libs/contracts';
import { parseJsonText, refuseNul } from '#libs/contracts';
import type { ChainedEvent, ChainVerification } from '#libs/evidence';
import type { HoldResult, HoldView } from '#libs/notifications';
import { type TimestampMsg, toTimestamp } from './timestamp.js';

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
  /** proto3 `optional`: absent unless the caller set it (0 is a dpd). */
  dpd?: number;
  stage: string;
  /** Empty: no per-notice callback URL. */
  callbackUrl?: string;
}
export interface HoldRequestMsg {
  caseId: string;
  kind: string;
  until: TimestampMsg | null;
  reason: string;
}
/** ListNotifications, ListHolds, ListEvidence. */
export interface PageRequestMsg {
  caseId: string;
  limit: number;
  cursor: string;
}
export interface AddOptOutRequestMsg {
  contact?: string;
  postal?: PostalAddressMsg | null;
  channel: string;
  reason: string;
}

/** Drops proto3 defaults ('' and empty lists) so the REST schema sees absent fields as absent. */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === '' || v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out as Partial<T>;
}

/**
 * A gRPC SendRequest as the REST request body, then the same validation: explicit
 * (`channel` + `templateKey`) or automatic (`dpd` / `stage`), whichever fields are set.
 */
export function toCreateBody(m: SendRequestMsg): unknown {
  let data: unknown = {};
  refuseNul(m);
  if (m.dataJson) data = parseJsonText(m.dataJson, 'data_json');
  const r = m.recipient;
  return compact({
    caseId: m.caseId,
    channel: m.channel,
    templateKey: m.templateKey,
    dpd: m.dpd,
    stage: m.stage,
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
    callbackUrl: m.callbackUrl,
  });
}

/** An AddOptOutRequest as the `POST /v1/opt-outs` body. */
export function toOptOutBody(m: AddOptOutRequestMsg): unknown {
  refuseNul(m);
  const address = m.postal ? compact({ ...m.postal }) : m.contact;
  return compact({ address, channel: m.channel, reason: m.reason });
}

type ListedNotification = Omit<NotificationView, 'events' | 'compliance'> &
  Partial<Pick<NotificationView, 'events'>>;

export function notificationMessage(v: ListedNotification, replayed = false) {
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
    notBefore: toTimestamp(v.notBefore),
    createdAt: toTimestamp(v.createdAt),
    updatedAt: toTimestamp(v.updatedAt),
    events: (v.events ?? []).map((e) => ({
      seq: e.seq,
      type: e.type,
      occurredAt: toTimestamp(e.occurredAt),
      recordedAt: toTimestamp(e.recordedAt),
      payloadJson: JSON.stringify(e.payload),
      hash: e.hash,
    })),
    replayed,
  };
}

export function holdView(h: HoldView) {
  return {
    id: h.id,
    caseId: h.caseId,
    kind: h.kind,
    until: toTimestamp(h.until),
    reason: h.reason ?? '',
    createdBy: h.createdBy,
    createdAt: toTimestamp(h.createdAt),
    releasedAt: toTimestamp(h.releasedAt),
  };
}

export function holdMessage(r: HoldResult) {
  return { hold: holdView(r.hold), notificationIds: r.notifications };
}

export function evidenceMessage(e: ChainedEvent) {
  return {
    seq: e.seq,
    caseId: e.caseId,
    notificationId: e.notificationId ?? '',
    type: e.type,
    occurredAt: toTimestamp(e.occurredAt),
    recordedAt: toTimestamp(e.recordedAt),
    payloadJson: JSON.stringify(e.payload),
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

export function verificationMessage(v: ChainVerification | null) {
  if (!v) return null;
  return {
    ok: v.ok,
    events: v.events,
    headHash: v.headHash,
    brokenSeq: v.brokenSeq ?? 0,
    failure: v.failure ?? '',
    detail: v.detail ?? '',
  };
}
