import { Injectable } from '@nestjs/common';
import type { NotificationStatus, Recipient } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';

export interface NotificationRow {
  id: string;
  caseId: string;
  channel: string;
  templateKey: string;
  templateVersion: number;
  locale: string;
  audience: string;
  recipient: Recipient;
  recipientAddress: string;
  data: Record<string, unknown>;
  status: NotificationStatus;
  statusReason: string | null;
  provider: string | null;
  providerMessageId: string | null;
  idempotencyKey: string | null;
  /** The caller the key belongs to (NULL on rows accepted before keys were scoped). */
  idempotencyScope?: string | null;
  requestHash: string;
  notBefore: number | null;
  attempts: number;
  sendingAt: number | null;
  /** Escalation: the notification whose failure started this one, and how many steps deep. */
  parentId: string | null;
  escalationStep: number;
  /** Who accepted it (its caller's idempotency scope), for status callbacks; null for old rows. */
  caller?: string | null;
  /** The request's own callback URL, if any. */
  callbackUrl?: string | null;
  createdAt: number;
  updatedAt: number;
}

interface RawRow {
  id: string;
  case_id: string;
  channel: string;
  template_key: string;
  template_version: number;
  locale: string;
  audience: string;
  recipient: string;
  recipient_address: string;
  data: string;
  status: string;
  status_reason: string | null;
  provider: string | null;
  provider_message_id: string | null;
  idempotency_key: string | null;
  idempotency_scope: string | null;
  request_hash: string;
  not_before: string | number | null;
  attempts: number;
  sending_at: string | number | null;
  parent_id: string | null;
  escalation_step: number;
  caller: string | null;
  callback_url: string | null;
  created_at: string | number;
  updated_at: string | number;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

function fromRaw(r: RawRow): NotificationRow {
  return {
    id: r.id,
    caseId: r.case_id,
    channel: r.channel,
    templateKey: r.template_key,
    templateVersion: Number(r.template_version),
    locale: r.locale,
    audience: r.audience,
    recipient: JSON.parse(r.recipient) as Recipient,
    recipientAddress: r.recipient_address,
    data: JSON.parse(r.data) as Record<string, unknown>,
    status: r.status as NotificationStatus,
    statusReason: r.status_reason,
    provider: r.provider,
    providerMessageId: r.provider_message_id,
    idempotencyKey: r.idempotency_key,
    idempotencyScope: r.idempotency_scope,
    requestHash: r.request_hash,
    notBefore: num(r.not_before),
    attempts: Number(r.attempts),
    sendingAt: num(r.sending_at),
    parentId: r.parent_id,
    escalationStep: Number(r.escalation_step),
    caller: r.caller,
    callbackUrl: r.callback_url,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** Columns a status change may write along with the status. */
export interface StatusColumns {
  statusReason?: string | null;
  notBefore?: number | null;
  provider?: string;
  providerMessageId?: string;
  sendingAt?: number | null;
  incAttempts?: boolean;
  /** The hold that stopped the notice (null when it resumes). */
  holdId?: string | null;
}

const COLUMNS =
  'id, case_id, channel, template_key, template_version, locale, audience, recipient, recipient_address, data, status, status_reason, provider, provider_message_id, idempotency_key, idempotency_scope, request_hash, not_before, attempts, sending_at, parent_id, escalation_step, caller, callback_url, created_at, updated_at';

/** Hand-written SQL over the `notifications` table (hot path of the pipeline). */
@Injectable()
export class NotificationRepository {
  constructor(readonly db: Db) {}

  async insert(tx: SqlRunner, n: NotificationRow): Promise<void> {
    await tx.exec(
      `INSERT INTO notifications (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        n.id,
        n.caseId,
        n.channel,
        n.templateKey,
        n.templateVersion,
        n.locale,
        n.audience,
        JSON.stringify(n.recipient),
        n.recipientAddress,
        JSON.stringify(n.data),
        n.status,
        n.statusReason,
        n.provider,
        n.providerMessageId,
        n.idempotencyKey,
        n.idempotencyScope ?? null,
        n.requestHash,
        n.notBefore,
        n.attempts,
        n.sendingAt,
        n.parentId,
        n.escalationStep,
        n.caller ?? null,
        n.callbackUrl ?? null,
        n.createdAt,
        n.updatedAt,
      ],
    );
  }

  async get(id: string, runner: SqlRunner = this.db, forUpdate = false): Promise<NotificationRow | null> {
    const lock = forUpdate && this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const [r] = await runner.rows<RawRow>(`SELECT ${COLUMNS} FROM notifications WHERE id = ?${lock}`, [id]);
    return r ? fromRaw(r) : null;
  }

  /**
   * The notification a caller's key created. Keys are unique per `(idempotency_scope,
   * idempotency_key)`. A row from before keys were scoped (scope NULL) still answers a retry, but
   * only with the identical request (same `requestHash`): a different body from anyone is a new
   * notification, so an old key never leads to another caller's notice.
   *
   * SELECT … FROM notifications WHERE idempotency_key = ? AND (idempotency_scope = ?
   *   OR (idempotency_scope IS NULL AND request_hash = ?)) ORDER BY idempotency_scope IS NULL LIMIT 1
   */
  async byIdempotencyKey(scope: string, key: string, requestHash: string): Promise<NotificationRow | null> {
    const [r] = await this.db.rows<RawRow>(
      `SELECT ${COLUMNS} FROM notifications WHERE idempotency_key = ? AND (idempotency_scope = ? OR (idempotency_scope IS NULL AND request_hash = ?)) ORDER BY CASE WHEN idempotency_scope IS NULL THEN 1 ELSE 0 END LIMIT 1`,
      [key, scope, requestHash],
    );
    return r ? fromRaw(r) : null;
  }

  async byProviderId(
    provider: string,
    providerMessageId: string,
    runner: SqlRunner = this.db,
  ): Promise<NotificationRow | null> {
    const lock = runner !== this.db && this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const [r] = await runner.rows<RawRow>(
      `SELECT ${COLUMNS} FROM notifications WHERE provider = ? AND provider_message_id = ?${lock}`,
      [provider, providerMessageId],
    );
    return r ? fromRaw(r) : null;
  }

  async byCase(caseId: string, limit = 500): Promise<NotificationRow[]> {
    const rows = await this.db.rows<RawRow>(
      `SELECT ${COLUMNS} FROM notifications WHERE case_id = ? ORDER BY created_at, id LIMIT ?`,
      [caseId, limit],
    );
    return rows.map(fromRaw);
  }

  /** One keyset page of a case's notifications in (created_at, id) order: `take` rows after `after`. */
  async byCasePage(
    caseId: string,
    after: readonly [number, string] | null,
    take: number,
  ): Promise<NotificationRow[]> {
    const rows = await this.db.rows<RawRow>(
      after
        ? `SELECT ${COLUMNS} FROM notifications WHERE case_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`
        : `SELECT ${COLUMNS} FROM notifications WHERE case_id = ? ORDER BY created_at, id LIMIT ?`,
      after ? [caseId, after[0], after[1], take] : [caseId, take],
    );
    return rows.map(fromRaw);
  }

  /**
   * Atomically moves a row from one of `from` to `to`; false when another process got there first.
   * Only `NotificationStateMachine` calls this: it also writes the evidence of the change.
   */
  async transition(
    runner: SqlRunner,
    id: string,
    from: NotificationStatus[],
    to: NotificationStatus,
    now: number,
    set: StatusColumns = {},
  ): Promise<boolean> {
    const cols = ['status = ?', 'updated_at = ?'];
    const params: unknown[] = [to, now];
    const optional: [string, unknown][] = [
      ['status_reason', set.statusReason],
      ['not_before', set.notBefore],
      ['provider', set.provider],
      ['provider_message_id', set.providerMessageId],
      ['sending_at', set.sendingAt],
      ['hold_id', set.holdId],
    ];
    for (const [column, value] of optional) {
      if (value === undefined) continue;
      cols.push(`${column} = ?`);
      params.push(value);
    }
    if (set.incAttempts) cols.push('attempts = attempts + 1');
    params.push(id, ...from);
    const affected = await runner.exec(
      `UPDATE notifications SET ${cols.join(', ')} WHERE id = ? AND status IN (${from.map(() => '?').join(', ')})`,
      params,
    );
    return affected === 1;
  }

  /** A case's notifications in one of `statuses` (a hold stops those not yet sent). */
  async ofCaseInStatus(
    runner: SqlRunner,
    caseId: string,
    statuses: NotificationStatus[],
  ): Promise<{ id: string; caseId: string; status: NotificationStatus }[]> {
    const rows = await runner.rows<{ id: string; status: string }>(
      `SELECT id, status FROM notifications WHERE case_id = ? AND status IN (${statuses.map(() => '?').join(', ')}) ORDER BY created_at, id`,
      [caseId, ...statuses],
    );
    return rows.map((r) => ({ id: r.id, caseId, status: r.status as NotificationStatus }));
  }

  /** Notifications a hold cancelled and that still wait for it. */
  async heldBy(runner: SqlRunner, holdId: string): Promise<{ id: string }[]> {
    return runner.rows<{ id: string }>(
      "SELECT id FROM notifications WHERE hold_id = ? AND status = 'cancelled' ORDER BY created_at, id",
      [holdId],
    );
  }

  /** Hands a held notification over to another hold that still stops the case (no status change). */
  async reassignHold(runner: SqlRunner, id: string, holdId: string): Promise<void> {
    await runner.exec('UPDATE notifications SET hold_id = ? WHERE id = ?', [holdId, id]);
  }

  /** Rows the sweeper must look at. */
  async stuck(
    statuses: NotificationStatus[],
    updatedBefore: number,
    limit: number,
  ): Promise<NotificationRow[]> {
    const rows = await this.db.rows<RawRow>(
      `SELECT ${COLUMNS} FROM notifications WHERE status IN (${statuses.map(() => '?').join(', ')}) AND updated_at < ? ORDER BY updated_at LIMIT ?`,
      [...statuses, updatedBefore, limit],
    );
    return rows.map(fromRaw);
  }

  /** Claims a stuck `sending` row for reconciliation (one sweeper wins). */
  async claimReconcile(id: string, sendingAt: number | null, now: number): Promise<boolean> {
    const affected = await this.db.exec(
      `UPDATE notifications SET sending_at = ?, updated_at = ? WHERE id = ? AND status = 'sending' AND ${
        sendingAt === null ? 'sending_at IS NULL' : 'sending_at = ?'
      }`,
      sendingAt === null ? [now, now, id] : [now, now, id, sendingAt],
    );
    return affected === 1;
  }

  /** Children started by escalation from `parentId` (a failed notice escalates at most once). */
  childrenOf(parentId: string): Promise<{ id: string; status: string }[]> {
    return this.db.rows<{ id: string; status: string }>(
      'SELECT id, status FROM notifications WHERE parent_id = ?',
      [parentId],
    );
  }

  /**
   * Ids of notices that failed (undelivered or failed) with `updated_at` between `updatedAfter`
   * and `updatedBefore` (exclusive), oldest first, and that neither have an escalation child nor
   * an escalation decision in the evidence: their escalation never ran (the process died between
   * the failing commit and the trigger).
   */
  async failedWithoutEscalationDecision(
    updatedBefore: number,
    updatedAfter: number,
    limit: number,
  ): Promise<string[]> {
    const rows = await this.db.rows<{ id: string }>(
      `SELECT n.id FROM notifications n
       WHERE n.status IN ('undelivered', 'failed') AND n.updated_at < ? AND n.updated_at > ?
         AND NOT EXISTS (SELECT 1 FROM notifications c WHERE c.parent_id = n.id)
         AND NOT EXISTS (SELECT 1 FROM evidence_events e WHERE e.notification_id = n.id
                         AND e.type IN ('escalation.started', 'escalation.ended'))
       ORDER BY n.updated_at LIMIT ?`,
      [updatedBefore, updatedAfter, limit],
    );
    return rows.map((r) => r.id);
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.rows<{ status: string; n: string | number }>(
      'SELECT status, COUNT(*) AS n FROM notifications GROUP BY status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
