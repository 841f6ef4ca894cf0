import { Inject, Injectable } from '@nestjs/common';
import { CLOCK, type Clock } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import {
  canonicalJson,
  chainEvents,
  type ChainedEvent,
  type ChainVerification,
  type EvidenceType,
  GENESIS_HASH,
  type JsonValue,
  verifyChain,
} from './chain.js';

export interface NewEvidence {
  notificationId: string | null;
  type: EvidenceType;
  payload: JsonValue;
  /** When the fact happened (provider time for receipts); defaults to now. */
  occurredAt?: Date;
}

/** A row of `evidence_events` as the drivers return it. */
export interface EventRow {
  case_id: string;
  seq: number | string;
  notification_id: string | null;
  type: string;
  occurred_at: string;
  recorded_at: string;
  payload: string;
  prev_hash: string;
  hash: string;
}

export function toEvent(r: EventRow): ChainedEvent {
  return {
    seq: Number(r.seq),
    caseId: r.case_id,
    notificationId: r.notification_id,
    type: r.type,
    occurredAt: r.occurred_at,
    recordedAt: r.recorded_at,
    payload: JSON.parse(r.payload) as JsonValue,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/**
 * The append-only evidence ledger: one hash chain per case. Appends run inside the caller's
 * transaction so a state change and its evidence commit together; the case head row is
 * locked (PostgreSQL) so appends to one case are serialised while cases write in parallel.
 */
@Injectable()
export class EvidenceService {
  constructor(
    private readonly db: Db,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async append(tx: SqlRunner, caseId: string, items: NewEvidence[]): Promise<ChainedEvent[]> {
    if (items.length === 0) return [];
    const out = await this.appendMany(tx, new Map([[caseId, items]]));
    return out.get(caseId) ?? [];
  }

  /**
   * Appends to several case chains in one round of statements: heads are created if missing,
   * locked in case-id order (no deadlocks between concurrent batches), events inserted with one
   * multi-row INSERT per chunk, heads advanced with one UPDATE.
   */
  async appendMany(tx: SqlRunner, byCase: Map<string, NewEvidence[]>): Promise<Map<string, ChainedEvent[]>> {
    const result = new Map<string, ChainedEvent[]>();
    const cases = [...byCase.keys()].filter((c) => (byCase.get(c)?.length ?? 0) > 0).sort();
    if (cases.length === 0) return result;
    const now = this.clock.now();
    const recordedAt = now.toISOString();
    const at = now.getTime();
    // One statement creates missing heads and returns (and, on PostgreSQL, row-locks) every head:
    // ON CONFLICT DO UPDATE takes the row lock; rows are touched in case-id order (no deadlocks).
    const heads = new Map<string, { seq: number; hash: string }>();
    for (let i = 0; i < cases.length; i += 500) {
      const part = cases.slice(i, i + 500);
      const rows = await tx.rows<{ case_id: string; last_seq: number; last_hash: string }>(
        `INSERT INTO case_heads (case_id, last_seq, last_hash, updated_at) VALUES ${part.map(() => '(?, 0, ?, ?)').join(', ')}
         ON CONFLICT (case_id) DO UPDATE SET updated_at = case_heads.updated_at
         RETURNING case_id, last_seq, last_hash`,
        part.flatMap((c) => [c, GENESIS_HASH, at]),
      );
      for (const r of rows) heads.set(r.case_id, { seq: Number(r.last_seq), hash: r.last_hash });
    }
    const all: ChainedEvent[] = [];
    const allTexts: string[] = [];
    const newHeads: [string, { seq: number; hash: string }][] = [];
    for (const caseId of cases) {
      const head = heads.get(caseId);
      if (!head) throw new Error(`case head ${caseId} missing after upsert`);
      const items = byCase.get(caseId) ?? [];
      // Canonicalise each payload once: what is hashed is exactly what is stored.
      const texts = items.map((i) => canonicalJson(i.payload));
      const { events, head: next } = chainEvents(
        head,
        items.map((i) => ({
          caseId,
          notificationId: i.notificationId,
          type: i.type,
          occurredAt: (i.occurredAt ?? now).toISOString(),
          recordedAt,
          payload: i.payload,
        })),
        texts,
      );
      result.set(caseId, events);
      for (let k = 0; k < events.length; k++) {
        all.push(events[k]);
        allTexts.push(texts[k]);
      }
      newHeads.push([caseId, next]);
    }
    for (let i = 0; i < all.length; i += 500) {
      const part = all.slice(i, i + 500);
      const values: unknown[] = [];
      part.forEach((e, k) => {
        values.push(
          e.caseId,
          e.seq,
          e.notificationId,
          e.type,
          e.occurredAt,
          e.recordedAt,
          allTexts[i + k],
          e.prevHash,
          e.hash,
        );
      });
      await tx.exec(
        `INSERT INTO evidence_events (case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash) VALUES ${part
          .map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .join(', ')}`,
        values,
      );
    }
    if (newHeads.length === 1) {
      const [[caseId, h]] = newHeads;
      await tx.exec('UPDATE case_heads SET last_seq = ?, last_hash = ?, updated_at = ? WHERE case_id = ?', [
        h.seq,
        h.hash,
        at,
        caseId,
      ]);
    } else {
      for (let i = 0; i < newHeads.length; i += 500) {
        const part = newHeads.slice(i, i + 500);
        await tx.exec(
          `WITH v(case_id, seq, hash) AS (VALUES ${part.map(() => '(?, CAST(? AS INTEGER), ?)').join(', ')})
           UPDATE case_heads SET
             last_seq = (SELECT v.seq FROM v WHERE v.case_id = case_heads.case_id),
             last_hash = (SELECT v.hash FROM v WHERE v.case_id = case_heads.case_id),
             updated_at = ?
           WHERE case_id IN (SELECT case_id FROM v)`,
          [...part.flatMap(([c, h]) => [c, h.seq, h.hash]), at],
        );
      }
    }
    return result;
  }

  async caseEvents(caseId: string): Promise<ChainedEvent[]> {
    const rows = await this.db.rows<EventRow>(
      'SELECT case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_events WHERE case_id = ? ORDER BY seq',
      [caseId],
    );
    return rows.map(toEvent);
  }

  /** One keyset page of a case's chain in seq order: up to `take` events after seq `afterSeq`. */
  async caseEventsPage(caseId: string, afterSeq: number, take: number): Promise<ChainedEvent[]> {
    const rows = await this.db.rows<EventRow>(
      'SELECT case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_events WHERE case_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      [caseId, afterSeq, take],
    );
    return rows.map(toEvent);
  }

  async notificationEvents(notificationId: string): Promise<ChainedEvent[]> {
    const rows = await this.db.rows<EventRow>(
      'SELECT case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_events WHERE notification_id = ? ORDER BY seq',
      [notificationId],
    );
    return rows.map(toEvent);
  }

  async verifyCase(caseId: string): Promise<ChainVerification> {
    const [head] = await this.db.rows<{ last_seq: number; last_hash: string }>(
      'SELECT last_seq, last_hash FROM case_heads WHERE case_id = ?',
      [caseId],
    );
    const events = await this.caseEvents(caseId);
    return verifyChain(
      caseId,
      events,
      head ? { seq: Number(head.last_seq), hash: head.last_hash } : { seq: 0, hash: GENESIS_HASH },
    );
  }
}
