/**
 * The SQL of the pipeline's tables besides `notifications` (notification.repository.ts):
 * receipts, opt-outs, case holds, the contact log and stored artifacts. Services reach these
 * tables only through here; each method runs on the runner it is given (a transaction, or the
 * pool), so the caller decides what is atomic.
 */
import { Injectable } from '@nestjs/common';
import { type Channel, type Stage } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';

export interface ReceiptInsert {
  id: string;
  provider: string;
  providerMessageId: string | null;
  notificationId: string | null;
  outcome: string;
  providerStatus: string;
  /** `{ receipt, verification }` as JSON: what a parked receipt is applied from later. */
  body: string;
  applied: boolean;
  receivedAt: number;
  dedupKey: string | null;
  refusedReason: string | null;
  dedupExpiresAt: number | null;
}

export interface PendingReceiptRow {
  id: string;
  body: string;
  received_at: string | number;
}

@Injectable()
export class ReceiptRepository {
  constructor(private readonly db: Db) {}

  /**
   * Stores a receipt and claims its dedup key in one INSERT; false when the key is taken (a
   * replay): nothing is stored then.
   */
  async claim(tx: SqlRunner, r: ReceiptInsert): Promise<boolean> {
    const inserted = await tx.exec(
      'INSERT INTO receipts (id, provider, provider_message_id, notification_id, outcome, provider_status, body, applied, received_at, dedup_key, refused_reason, dedup_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING',
      [
        r.id,
        r.provider,
        r.providerMessageId,
        r.notificationId,
        r.outcome,
        r.providerStatus,
        r.body,
        r.applied ? 1 : 0,
        r.receivedAt,
        r.dedupKey,
        r.refusedReason,
        r.dedupExpiresAt,
      ],
    );
    return inserted === 1;
  }

  /** Releases the dedup keys whose retention ended before `now`; the receipts stay. */
  pruneDedupKeys(now: number): Promise<number> {
    return this.db.exec(
      'UPDATE receipts SET dedup_key = NULL, dedup_expires_at = NULL WHERE dedup_expires_at IS NOT NULL AND dedup_expires_at < ?',
      [now],
    );
  }

  /** Parked receipts of a notification (by its provider id, or by our id), in arrival order. */
  parked(
    tx: SqlRunner,
    n: { id: string; provider: string; providerMessageId: string },
  ): Promise<PendingReceiptRow[]> {
    return tx.rows<PendingReceiptRow>(
      'SELECT id, body, received_at FROM receipts WHERE applied = 0 AND refused_reason IS NULL AND ((provider = ? AND provider_message_id = ?) OR notification_id = ?) ORDER BY received_at, id',
      [n.provider, n.providerMessageId, n.id],
    );
  }

  async markRefused(tx: SqlRunner, id: string, reason: string, notificationId: string): Promise<void> {
    await tx.exec('UPDATE receipts SET refused_reason = ?, notification_id = ? WHERE id = ?', [
      reason,
      notificationId,
      id,
    ]);
  }

  async markApplied(tx: SqlRunner, id: string, notificationId: string): Promise<void> {
    await tx.exec('UPDATE receipts SET applied = 1, notification_id = ? WHERE id = ?', [notificationId, id]);
  }

  /** The first provider id a receipt reported for a notification (crash recovery). */
  async firstProviderId(notificationId: string): Promise<{ provider: string; id: string } | null> {
    const [row] = await this.db.rows<{ provider: string; provider_message_id: string }>(
      'SELECT provider, provider_message_id FROM receipts WHERE notification_id = ? AND provider_message_id IS NOT NULL AND refused_reason IS NULL ORDER BY received_at LIMIT 1',
      [notificationId],
    );
    return row ? { provider: row.provider, id: row.provider_message_id } : null;
  }
}

export interface OptOutRow {
  channel: string;
  reason: string;
  created_at: string | number;
}

@Injectable()
export class OptOutRepository {
  constructor(private readonly db: Db) {}

  /** Records an opt-out under its normalised address key; the first record of a pair wins. */
  async add(
    runner: SqlRunner,
    o: { key: string; channel: string; reason: string; source: string; at: number },
  ): Promise<void> {
    await runner.exec(
      'INSERT INTO opt_outs (address, channel, reason, source, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (address, channel) DO NOTHING',
      [o.key, o.channel, o.reason, o.source, o.at],
    );
  }

  /** Every opt-out of a normalised address key, oldest first. */
  ofAddress(key: string, runner: SqlRunner = this.db): Promise<OptOutRow[]> {
    return runner.rows<OptOutRow>(
      'SELECT channel, reason, created_at FROM opt_outs WHERE address = ? ORDER BY created_at',
      [key],
    );
  }
}

export interface HoldRow {
  id: string;
  case_id: string;
  kind: string;
  until_at: string | number | null;
  reason: string | null;
  breached?: number | string;
  created_by: string;
  created_at: string | number;
  released_at: string | number | null;
}

@Injectable()
export class HoldRepository {
  constructor(private readonly db: Db) {}

  /** The case's active holds (of `kind` when given). */
  active(runner: SqlRunner, caseId: string, kind?: string): Promise<HoldRow[]> {
    return kind
      ? runner.rows<HoldRow>(
          'SELECT * FROM case_holds WHERE case_id = ? AND kind = ? AND released_at IS NULL',
          [caseId, kind],
        )
      : runner.rows<HoldRow>('SELECT * FROM case_holds WHERE case_id = ? AND released_at IS NULL', [caseId]);
  }

  async insert(tx: SqlRunner, h: HoldRow): Promise<void> {
    await tx.exec(
      'INSERT INTO case_holds (id, case_id, kind, until_at, reason, breached, created_by, created_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
      [h.id, h.case_id, h.kind, h.until_at, h.reason, h.created_by, h.created_at],
    );
  }

  async extend(tx: SqlRunner, id: string, untilAt: number | null, reason: string | null): Promise<void> {
    await tx.exec('UPDATE case_holds SET until_at = ?, reason = ? WHERE id = ?', [untilAt, reason, id]);
  }

  async release(tx: SqlRunner, id: string, at: number, by: string): Promise<void> {
    await tx.exec('UPDATE case_holds SET released_at = ?, released_by = ? WHERE id = ?', [at, by, id]);
  }

  /** One keyset page of the case's holds in (created_at, id) order. */
  page(caseId: string, after: readonly [number, string] | null, take: number): Promise<HoldRow[]> {
    return this.db.rows<HoldRow>(
      after
        ? 'SELECT * FROM case_holds WHERE case_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?'
        : 'SELECT * FROM case_holds WHERE case_id = ? ORDER BY created_at, id LIMIT ?',
      after ? [caseId, after[0], after[1], take] : [caseId, take],
    );
  }
}

export interface ContactRow {
  notification_id: string;
  address: string;
  channel: string;
  case_id: string;
  stage: string | null;
  sent_at: string | number;
}

/** The contact log the frequency caps count, and the per-recipient send lock. */
@Injectable()
export class ContactLogRepository {
  /** Serialises send-time checks for one address across workers (row lock; SQLite is serial anyway). */
  async lockRecipient(tx: SqlRunner, key: string): Promise<void> {
    // One statement: inserts the lock row or, when it exists, takes its row lock (ON CONFLICT DO UPDATE).
    await tx.exec(
      'INSERT INTO recipient_locks (address) VALUES (?) ON CONFLICT (address) DO UPDATE SET address = excluded.address',
      [key],
    );
  }

  /** Contacts of an address or a case since `since` (epoch ms). */
  history(runner: SqlRunner, address: string, caseId: string, since: number): Promise<ContactRow[]> {
    return runner.rows<ContactRow>(
      'SELECT notification_id, address, channel, case_id, stage, sent_at FROM contact_log WHERE (address = ? OR case_id = ?) AND sent_at >= ?',
      [address, caseId, since],
    );
  }

  /** Counts a send (idempotent per notification). */
  async reserve(
    tx: SqlRunner,
    c: {
      notificationId: string;
      address: string;
      channel: Channel;
      caseId: string;
      stage: Stage;
      at: number;
    },
  ): Promise<void> {
    await tx.exec(
      'INSERT INTO contact_log (notification_id, address, channel, case_id, stage, sent_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING',
      [c.notificationId, c.address, c.channel, c.caseId, c.stage, c.at],
    );
  }

  async release(tx: SqlRunner, notificationId: string): Promise<void> {
    await tx.exec('DELETE FROM contact_log WHERE notification_id = ?', [notificationId]);
  }
}

/** Content-addressed artifacts (the exact bytes sent). */
@Injectable()
export class ArtifactRepository {
  async store(
    tx: SqlRunner,
    items: readonly { sha256: string; mediaType: string; content: Buffer }[],
    now: number,
  ): Promise<void> {
    for (const x of items) {
      await tx.exec(
        'INSERT INTO artifacts (sha256, media_type, size, content, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING',
        [x.sha256, x.mediaType, x.content.length, x.content, now],
      );
    }
  }
}
