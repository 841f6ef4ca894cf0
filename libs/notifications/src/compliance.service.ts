import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  type CaseHold,
  complianceProfile,
  type ComplianceProfile,
  evaluateGate,
  type GateDecision,
  type GateInput,
  type GatePhase,
  historySince,
  type HoldKind,
  type ProfileOverrides,
  type SendRecord,
} from '#libs/compliance';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { type Channel, type Stage, storedAddressKey } from '#libs/core';
import type { JsonValue, NewEvidence } from '#libs/evidence';
import type { SqlRunner } from '#libs/persistence';
import type { NotificationRow } from './notification.repository.js';
import { ContactLogRepository, HoldRepository, OptOutRepository } from './repositories.js';

/** Metrics hook (provided by the apps' observability module; absent in bare library use). */
export const GATE_METRICS = 'cns:metrics';
export interface GateMetrics {
  recordGateDecision(rule: string, decision: string): void;
}

/** What the gate needs to know about a notification. */
export interface GateSubject {
  id: string;
  caseId: string;
  channel: Channel;
  audience: 'debtor' | 'third_party';
  stage: Stage;
  recipientRole: NotificationRow['recipient']['role'];
  timeZone: string;
  address: string;
}

/**
 * Runs the pure compliance gate (libs/compliance) over the database state: contact log,
 * holds, opt-outs. At send time the caller holds the recipient lock, so the check and the
 * reservation in the contact log are atomic across workers.
 */
@Injectable()
export class ComplianceService {
  readonly profile: ComplianceProfile;

  constructor(
    private readonly contacts: ContactLogRepository,
    private readonly holds: HoldRepository,
    private readonly optOuts: OptOutRepository,
    @Inject(APP_CONFIG) config: AppConfig,
    @Optional() @Inject(GATE_METRICS) private readonly metrics?: GateMetrics,
  ) {
    this.profile = complianceProfile(
      config.compliance.profile,
      config.compliance.overrides as ProfileOverrides,
    );
  }

  /** Serialises send-time checks for one address across workers (row lock; SQLite is serial anyway). */
  lockRecipient(tx: SqlRunner, address: string, channel: Channel): Promise<void> {
    return this.contacts.lockRecipient(tx, `${channel}:${address}`);
  }

  async evaluate(runner: SqlRunner, given: GateSubject, phase: GatePhase, now: Date): Promise<GateDecision> {
    // Every table is keyed on the normalised address (libs/core/src/address-key.ts).
    const s: GateSubject = { ...given, address: storedAddressKey(given.channel, given.address) };
    const since = historySince(now, this.profile).getTime();
    const [log, holds, optOuts] = await Promise.all([
      this.contacts.history(runner, s.address, s.caseId, since),
      this.activeHolds(runner, s.caseId, now),
      this.optOuts.ofAddress(s.address, runner),
    ]);
    const history: SendRecord[] = log.map((r) => ({
      notificationId: r.notification_id,
      sentAt: new Date(Number(r.sent_at)),
      channel: r.channel as Channel,
      recipientAddress: r.address,
      caseId: r.case_id,
      stage: (r.stage ?? undefined) as Stage | undefined,
    }));
    const input: GateInput = {
      now,
      phase,
      notification: { id: s.id, caseId: s.caseId, channel: s.channel, audience: s.audience, stage: s.stage },
      recipient: { role: s.recipientRole, timeZone: s.timeZone, address: s.address },
      history,
      holds: holds.map((h) => ({ kind: h.kind, until: h.until, breached: h.breached })),
      optOuts: optOuts
        .filter((o) => o.reason !== 'contact_refused')
        .flatMap((o) =>
          o.channel === '*'
            ? [{ channel: s.channel, address: s.address }]
            : [{ channel: o.channel as Channel, address: s.address }],
        ),
      contact:
        s.recipientRole === 'contact'
          ? {
              refused: optOuts.some((o) => o.reason === 'contact_refused'),
              previousContacts: history.filter(
                (h) => h.caseId === s.caseId && h.recipientAddress === s.address,
              ).length,
              askedToBeContacted: false,
            }
          : undefined,
    };
    const decision = evaluateGate(input, this.profile);
    this.metrics?.recordGateDecision(
      decision.outcome === 'allow' ? 'allow' : decision.ruleId,
      decision.outcome,
    );
    return decision;
  }

  async activeHolds(runner: SqlRunner, caseId: string, now: Date): Promise<(CaseHold & { id: string })[]> {
    const rows = await this.holds.active(runner, caseId);
    return rows
      .map((r) => ({
        id: r.id,
        kind: r.kind as HoldKind,
        until: r.until_at === null ? undefined : new Date(Number(r.until_at)),
        breached: Number(r.breached) === 1,
      }))
      .filter(
        (h) =>
          !(h.until && h.until.getTime() <= now.getTime()) && !(h.kind === 'repayment_plan' && h.breached),
      );
  }

  /** Counts the send against the caps (idempotent per notification). */
  async reserve(tx: SqlRunner, s: GateSubject, now: Date): Promise<void> {
    await this.contacts.reserve(tx, {
      notificationId: s.id,
      address: s.address,
      channel: s.channel,
      caseId: s.caseId,
      stage: s.stage,
      at: now.getTime(),
    });
  }

  /** A send that never reached the recipient's provider is not a contact: release its reservation. */
  async release(tx: SqlRunner, notificationId: string): Promise<void> {
    await this.contacts.release(tx, notificationId);
  }

  static evidence(notificationId: string, phase: GatePhase, d: GateDecision): NewEvidence {
    return {
      notificationId,
      type: 'compliance.decision',
      payload: {
        phase,
        profile: d.profile,
        outcome: d.outcome,
        ruleId: d.outcome === 'allow' ? null : d.ruleId,
        ruleIds: d.outcome === 'suppress' ? [d.ruleId] : d.ruleIds,
        until: d.outcome === 'defer' ? d.until.toISOString() : null,
        reason: d.outcome === 'allow' ? null : d.reason,
        inputs: d.inputs as JsonValue,
      },
    };
  }

  static describe(d: GateDecision): string | null {
    if (d.outcome === 'allow') return null;
    if (d.outcome === 'defer') return `${d.ruleId}: deferred until ${d.until.toISOString()} (${d.reason})`;
    return `${d.ruleId}: ${d.reason}`;
  }
}
