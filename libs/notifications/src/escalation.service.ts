import { Inject, Injectable, Logger } from '@nestjs/common';
import { channelDefinition } from '#libs/channels';
import { APP_CONFIG, type AppConfig, type StagePolicyChannel } from '#libs/config';
import type { CreateNotificationInput } from '#libs/contracts';
import { AppError, type Channel, CLOCK, type Clock, type Locale } from '#libs/core';
import { EvidenceService, type JsonValue } from '#libs/evidence';
import { Db } from '#libs/persistence';
import { CallbacksService } from './callbacks/callbacks.service.js';
import { ComplianceService } from './compliance.service.js';
import { NotificationRepository, type NotificationRow } from './notification.repository.js';
import { NotificationsService, SYSTEM_SCOPE } from './notifications.service.js';
import { TemplateRegistry } from './template-registry.js';

/** Escalation never goes deeper than the longest channel order (plus a margin). */
const MAX_STEPS = 6;

export type EscalationOutcome =
  | { action: 'started'; childId: string; channel: Channel; templateKey: string; status: string }
  | { action: 'stopped'; reason: string }
  | { action: 'none'; reason: string };

/**
 * When a notice ends `undelivered` or `failed` (bounced, returned), the next channel of its
 * stage's order is tried (SMS -> email -> letter, as the policy says), through the compliance
 * gate like any notice. It stops when a notice of the chain is delivered, the case is on hold,
 * or no channel is left. The child's Idempotency-Key is derived from the parent, so a repeated
 * trigger never creates a second one. Every decision goes into the evidence.
 */
@Injectable()
export class EscalationService {
  private readonly log = new Logger(EscalationService.name);

  constructor(
    private readonly db: Db,
    private readonly repo: NotificationRepository,
    private readonly notifications: NotificationsService,
    private readonly templates: TemplateRegistry,
    private readonly compliance: ComplianceService,
    private readonly evidence: EvidenceService,
    private readonly callbacks: CallbacksService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Best effort after the failing transaction committed; errors are logged, never thrown. */
  async afterFailure(notificationId: string): Promise<EscalationOutcome | null> {
    try {
      return await this.onFailure(notificationId);
    } catch (err) {
      this.log.error(
        `escalation from ${notificationId} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return null;
    }
  }

  async onFailure(notificationId: string): Promise<EscalationOutcome> {
    const n = await this.repo.get(notificationId);
    if (!n || (n.status !== 'undelivered' && n.status !== 'failed'))
      return { action: 'none', reason: 'not failed' };
    const existing = await this.repo.childrenOf(n.id);
    if (existing.length > 0) return { action: 'none', reason: 'already escalated' };

    const stop = await this.stopReason(n);
    if (stop) return this.record(n, { action: 'stopped', reason: stop });

    const def = await this.templates.resolve(n.templateKey, n.locale as Locale, n.templateVersion);
    const stage = this.config.stagePolicy.stages.find((s) => s.stage === def.stage);
    if (!stage) return this.record(n, { action: 'none', reason: `no policy for stage ${def.stage}` });
    const order = stage.channels;
    const tried = await this.triedChannels(n);
    const problems: Record<string, JsonValue> = {};
    // Every channel of the stage's order not tried yet in this chain, in policy order.
    for (const next of order) {
      if (tried.has(next.channel)) continue;
      const templateKey = n.recipient.role === 'contact' ? next.contactTemplateKey : next.templateKey;
      if (!templateKey) {
        problems[next.channel] = 'no template for this recipient role';
        continue;
      }
      if (!this.hasAddress(n, next)) {
        problems[next.channel] = 'recipient has no address on this channel';
        continue;
      }
      const request: CreateNotificationInput = {
        caseId: n.caseId,
        channel: next.channel,
        templateKey,
        locale: n.locale as Locale,
        recipient: n.recipient,
        data: this.dataFor(templateKey, n),
      };
      try {
        const { notification } = await this.notifications.accept(
          request,
          { scope: SYSTEM_SCOPE, key: `esc-${n.id}` },
          {
            parentId: n.id,
            escalationStep: n.escalationStep + 1,
            caller: n.caller ?? null,
            callbackUrl: n.callbackUrl ?? null,
          },
        );
        return this.record(n, {
          action: 'started',
          childId: notification.id,
          channel: next.channel,
          templateKey,
          status: notification.status,
        });
      } catch (err) {
        problems[next.channel] = err instanceof AppError ? `${err.code}: ${err.message}` : String(err);
      }
    }
    return this.record(n, { action: 'none', reason: `no further channel: ${JSON.stringify(problems)}` });
  }

  /** The parent's data restricted to what the next template declares (stage templates share fields). */
  private dataFor(templateKey: string, n: NotificationRow): Record<string, unknown> {
    try {
      const def = this.templates.get(templateKey, n.locale as Locale);
      const props = (def.schema as { properties?: Record<string, unknown> }).properties;
      if (!props) return n.data;
      return Object.fromEntries(Object.entries(n.data).filter(([k]) => k in props));
    } catch {
      return n.data;
    }
  }

  private async stopReason(n: NotificationRow): Promise<string | null> {
    if (n.escalationStep >= MAX_STEPS) return 'escalation depth limit';
    const holds = await this.compliance.activeHolds(this.db, n.caseId, this.clock.now());
    if (holds.length > 0) return `case on hold (${holds.map((h) => h.kind).join(', ')})`;
    // A delivered notice anywhere in this chain means the debtor was reached.
    let cur: NotificationRow | null = n;
    while (cur?.parentId) {
      cur = await this.repo.get(cur.parentId);
      if (cur?.status === 'delivered') return `reached through ${cur.channel} (${cur.id})`;
    }
    return null;
  }

  private async triedChannels(n: NotificationRow): Promise<Set<string>> {
    const seen = new Set<string>([n.channel]);
    let cur: NotificationRow | null = n;
    while (cur?.parentId) {
      cur = await this.repo.get(cur.parentId);
      if (cur) seen.add(cur.channel);
    }
    return seen;
  }

  private hasAddress(n: NotificationRow, next: StagePolicyChannel): boolean {
    return channelDefinition(next.channel).reachable(n.recipient);
  }

  private async record(n: NotificationRow, outcome: EscalationOutcome): Promise<EscalationOutcome> {
    await this.db.transaction(async (tx) => {
      const type = outcome.action === 'started' ? 'escalation.started' : 'escalation.ended';
      const payload = {
        from: n.channel,
        failedWith: n.status,
        statusReason: n.statusReason,
        ...outcome,
      } as Record<string, JsonValue>;
      const [ev] = await this.evidence.append(tx, n.caseId, [{ notificationId: n.id, type, payload }]);
      await this.callbacks.record(tx, ev, type, n.status, payload);
    });
    return outcome;
  }
}
