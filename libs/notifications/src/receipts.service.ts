import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Json, NormalisedReceipt } from '#libs/channels';
import { canAdvance, CLOCK, type Clock, statusForOutcome } from '#libs/core';
import { EvidenceService, type JsonValue, type NewEvidence } from '#libs/evidence';
import { Db, type SqlRunner } from '#libs/persistence';
import { NotificationRepository, type NotificationRow } from './notification.repository.js';

export interface IngestResult {
  receiptId: string;
  matched: boolean;
  notificationId: string | null;
  statusChanged: boolean;
}

interface PendingRow {
  id: string;
  body: string;
  received_at: string | number;
}

/**
 * Receipt step: every receipt is kept; it is applied to its notification when the provider id
 * is known (a receipt that arrives before the dispatch step stored the provider id waits in
 * the `receipts` table and is applied by `applyPending`). Status only moves forward, so
 * duplicate and out-of-order receipts change nothing but the evidence.
 */
@Injectable()
export class ReceiptsService {
  private readonly log = new Logger(ReceiptsService.name);

  constructor(
    private readonly db: Db,
    private readonly repo: NotificationRepository,
    private readonly evidence: EvidenceService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async ingest(receipt: NormalisedReceipt, verification: Json = { verified: true }): Promise<IngestResult> {
    const receiptId = randomUUID();
    const now = this.clock.now().getTime();
    const body = JSON.stringify({ receipt, verification });
    return this.db.transaction(async (tx) => {
      const n = await this.locate(tx, receipt);
      const ready = n !== null && n.providerMessageId !== null;
      await tx.exec(
        'INSERT INTO receipts (id, provider, provider_message_id, notification_id, outcome, provider_status, body, applied, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          receiptId,
          receipt.provider,
          receipt.providerMessageId,
          n?.id ?? receipt.notificationId,
          receipt.outcome,
          receipt.providerStatus,
          body,
          ready ? 1 : 0,
          now,
        ],
      );
      if (!n || !ready) {
        return { receiptId, matched: false, notificationId: n?.id ?? null, statusChanged: false };
      }
      const changed = await this.apply(tx, n, receipt, verification, receiptId, new Date(now));
      return { receiptId, matched: true, notificationId: n.id, statusChanged: changed };
    });
  }

  private async locate(tx: SqlRunner, r: NormalisedReceipt): Promise<NotificationRow | null> {
    if (r.providerMessageId) {
      const byProvider = await this.repo.byProviderId(r.provider, r.providerMessageId, tx);
      if (byProvider) return byProvider;
    }
    if (r.notificationId && /^[0-9a-f-]{36}$/.test(r.notificationId)) {
      const byOurs = await this.repo.get(r.notificationId, tx, true);
      // Only trust our id when the provider id agrees (or is not stored yet).
      if (byOurs && (byOurs.providerMessageId === null || byOurs.providerMessageId === r.providerMessageId)) {
        return byOurs;
      }
    }
    return null;
  }

  /** Applies one receipt to a locked notification row inside `tx`; returns whether the status moved. */
  private async apply(
    tx: SqlRunner,
    n: NotificationRow,
    r: NormalisedReceipt,
    verification: Json,
    receiptId: string,
    receivedAt: Date,
  ): Promise<boolean> {
    const events: NewEvidence[] = [
      {
        notificationId: n.id,
        type: 'receipt.received',
        occurredAt: receivedAt,
        payload: {
          receiptId,
          provider: r.provider,
          providerMessageId: r.providerMessageId,
          outcome: r.outcome,
          providerStatus: r.providerStatus,
          errorCode: r.errorCode ?? null,
          sandbox: r.sandbox,
          verification: verification as JsonValue,
          raw: r.raw as JsonValue,
        },
      },
    ];
    const target = statusForOutcome(r.outcome);
    let changed = false;
    if (target && canAdvance(n.status, target)) {
      const now = this.clock.now().getTime();
      changed = await this.repo.transition(tx, n.id, [n.status], target, now, {
        statusReason: r.errorCode ? `provider error ${r.errorCode}` : null,
      });
      if (changed) {
        events.push({
          notificationId: n.id,
          type: 'status.changed',
          payload: { from: n.status, to: target, cause: 'receipt', receiptId, sandbox: r.sandbox },
        });
        n.status = target;
      }
    }
    await this.evidence.append(tx, n.caseId, events);
    return changed;
  }

  /**
   * Applies receipts that were waiting for this notification's provider id. Runs inside the
   * transaction that stores the provider id, on the row it has locked.
   */
  async applyPending(tx: SqlRunner, n: NotificationRow): Promise<number> {
    if (!n.provider || !n.providerMessageId) return 0;
    const pending = await tx.rows<PendingRow>(
      'SELECT id, body, received_at FROM receipts WHERE applied = 0 AND ((provider = ? AND provider_message_id = ?) OR notification_id = ?) ORDER BY received_at, id',
      [n.provider, n.providerMessageId, n.id],
    );
    let applied = 0;
    for (const p of pending) {
      const { receipt, verification } = JSON.parse(p.body) as {
        receipt: NormalisedReceipt;
        verification: Json;
      };
      if (receipt.providerMessageId && receipt.providerMessageId !== n.providerMessageId) continue;
      receipt.occurredAt = new Date(receipt.occurredAt);
      await this.apply(tx, n, receipt, verification, p.id, new Date(Number(p.received_at)));
      await tx.exec('UPDATE receipts SET applied = 1, notification_id = ? WHERE id = ?', [n.id, p.id]);
      applied += 1;
    }
    if (applied > 0) this.log.debug(`applied ${applied} early receipt(s) to ${n.id}`);
    return applied;
  }

  /** Provider id carried by a receipt that arrived for a row still `sending` (crash recovery). */
  async pendingProviderId(notificationId: string, provider: string): Promise<string | null> {
    const [row] = await this.db.rows<{ provider_message_id: string | null }>(
      'SELECT provider_message_id FROM receipts WHERE notification_id = ? AND provider = ? AND provider_message_id IS NOT NULL ORDER BY received_at LIMIT 1',
      [notificationId, provider],
    );
    return row?.provider_message_id ?? null;
  }
}
