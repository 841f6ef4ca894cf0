import { Inject, Injectable } from '@nestjs/common';
import { canAdvance, CLOCK, type Clock, type NotificationStatus } from '#libs/core';
import { type ChainedEvent, EvidenceService, type JsonValue, type NewEvidence } from '#libs/evidence';
import type { SqlRunner } from '#libs/persistence';
import { CallbacksService } from './callbacks/callbacks.service.js';
import {
  NotificationRepository,
  type NotificationRow,
  type StatusColumns,
} from './notification.repository.js';

/** Why a status changed; recorded as `cause` in the `status.changed` event. */
export type TransitionCause =
  /** The notice was accepted (from no status). */
  | 'accept'
  /** The compliance gate deferred or suppressed the send. */
  | 'gate'
  /** The gate allowed the send and a worker took the notice for its provider call. */
  | 'claim'
  /** The provider accepted the message. */
  | 'provider'
  /** A provider call or render failed: retried later, or failed for good. */
  | 'provider.error'
  /** An interrupted send was not found at the provider: it is sent again. */
  | 'reconcile'
  /** A provider delivery receipt (webhook or poll). */
  | 'receipt'
  /** A caller cancelled the notice. */
  | 'cancel'
  /** A case hold stopped the notice before it was sent. */
  | 'hold'
  /** The hold that stopped it ended: the notice waits for its send again. */
  | 'hold.released';

/**
 * The only edges that do not move a status forward (`canAdvance`), each tied to the causes that
 * may take it. Nothing reached the recipient on any of them: a deferral repeated, a send retried
 * or reconciled after the provider call failed or was lost, a notice stopped by a hold resumed.
 */
const REQUEUE_EDGES: readonly {
  from: NotificationStatus;
  to: NotificationStatus;
  causes: TransitionCause[];
}[] = [
  { from: 'scheduled', to: 'scheduled', causes: ['gate'] },
  { from: 'sending', to: 'scheduled', causes: ['provider.error', 'reconcile'] },
  { from: 'cancelled', to: 'scheduled', causes: ['hold.released'] },
];

/** Whether `cause` may move a notification from `from` to `to` (null `from`: a new notice). */
export function isAllowedTransition(
  from: NotificationStatus | null,
  to: NotificationStatus,
  cause: TransitionCause,
): boolean {
  if (from === null) return cause === 'accept' && ['accepted', 'scheduled', 'suppressed'].includes(to);
  if (cause === 'accept') return false;
  if (canAdvance(from, to)) return true;
  return REQUEUE_EDGES.some((e) => e.from === from && e.to === to && e.causes.includes(cause));
}

/** An illegal transition is a bug in the caller, never a state the data can reach. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly from: NotificationStatus | null,
    readonly to: NotificationStatus,
    readonly transitionCause: TransitionCause,
  ) {
    super(`illegal notification transition ${from ?? '(new)'} -> ${to} (cause ${transitionCause})`);
    this.name = 'IllegalTransitionError';
  }
}

export interface Transition {
  to: NotificationStatus;
  cause: TransitionCause;
  /** Extra facts of the change, recorded in the `status.changed` payload (ruleId, receiptId, …). */
  detail?: Record<string, JsonValue>;
  /** Columns written with the status (reason, provider id, schedule, attempts, hold). */
  set?: StatusColumns;
  /** Evidence of the same step, appended just before `status.changed`, in the same batch. */
  evidence?: NewEvidence[];
  /**
   * Append `evidence` even when the row had moved on already (another process won): facts such as
   * a receipt or a provider's answer are evidence whether or not they change the status.
   */
  recordIfUnchanged?: boolean;
}

/** A notification as the transition needs it: what it is and the status the caller last read. */
export type TransitionSubject = Pick<NotificationRow, 'id' | 'caseId' | 'status'>;

export interface TransitionResult {
  moved: boolean;
  /** The evidence events written (the step's evidence and, when moved, `status.changed`). */
  events: ChainedEvent[];
}

/**
 * The only place a notification's status changes, and with it the evidence of the change:
 * a compare-and-set UPDATE from the status the caller read (so concurrent workers, receipts and
 * sweepers cannot both win), then one evidence append for the case holding the step's own events
 * and a `status.changed {from, to, cause, …detail}`, and the caller's status callbacks queued in
 * the outbox (libs/notifications/src/callbacks). Runs inside the caller's transaction.
 */
@Injectable()
export class NotificationStateMachine {
  constructor(
    private readonly repo: NotificationRepository,
    private readonly evidence: EvidenceService,
    private readonly callbacks: CallbacksService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Stores a new notification and the evidence of its acceptance; returns the chained events. */
  async create(tx: SqlRunner, row: NotificationRow, evidence: NewEvidence[]): Promise<ChainedEvent[]> {
    if (!isAllowedTransition(null, row.status, 'accept')) {
      throw new IllegalTransitionError(null, row.status, 'accept');
    }
    await this.repo.insert(tx, row);
    const events = await this.evidence.append(tx, row.caseId, [
      ...evidence,
      {
        notificationId: row.id,
        type: 'status.changed',
        payload: { from: null, to: row.status, cause: 'accept' },
      },
    ]);
    await this.callbacks.recordStatus(tx, events[events.length - 1], row.statusReason);
    return events;
  }

  async transition(tx: SqlRunner, n: TransitionSubject, t: Transition): Promise<TransitionResult> {
    const [moved] = await this.moveAll(tx, [{ n, t }]);
    const items = moved ? [...(t.evidence ?? []), moved] : t.recordIfUnchanged ? (t.evidence ?? []) : [];
    const events = await this.evidence.append(tx, n.caseId, items);
    if (moved) await this.callbacks.recordStatus(tx, events[events.length - 1], t.set?.statusReason);
    return { moved: moved !== null, events };
  }

  /**
   * Several notifications of one case in one step (a hold placed or released): each moves on its
   * own compare-and-set, and the evidence is one append: `evidence` first, then one
   * `status.changed` per notification that moved. Returns the ids that moved.
   */
  async transitionCase(
    tx: SqlRunner,
    caseId: string,
    moves: { n: TransitionSubject; t: Omit<Transition, 'evidence' | 'recordIfUnchanged'> }[],
    evidence: NewEvidence[] = [],
  ): Promise<string[]> {
    for (const { n } of moves) {
      if (n.caseId !== caseId) throw new Error(`notification ${n.id} is not of case ${caseId}`);
    }
    const changed = await this.moveAll(tx, moves);
    const events = await this.evidence.append(tx, caseId, [
      ...evidence,
      ...changed.filter((e) => e !== null),
    ]);
    const reasons = new Map(moves.map(({ n, t }) => [n.id, t.set?.statusReason]));
    for (const ev of events.slice(evidence.length)) {
      await this.callbacks.recordStatus(tx, ev, reasons.get(ev.notificationId ?? ''));
    }
    return moves.filter((_, i) => changed[i] !== null).map(({ n }) => n.id);
  }

  /** The compare-and-set updates; for each move its `status.changed` event, or null when it lost. */
  private async moveAll(
    tx: SqlRunner,
    moves: { n: TransitionSubject; t: Omit<Transition, 'evidence' | 'recordIfUnchanged'> }[],
  ): Promise<(NewEvidence | null)[]> {
    const out: (NewEvidence | null)[] = [];
    const now = this.clock.now().getTime();
    for (const { n, t } of moves) {
      if (!isAllowedTransition(n.status, t.to, t.cause))
        throw new IllegalTransitionError(n.status, t.to, t.cause);
      const ok = await this.repo.transition(tx, n.id, [n.status], t.to, now, t.set);
      out.push(
        ok
          ? {
              notificationId: n.id,
              type: 'status.changed',
              payload: { from: n.status, to: t.to, cause: t.cause, ...(t.detail ?? {}) },
            }
          : null,
      );
    }
    return out;
  }
}
