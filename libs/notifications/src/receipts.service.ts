import { randomUUID } from 'node:crypto';
import { forwardRef, Inject, Injectable, Logger } from '@nestjs/common';
import type { Json, NormalisedReceipt } from '#libs/channels';
import { canAdvance, CLOCK, type Clock, statusForOutcome, storedAddressKey } from '#libs/core';
import { EvidenceService, type JsonValue, type NewEvidence } from '#libs/evidence';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Db, type SqlRunner } from '#libs/persistence';
import { EscalationService } from './escalation.service.js';
import { NotificationRepository, type NotificationRow } from './notification.repository.js';
import { dedupExpiresAt, dedupKeyOf } from './receipt-dedup.js';
import { NotificationStateMachine } from './state-machine.js';
import { OptOutRepository, ReceiptRepository } from './repositories.js';

/** The inbound path named in a receipt's verification (`via`), '' when absent. */
function viaOf(verification: Json): string {
  const via =
    verification && typeof verification === 'object' && !Array.isArray(verification)
      ? verification.via
      : undefined;
  return typeof via === 'string' ? via : '';
}

export interface IngestResult {
  receiptId: string;
  matched: boolean;
  notificationId: string | null;
  statusChanged: boolean;
  /** The notification's status after the receipt. */
  status?: string;
  /** The same inbound event was already stored (its dedup key): nothing was added. */
  replay?: boolean;
  /** Why the receipt was kept but not applied (wrong provider or channel). */
  refused?: string;
}

/**
 * Why a receipt that names notification `n` by our id may not be applied to it, or null. A
 * receipt is applied only by the provider (account included) the notification was given to;
 * while no provider is stored yet the receipt is parked and matched on its provider later.
 */
export function provenanceMismatch(n: NotificationRow, r: NormalisedReceipt): string | null {
  if (n.provider === null) return null;
  if (n.provider !== r.provider) {
    return `receipt from provider ${r.provider} names a ${n.channel} notification sent through ${n.provider}`;
  }
  if (r.providerMessageId && n.providerMessageId && r.providerMessageId !== n.providerMessageId) {
    return `receipt for provider message ${r.providerMessageId} names a notification sent as ${n.providerMessageId}`;
  }
  return null;
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
    private readonly states: NotificationStateMachine,
    private readonly receipts: ReceiptRepository,
    private readonly optOuts: OptOutRepository,
    @Inject(forwardRef(() => EscalationService)) private readonly escalation: EscalationService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Releases the dedup keys whose retention ended (only keys of timestamp-signed webhooks have an
   * end; see receipt-dedup.ts). The receipt itself is kept. Safe to run in several processes.
   */
  async pruneDedupKeys(): Promise<number> {
    return this.receipts.pruneDedupKeys(this.clock.now().getTime());
  }

  async ingest(receipt: NormalisedReceipt, verification: Json = { verified: true }): Promise<IngestResult> {
    const result = await this.ingestOne(receipt, verification);
    if (
      result.statusChanged &&
      (result.status === 'undelivered' || result.status === 'failed') &&
      result.notificationId
    ) {
      await this.escalation.afterFailure(result.notificationId);
    }
    return result;
  }

  private async ingestOne(receipt: NormalisedReceipt, verification: Json): Promise<IngestResult> {
    const receiptId = randomUUID();
    const now = this.clock.now().getTime();
    const via = viaOf(verification);
    const dedupKey = dedupKeyOf(receipt, via);
    const dedupExpires =
      dedupKey === null ? null : dedupExpiresAt(via, now, this.config.pipeline.receiptDedupRetentionMs);
    const body = JSON.stringify({ receipt, verification });
    return this.db.transaction(async (tx) => {
      const { row: n, refused } = await this.locate(tx, receipt);
      const ready = n !== null && refused === null && n.providerMessageId !== null;
      // The dedup key is claimed by this insert, inside the transaction that applies the
      // receipt: a replay inserts nothing, and a failed ingest leaves nothing claimed.
      const inserted = await this.receipts.claim(tx, {
        id: receiptId,
        provider: receipt.provider,
        providerMessageId: receipt.providerMessageId,
        notificationId: n?.id ?? receipt.notificationId ?? null,
        outcome: receipt.outcome,
        providerStatus: receipt.providerStatus,
        body,
        applied: ready,
        receivedAt: now,
        dedupKey,
        refusedReason: refused,
        dedupExpiresAt: dedupExpires,
      });
      if (!inserted) {
        this.log.debug(`replayed receipt ${dedupKey ?? ''} ignored`);
        return { receiptId, matched: false, notificationId: null, statusChanged: false, replay: true };
      }
      if (n && refused !== null) {
        await this.refuse(tx, n, receipt, receiptId, refused, new Date(now));
        return { receiptId, matched: false, notificationId: n.id, statusChanged: false, refused };
      }
      if (!n || !ready) {
        return { receiptId, matched: false, notificationId: n?.id ?? null, statusChanged: false };
      }
      const changed = await this.apply(tx, n, receipt, verification, receiptId, new Date(now));
      return { receiptId, matched: true, notificationId: n.id, statusChanged: changed, status: n.status };
    });
  }

  /**
   * Finds the notification a receipt is for. By the provider's own id the provider must match
   * (the lookup is by provider and id). By our id, only the provider that was given the
   * notification may name it: another provider (another channel, or the other account of the
   * same channel) gets the row back with a refusal reason.
   */
  private async locate(
    tx: SqlRunner,
    r: NormalisedReceipt,
  ): Promise<{ row: NotificationRow | null; refused: string | null }> {
    if (r.providerMessageId) {
      const byProvider = await this.repo.byProviderId(r.provider, r.providerMessageId, tx);
      if (byProvider) return { row: byProvider, refused: null };
    }
    if (r.notificationId && /^[0-9a-f-]{36}$/.test(r.notificationId)) {
      const byOurs = await this.repo.get(r.notificationId, tx, true);
      if (!byOurs) return { row: null, refused: null };
      return { row: byOurs, refused: provenanceMismatch(byOurs, r) };
    }
    return { row: null, refused: null };
  }

  /** Keeps a refused receipt in the case's evidence; changes no status. */
  private async refuse(
    tx: SqlRunner,
    n: NotificationRow,
    r: NormalisedReceipt,
    receiptId: string,
    reason: string,
    receivedAt: Date,
  ): Promise<void> {
    this.log.warn(`refused receipt ${receiptId} for ${n.id}: ${reason}`);
    await this.evidence.append(tx, n.caseId, [
      {
        notificationId: n.id,
        type: 'receipt.refused',
        occurredAt: receivedAt,
        payload: {
          receiptId,
          reason,
          provider: r.provider,
          providerMessageId: r.providerMessageId,
          outcome: r.outcome,
          providerStatus: r.providerStatus,
          expectedProvider: n.provider,
          expectedProviderMessageId: n.providerMessageId,
          channel: n.channel,
          raw: r.raw as JsonValue,
        },
      },
    ]);
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
          postEvent: r.postEvent ?? null,
          returnReason: r.returnReason ?? null,
          signer: r.signer ?? null,
          bounce: r.bounce ?? null,
          complaint: r.complaint ?? false,
          sandbox: r.sandbox,
          verification: verification as JsonValue,
          raw: r.raw as JsonValue,
        },
      },
    ];
    if (r.bounce === 'hard' || r.complaint) {
      // A hard bounce suppresses the address; a complaint is an opt-out (DESIGN.md section 2).
      const reason = r.complaint ? 'complaint' : 'hard_bounce';
      await this.optOuts.add(tx, {
        key: storedAddressKey(n.channel, n.recipientAddress),
        channel: n.channel,
        reason,
        source: `receipt:${receiptId}`,
        at: receivedAt.getTime(),
      });
      events.push({
        notificationId: n.id,
        type: 'recipient.suppressed',
        payload: { channel: n.channel, reason, receiptId },
      });
    }
    const target = statusForOutcome(r.outcome);
    if (!target || !canAdvance(n.status, target)) {
      // Late or duplicate news (a `sent` after `delivered`): evidence, no status change.
      await this.evidence.append(tx, n.caseId, events);
      return false;
    }
    const { moved } = await this.states.transition(tx, n, {
      to: target,
      cause: 'receipt',
      detail: { receiptId, sandbox: r.sandbox, ...(r.returnReason ? { returnReason: r.returnReason } : {}) },
      set: {
        statusReason: r.returnReason
          ? `returned: ${r.returnReason}`
          : r.bounce
            ? `${r.bounce} bounce${r.errorCode ? ` ${r.errorCode}` : ''}`
            : r.errorCode
              ? `provider error ${r.errorCode}`
              : null,
      },
      evidence: events,
      recordIfUnchanged: true,
    });
    if (moved) n.status = target;
    return moved;
  }

  /**
   * Applies receipts that were waiting for this notification's provider id. Runs inside the
   * transaction that stores the provider id, on the row it has locked.
   */
  async applyPending(tx: SqlRunner, n: NotificationRow): Promise<number> {
    if (!n.provider || !n.providerMessageId) return 0;
    const pending = await this.receipts.parked(tx, {
      id: n.id,
      provider: n.provider,
      providerMessageId: n.providerMessageId,
    });
    let applied = 0;
    for (const p of pending) {
      const { receipt, verification } = JSON.parse(p.body) as {
        receipt: NormalisedReceipt;
        verification: Json;
      };
      receipt.occurredAt = new Date(receipt.occurredAt);
      const receivedAt = new Date(Number(p.received_at));
      // A parked receipt carries its provider: it is applied only when that is the provider
      // (and provider id) the notification was sent with.
      const refused = provenanceMismatch(n, receipt);
      if (refused !== null) {
        await this.receipts.markRefused(tx, p.id, refused, n.id);
        await this.refuse(tx, n, receipt, p.id, refused, receivedAt);
        continue;
      }
      await this.apply(tx, n, receipt, verification, p.id, receivedAt);
      await this.receipts.markApplied(tx, p.id, n.id);
      applied += 1;
    }
    if (applied > 0) this.log.debug(`applied ${applied} early receipt(s) to ${n.id}`);
    return applied;
  }

  /**
   * Records an opt-out that came from a notification (one-click unsubscribe): the address is
   * suppressed on the channel and the case's evidence says when and through which notice.
   */
  async recordOptOut(
    address: string,
    channel: 'email' | 'sms',
    notificationId: string,
    via: string,
  ): Promise<void> {
    const now = this.clock.now();
    await this.db.transaction(async (tx) => {
      await this.optOuts.add(tx, {
        key: storedAddressKey(channel, address),
        channel,
        reason: 'opt_out',
        source: `${via}:${notificationId}`,
        at: now.getTime(),
      });
      const n = await this.repo.get(notificationId, tx);
      if (n) {
        await this.evidence.append(tx, n.caseId, [
          {
            notificationId: n.id,
            type: 'recipient.opted_out',
            payload: { channel, via, address: n.recipientAddress },
          },
        ]);
      }
    });
  }

  /** Provider and id carried by a receipt that arrived for a row still `sending` (crash recovery). */
  async pendingProviderId(notificationId: string): Promise<{ provider: string; id: string } | null> {
    return this.receipts.firstProviderId(notificationId);
  }
}
