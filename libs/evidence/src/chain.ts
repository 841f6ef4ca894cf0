import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * The per-case hash chain (DESIGN.md section 4): every event is hashed as
 * SHA-256(prevHash || canonical JSON of the event), canonical JSON being RFC 8785 (JCS).
 */

export const GENESIS_HASH = '0'.repeat(64);

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Event types written by the pipeline. Kept open-ended (string) so later stages can add types. */
export type EvidenceType =
  | 'notification.accepted'
  | 'template.pinned'
  | 'compliance.decision'
  | 'message.rendered'
  | 'provider.request'
  | 'provider.response'
  | 'provider.error'
  | 'receipt.received'
  | 'receipt.refused'
  | 'status.changed'
  | 'case.facts.recorded'
  | (string & {});

/** The fields covered by the hash. `seq` is gap-free per case, starting at 1. */
export interface ChainedEventBody {
  seq: number;
  caseId: string;
  notificationId: string | null;
  type: EvidenceType;
  occurredAt: string; // ISO-8601 UTC, millisecond precision
  recordedAt: string; // ISO-8601 UTC, millisecond precision
  payload: JsonValue;
}

export interface ChainedEvent extends ChainedEventBody {
  prevHash: string;
  hash: string;
}

export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value cannot be canonicalized');
  return text;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function eventHash(prevHash: string, body: ChainedEventBody, payloadCanonical?: string): string {
  return createHash('sha256')
    .update(prevHash, 'utf8')
    .update(canonicalEvent(body, payloadCanonical ?? canonicalJson(body.payload)), 'utf8')
    .digest('hex');
}

/**
 * RFC 8785 form of an event, built from its already-canonical payload: the members in JCS order
 * (caseId, notificationId, occurredAt, payload, recordedAt, seq, type), strings serialised as
 * JSON.stringify does (which is what JCS prescribes), `seq` an integer. Equal to
 * `canonicalJson(event)` (a unit test holds them together) without re-serialising the payload.
 */
export function canonicalEvent(body: Omit<ChainedEventBody, 'payload'>, payloadCanonical: string): string {
  if (!Number.isSafeInteger(body.seq)) throw new TypeError('seq must be an integer');
  return (
    `{"caseId":${JSON.stringify(body.caseId)},"notificationId":${body.notificationId === null ? 'null' : JSON.stringify(body.notificationId)}` +
    `,"occurredAt":${JSON.stringify(body.occurredAt)},"payload":${payloadCanonical},"recordedAt":${JSON.stringify(body.recordedAt)}` +
    `,"seq":${body.seq},"type":${JSON.stringify(body.type)}}`
  );
}

/** Links a run of new events onto a chain head; returns the chained events and the new head. */
export function chainEvents(
  head: { seq: number; hash: string },
  bodies: Omit<ChainedEventBody, 'seq'>[],
  payloadCanonicals?: string[],
): { events: ChainedEvent[]; head: { seq: number; hash: string } } {
  let seq = head.seq;
  let prev = head.hash;
  const events = bodies.map((b, i) => {
    seq += 1;
    const body: ChainedEventBody = { ...b, seq };
    const hash = eventHash(prev, body, payloadCanonicals?.[i]);
    const ev: ChainedEvent = { ...body, prevHash: prev, hash };
    prev = hash;
    return ev;
  });
  return { events, head: { seq, hash: prev } };
}

export type VerifyFailure =
  | 'seq_gap'
  | 'prev_hash_mismatch'
  | 'hash_mismatch'
  | 'case_mismatch'
  | 'head_mismatch'
  /** No valid signed entry timestamp covers the event (EvidenceService.verifyCase). */
  | 'forged'
  /** A signed entry timestamp lists events past the end of the chain. */
  | 'truncated';

export interface ChainVerification {
  ok: boolean;
  caseId: string;
  events: number;
  headHash: string;
  /** First broken seq, when not ok. */
  brokenSeq?: number;
  failure?: VerifyFailure;
  detail?: string;
}

/**
 * Recomputes a case chain in seq order and points at the first broken `seq`.
 * `expectedHead`, when given (the stored case head), must match the last event: this catches
 * truncation of the chain's tail.
 */
export function verifyChain(
  caseId: string,
  events: Iterable<ChainedEvent>,
  expectedHead?: { seq: number; hash: string },
): ChainVerification {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  for (const ev of events) {
    const fail = (failure: VerifyFailure, detail: string): ChainVerification => ({
      ok: false,
      caseId,
      events: count,
      headHash: prev,
      brokenSeq: ev.seq === expectedSeq ? ev.seq : expectedSeq,
      failure,
      detail,
    });
    if (ev.caseId !== caseId) return fail('case_mismatch', `event belongs to case ${ev.caseId}`);
    if (ev.seq !== expectedSeq) return fail('seq_gap', `expected seq ${expectedSeq}, found ${ev.seq}`);
    if (ev.prevHash !== prev)
      return fail('prev_hash_mismatch', 'prevHash does not link to the previous event');
    const recomputed = eventHash(prev, ev);
    if (recomputed !== ev.hash) return fail('hash_mismatch', 'stored hash does not match the event content');
    prev = ev.hash;
    expectedSeq += 1;
    count += 1;
  }
  if (expectedHead && (expectedHead.seq !== count || expectedHead.hash !== prev)) {
    return {
      ok: false,
      caseId,
      events: count,
      headHash: prev,
      brokenSeq: Math.min(expectedHead.seq, count + 1),
      failure: 'head_mismatch',
      detail: `case head says seq ${expectedHead.seq}, chain ends at ${count}`,
    };
  }
  return { ok: true, caseId, events: count, headHash: prev };
}
