import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { HOLD_KINDS, type HoldKind } from '#libs/compliance';
import { CLOCK, type Clock, NotFoundError, ValidationError } from '#libs/core';
import type { NewEvidence } from '#libs/evidence';
import { Db } from '#libs/persistence';
import { JobQueue } from '#libs/queue';
import { NotificationRepository } from './notification.repository.js';
import { HoldRepository, type HoldRow } from './repositories.js';
import { NotificationStateMachine } from './state-machine.js';

export interface HoldRequest {
  kind: HoldKind;
  /** End of the hold (e.g. the last instalment of a repayment plan); absent = until released. */
  until?: Date;
  reason?: string;
}

export interface HoldView {
  id: string;
  caseId: string;
  kind: HoldKind;
  until: string | null;
  reason: string | null;
  createdBy: string;
  createdAt: string;
  releasedAt: string | null;
}

export interface HoldResult {
  hold: HoldView;
  /** Notifications cancelled by placing the hold, or resumed by releasing it. */
  notifications: string[];
}

function view(r: HoldRow): HoldView {
  const iso = (v: string | number | null) => (v === null ? null : new Date(Number(v)).toISOString());
  return {
    id: r.id,
    caseId: r.case_id,
    kind: r.kind as HoldKind,
    until: iso(r.until_at),
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: iso(r.created_at) as string,
    releasedAt: iso(r.released_at),
  };
}

export function parseHoldKind(raw: unknown, path = 'kind'): HoldKind {
  if (typeof raw !== 'string' || !(HOLD_KINDS as readonly string[]).includes(raw)) {
    throw new ValidationError(`kind must be one of ${HOLD_KINDS.join(', ')}`, [
      { path, message: `one of ${HOLD_KINDS.join(', ')}` },
    ]);
  }
  return raw as HoldKind;
}

/**
 * Case holds (paid, repayment plan, dispute, complaint, deceased, bankruptcy, legal hold).
 * Placing one cancels the case's pending notifications (they remember the hold); new ones are
 * refused with 409 by the gate. Releasing the last active hold resumes the notifications it
 * cancelled: they go back to `scheduled` and through the gate again at send time.
 */
@Injectable()
export class HoldsService {
  constructor(
    private readonly db: Db,
    private readonly repo: NotificationRepository,
    private readonly holds: HoldRepository,
    private readonly states: NotificationStateMachine,
    private readonly queue: JobQueue,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async place(caseId: string, req: HoldRequest, actor: string): Promise<HoldResult> {
    const now = this.clock.now();
    // A hold that ends in the past would silently not hold the case.
    if (req.until && req.until.getTime() <= now.getTime()) {
      throw new ValidationError('until must be in the future', [
        { path: 'until', message: `must be after ${now.toISOString()}` },
      ]);
    }
    const result = await this.db.transaction(async (tx) => {
      const [existing] = await this.holds.active(tx, caseId, req.kind);
      let hold: HoldRow;
      if (existing) {
        await this.holds.extend(tx, existing.id, req.until?.getTime() ?? null, req.reason ?? existing.reason);
        hold = { ...existing, until_at: req.until?.getTime() ?? null, reason: req.reason ?? existing.reason };
      } else {
        hold = {
          id: randomUUID(),
          case_id: caseId,
          kind: req.kind,
          until_at: req.until?.getTime() ?? null,
          reason: req.reason ?? null,
          created_by: actor,
          created_at: now.getTime(),
          released_at: null,
        };
        await this.holds.insert(tx, hold);
      }
      const pending = await this.repo.ofCaseInStatus(tx, caseId, ['accepted', 'scheduled']);
      const ids = await this.states.transitionCase(
        tx,
        caseId,
        pending.map((n) => ({
          n,
          t: {
            to: 'cancelled' as const,
            cause: 'hold' as const,
            detail: { ruleId: `hold.${req.kind}`, holdId: hold.id },
            set: { statusReason: `hold.${req.kind}: case on hold`, holdId: hold.id },
          },
        })),
        [
          {
            notificationId: null,
            type: 'case.hold.placed',
            payload: {
              holdId: hold.id,
              kind: req.kind,
              until: req.until?.toISOString() ?? null,
              reason: req.reason ?? null,
              actor,
            },
          },
        ],
      );
      return { hold: view(hold), notifications: ids };
    });
    return result;
  }

  /** Releases the case's active holds of `kind` (all kinds when absent). */
  async release(caseId: string, kind: HoldKind | undefined, actor: string): Promise<HoldResult[]> {
    const now = this.clock.now();
    const { results, resumed } = await this.db.transaction(async (tx) => {
      const active = await this.holds.active(tx, caseId);
      const targets = active.filter((h) => !kind || h.kind === kind);
      if (targets.length === 0) {
        throw new NotFoundError(`Case ${caseId} has no active ${kind ?? ''} hold`.replace('  ', ' '));
      }
      const remaining = active.filter((h) => !targets.includes(h));
      const events: NewEvidence[] = [];
      const moves: Parameters<NotificationStateMachine['transitionCase']>[2] = [];
      const byHold = new Map<string, string[]>();
      for (const h of targets) {
        await this.holds.release(tx, h.id, now.getTime(), actor);
        events.push({
          notificationId: null,
          type: 'case.hold.released',
          payload: { holdId: h.id, kind: h.kind, actor },
        });
        const held = await this.repo.heldBy(tx, h.id);
        const ids: string[] = [];
        for (const n of held) {
          if (remaining.length > 0) {
            // Another hold still stops collection: the notice now waits for that one.
            await this.repo.reassignHold(tx, n.id, remaining[0].id);
            continue;
          }
          ids.push(n.id);
          moves.push({
            n: { id: n.id, caseId, status: 'cancelled' },
            t: {
              to: 'scheduled',
              cause: 'hold.released',
              detail: { holdId: h.id },
              set: { statusReason: null, holdId: null, notBefore: null },
            },
          });
        }
        byHold.set(h.id, ids);
      }
      const moved = new Set(await this.states.transitionCase(tx, caseId, moves, events));
      const out: HoldResult[] = targets.map((h) => ({
        hold: view({ ...h, released_at: now.getTime() }),
        notifications: (byHold.get(h.id) ?? []).filter((id) => moved.has(id)),
      }));
      const resumedIds = out.flatMap((r) => r.notifications);
      return { results: out, resumed: resumedIds };
    });
    await this.queue.enqueueMany(
      'dispatch',
      resumed.map((id) => ({ id, opts: { dedupeKey: `${id}_h${now.getTime()}` } })),
    );
    return results;
  }

  /** One keyset page of the case's holds in (created_at, id) order: up to `take` after `after`. */
  async listPage(caseId: string, after: readonly [number, string] | null, take: number): Promise<HoldView[]> {
    return (await this.holds.page(caseId, after, take)).map(view);
  }

  async list(caseId: string): Promise<HoldView[]> {
    return (await this.holds.page(caseId, null, 100_000)).map(view);
  }
}
