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

interface EventRow {
  case_id: string;
  seq: number;
  notification_id: string | null;
  type: string;
  occurred_at: string;
  recorded_at: string;
  payload: string;
  prev_hash: string;
  hash: string;
}

function toEvent(r: EventRow): ChainedEvent {
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
    const now = this.clock.now();
    const recordedAt = now.toISOString();
    await tx.exec(
      'INSERT INTO case_heads (case_id, last_seq, last_hash, updated_at) VALUES (?, 0, ?, ?) ON CONFLICT (case_id) DO NOTHING',
      [caseId, GENESIS_HASH, now.getTime()],
    );
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const [head] = await tx.rows<{ last_seq: number; last_hash: string }>(
      `SELECT last_seq, last_hash FROM case_heads WHERE case_id = ?${lock}`,
      [caseId],
    );
    const { events, head: next } = chainEvents(
      { seq: Number(head.last_seq), hash: head.last_hash },
      items.map((i) => ({
        caseId,
        notificationId: i.notificationId,
        type: i.type,
        occurredAt: (i.occurredAt ?? now).toISOString(),
        recordedAt,
        // Canonicalise once: what is stored is exactly what was hashed.
        payload: JSON.parse(canonicalJson(i.payload)) as JsonValue,
      })),
    );
    const values: unknown[] = [];
    for (const e of events) {
      values.push(
        e.caseId,
        e.seq,
        e.notificationId,
        e.type,
        e.occurredAt,
        e.recordedAt,
        canonicalJson(e.payload),
        e.prevHash,
        e.hash,
      );
    }
    await tx.exec(
      `INSERT INTO evidence_events (case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash) VALUES ${events
        .map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .join(', ')}`,
      values,
    );
    await tx.exec('UPDATE case_heads SET last_seq = ?, last_hash = ?, updated_at = ? WHERE case_id = ?', [
      next.seq,
      next.hash,
      now.getTime(),
      caseId,
    ]);
    return events;
  }

  async caseEvents(caseId: string): Promise<ChainedEvent[]> {
    const rows = await this.db.rows<EventRow>(
      'SELECT case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_events WHERE case_id = ? ORDER BY seq',
      [caseId],
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
