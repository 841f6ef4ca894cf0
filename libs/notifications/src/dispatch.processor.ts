import { Inject, Injectable, Logger } from '@nestjs/common';
import { ChannelRegistry, type OutboundMessage, type SendResult } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { AppError, type Channel, CLOCK, type Clock, type Locale, ProviderError } from '#libs/core';
import type { JsonValue } from '#libs/evidence';
import { Db } from '#libs/persistence';
import { JobQueue } from '#libs/queue';
import { ArtifactRenderer, type RenderedArtifact } from './artifact.renderer.js';
import { ComplianceService, type GateSubject } from './compliance.service.js';
import { EscalationService } from './escalation.service.js';
import { NotificationRepository, type NotificationRow } from './notification.repository.js';
import { ReceiptsService } from './receipts.service.js';
import { ArtifactRepository } from './repositories.js';
import { NotificationStateMachine } from './state-machine.js';
import { TemplateRegistry } from './template-registry.js';

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, baseMs = 1_000, capMs = 300_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * Dispatch step (worker): claim the row atomically (accepted|scheduled -> sending), render
 * the pinned template version, call the provider, then store the provider id, the artifact,
 * and the evidence in one transaction. The claim is what makes a duplicated job harmless.
 */
@Injectable()
export class DispatchProcessor {
  private readonly log = new Logger(DispatchProcessor.name);

  constructor(
    private readonly db: Db,
    private readonly repo: NotificationRepository,
    private readonly states: NotificationStateMachine,
    private readonly receipts: ReceiptsService,
    private readonly templates: TemplateRegistry,
    private readonly queue: JobQueue,
    private readonly compliance: ComplianceService,
    private readonly escalation: EscalationService,
    private readonly channels: ChannelRegistry,
    private readonly artifacts: ArtifactRenderer,
    private readonly artifactStore: ArtifactRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async handle(id: string): Promise<void> {
    const n = await this.repo.get(id);
    if (!n || (n.status !== 'accepted' && n.status !== 'scheduled')) return;
    const now = this.clock.now().getTime();
    if (n.notBefore !== null && n.notBefore > now) {
      await this.queue.enqueue('dispatch', id, {
        delayMs: n.notBefore - now,
        dedupeKey: `${id}_${n.attempts}_d`,
      });
      return;
    }
    if ((await this.claimThroughGate(n, new Date(now))) !== 'claimed') return;
    n.attempts += 1;
    n.sendingAt = now;

    let artifact: RenderedArtifact;
    try {
      artifact = await this.render(n);
    } catch (err) {
      // The pinned version rendered at accept; failing now is a defect, not a provider problem.
      await this.fail(n, 'render', err, false);
      return;
    }

    let result: SendResult;
    try {
      result = await this.channels.get(n.channel as Channel).send(DispatchProcessor.outbound(artifact));
    } catch (err) {
      const retryable = err instanceof ProviderError ? err.retryable : false;
      const ambiguous = err instanceof ProviderError && err.extra.httpStatus === null;
      if (ambiguous) {
        // Timeout or connection loss: the provider may have the message. Leave it `sending`;
        // the sweeper reconciles it with the provider before any resend.
        this.log.warn(`provider outcome unknown for ${id}; left for reconciliation`);
        return;
      }
      await this.fail(n, 'provider', err, retryable);
      return;
    }
    await this.recordSent(n, artifact, result, 'send');
  }

  private async subject(n: NotificationRow): Promise<GateSubject> {
    const def = await this.templates.resolve(n.templateKey, n.locale as Locale, n.templateVersion);
    return {
      id: n.id,
      caseId: n.caseId,
      channel: n.channel as Channel,
      audience: def.audience,
      stage: def.stage,
      recipientRole: n.recipient.role,
      timeZone: n.recipient.timeZone,
      address: n.recipientAddress,
    };
  }

  /**
   * The authoritative compliance check and the claim, in one transaction under the recipient
   * lock: caps cannot be overrun by concurrent workers (the reservation commits with the claim).
   */
  private async claimThroughGate(
    n: NotificationRow,
    now: Date,
  ): Promise<'claimed' | 'deferred' | 'suppressed' | 'gone'> {
    const subject = await this.subject(n);
    const t = now.getTime();
    let retryAt: number | null = null;
    const outcome = await this.db.transaction(async (tx) => {
      await this.compliance.lockRecipient(tx, n.recipientAddress, subject.channel);
      const fresh = await this.repo.get(n.id, tx, true);
      if (!fresh || (fresh.status !== 'accepted' && fresh.status !== 'scheduled')) return 'gone' as const;
      const d = await this.compliance.evaluate(tx, subject, 'send', now);
      const decision = ComplianceService.evidence(n.id, 'send', d);
      if (d.outcome === 'allow') {
        const { moved } = await this.states.transition(tx, fresh, {
          to: 'sending',
          cause: 'claim',
          set: { sendingAt: t, incAttempts: true, statusReason: null },
          evidence: [decision],
        });
        if (!moved) return 'gone' as const;
        await this.compliance.reserve(tx, subject, now);
        return 'claimed' as const;
      }
      const to = d.outcome === 'defer' ? 'scheduled' : 'suppressed';
      retryAt = d.outcome === 'defer' ? d.until.getTime() : null;
      const { moved } = await this.states.transition(tx, fresh, {
        to,
        cause: 'gate',
        detail: { ruleId: d.ruleId },
        set: { statusReason: ComplianceService.describe(d), notBefore: retryAt },
        evidence: [decision],
      });
      if (!moved) return 'gone' as const;
      return d.outcome === 'defer' ? ('deferred' as const) : ('suppressed' as const);
    });
    if (outcome === 'deferred' && retryAt !== null) {
      await this.queue.enqueue('dispatch', n.id, {
        delayMs: Math.max(0, retryAt - t),
        dedupeKey: `${n.id}_${n.attempts}_g${retryAt}`,
      });
    }
    return outcome;
  }

  /**
   * What the provider gets: for an email, the stored artifact's bytes themselves (`email.raw`),
   * so the .eml whose SHA-256 the evidence records is the message handed to SMTP.
   */
  static outbound(a: RenderedArtifact): OutboundMessage {
    const o = a.outbound;
    return o.email ? { ...o, email: { ...o.email, raw: a.content } } : o;
  }

  /** The exact bytes this notification sends (its pinned template version). */
  render(n: NotificationRow): Promise<RenderedArtifact> {
    return this.artifacts.render(n);
  }

  /** Stores the provider's acceptance, the artifact and the evidence; applies early receipts. */
  async recordSent(
    n: NotificationRow,
    a: RenderedArtifact,
    r: SendResult,
    via: 'send' | 'reconcile',
  ): Promise<void> {
    const now = this.clock.now().getTime();
    // With failover the provider that took the message is in the result (receipts match on it).
    const provider = r.provider ?? this.channels.get(n.channel as Channel).name;
    await this.db.transaction(async (tx) => {
      await this.artifactStore.store(tx, [a, ...a.extra], now);
      const { moved } = await this.states.transition(
        tx,
        { ...n, status: 'sending' },
        {
          to: 'sent',
          cause: 'provider',
          set: { provider, providerMessageId: r.providerMessageId, statusReason: null },
          evidence: [
            {
              notificationId: n.id,
              type: 'message.rendered',
              payload: { sha256: a.sha256, mediaType: a.mediaType, size: a.content.length, ...a.meta },
            },
            {
              notificationId: n.id,
              type: 'provider.request',
              payload: { provider: provider, attempt: n.attempts, via, request: r.request as JsonValue },
            },
            {
              notificationId: n.id,
              type: 'provider.response',
              occurredAt: r.acceptedAt,
              payload: {
                provider: provider,
                providerMessageId: r.providerMessageId,
                raw: r.raw as JsonValue,
              },
            },
          ],
          // The provider has the message whatever the row says now: its answer is evidence.
          recordIfUnchanged: true,
        },
      );
      if (!moved) {
        this.log.warn(
          `notification ${n.id} left 'sending' while the provider call ran; provider id ${r.providerMessageId} recorded as evidence only`,
        );
        return;
      }
      await this.receipts.applyPending(tx, {
        ...n,
        status: 'sent',
        provider: provider,
        providerMessageId: r.providerMessageId,
      });
    });
  }

  private async fail(n: NotificationRow, stage: 'render' | 'provider', err: unknown, retryable: boolean) {
    const now = this.clock.now().getTime();
    const message = err instanceof Error ? err.message : String(err);
    const canRetry = retryable && n.attempts < this.config.pipeline.maxAttempts;
    const next = canRetry ? now + backoffMs(n.attempts) : null;
    await this.db.transaction(async (tx) => {
      const to = canRetry ? 'scheduled' : 'failed';
      const { moved } = await this.states.transition(
        tx,
        { ...n, status: 'sending' },
        {
          to,
          cause: 'provider.error',
          detail: { retryAt: next === null ? null : new Date(next).toISOString() },
          set: { statusReason: `${stage}: ${message}`.slice(0, 500), notBefore: next, sendingAt: null },
          evidence: [
            {
              notificationId: n.id,
              type: 'provider.error',
              payload: {
                stage,
                attempt: n.attempts,
                retryable,
                message,
                detail: (err instanceof AppError ? err.extra : {}) as JsonValue,
              },
            },
          ],
        },
      );
      if (!moved) return;
      // Nothing reached the recipient: this attempt does not count against the caps.
      await this.compliance.release(tx, n.id);
    });
    if (next !== null) {
      await this.queue.enqueue('dispatch', n.id, { delayMs: next - now, dedupeKey: `${n.id}_${n.attempts}` });
    } else {
      await this.escalation.afterFailure(n.id);
    }
  }
}
