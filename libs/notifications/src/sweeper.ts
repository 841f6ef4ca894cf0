import { Inject, Injectable, Logger } from '@nestjs/common';
import { ChannelRegistry } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { type Channel, CLOCK, type Clock } from '#libs/core';
import { Db } from '#libs/persistence';
import { JobQueue } from '#libs/queue';
import { DispatchProcessor } from './dispatch.processor.js';
import { EscalationService } from './escalation.service.js';
import { NotificationRepository, type NotificationRow } from './notification.repository.js';
import { ReceiptsService } from './receipts.service.js';
import { NotificationStateMachine } from './state-machine.js';

export interface SweepReport {
  requeued: number;
  reconciled: number;
  resent: number;
  polled: number;
  escalated: number;
}

/**
 * Redis (or this process's memory) is not the system of record. The sweeper walks the rows
 * in a non-final state and makes sure each one makes progress:
 * - accepted/scheduled without progress -> enqueue dispatch again (a duplicate job is harmless);
 * - sending for longer than the grace period (a worker died mid-call) -> ask the provider
 *   whether it has the message; adopt it if so, otherwise send again;
 * - sent without a final receipt for long -> poll the provider (lost callbacks).
 */
@Injectable()
export class Sweeper {
  private readonly log = new Logger(Sweeper.name);
  private running: Promise<SweepReport> | null = null;

  constructor(
    private readonly db: Db,
    private readonly repo: NotificationRepository,
    private readonly dispatch: DispatchProcessor,
    private readonly receipts: ReceiptsService,
    private readonly states: NotificationStateMachine,
    private readonly escalation: EscalationService,
    private readonly queue: JobQueue,
    private readonly channels: ChannelRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** One pass. `startup` (standalone) resumes everything at once: this process owned it all. */
  sweep(startup = false): Promise<SweepReport> {
    if (!this.running) {
      this.running = this.pass(startup).finally(() => (this.running = null));
    }
    return this.running;
  }

  private async pass(startup: boolean): Promise<SweepReport> {
    const report: SweepReport = {
      requeued: 0,
      reconciled: 0,
      resent: 0,
      polled: 0,
      escalated: 0,
    };
    const p = this.config.pipeline;
    const now = this.clock.now().getTime();
    const bucket = Math.floor(now / p.stuckAfterMs);

    const stale = await this.repo.stuck(
      ['accepted', 'scheduled'],
      startup ? now + 1 : now - p.stuckAfterMs,
      5_000,
    );
    const due = stale.filter((n) => n.notBefore === null || n.notBefore <= now + p.sweepIntervalMs);
    await this.queue.enqueueMany(
      'dispatch',
      due.map((n) => ({
        id: n.id,
        opts: {
          dedupeKey: `${n.id}_${n.attempts}_s${bucket}`,
          delayMs: n.notBefore !== null && n.notBefore > now ? n.notBefore - now : 0,
        },
      })),
    );
    report.requeued = due.length;

    const sending = await this.repo.stuck(['sending'], startup ? now + 1 : now - p.sendingGraceMs, 1_000);
    for (const n of sending) {
      try {
        const outcome = await this.reconcile(n);
        if (outcome === 'adopted') report.reconciled += 1;
        if (outcome === 'resend') report.resent += 1;
      } catch (err) {
        this.log.warn(`reconcile ${n.id} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    const quiet = await this.repo.stuck(['sent'], now - 2 * p.sendingGraceMs, 500);
    for (const n of quiet) {
      try {
        if (await this.poll(n)) report.polled += 1;
      } catch (err) {
        this.log.warn(`poll ${n.id} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Failures whose escalation never ran (the process died between the failing commit and the
    // trigger). The child's Idempotency-Key makes a repeat harmless.
    const orphans = await this.repo.failedWithoutEscalationDecision(
      now - p.stuckAfterMs,
      now - 7 * 86_400_000,
      100,
    );
    for (const id of orphans) {
      if (await this.escalation.afterFailure(id)) report.escalated += 1;
    }
    if (Object.values(report).some((v) => v > 0)) {
      this.log.log(`sweep: ${JSON.stringify(report)}`);
    }
    return report;
  }

  /** Decides a `sending` row left behind by a crash without ever sending it twice. */
  private async reconcile(n: NotificationRow): Promise<'adopted' | 'resend' | 'skipped'> {
    const now = this.clock.now().getTime();
    if (!(await this.repo.claimReconcile(n.id, n.sendingAt, now))) return 'skipped';
    const provider = this.channels.get(n.channel as Channel);
    const artifact = await this.dispatch.render(n);
    // 1. A callback may already have told us the provider id (it carries our id).
    const fromReceipt = await this.receipts.pendingProviderId(n.id);
    const found = fromReceipt
      ? {
          providerMessageId: fromReceipt.id,
          provider: fromReceipt.provider,
          acceptedAt: new Date(now),
          request: { reconciledBy: 'receipt' },
          raw: { sid: fromReceipt.id },
        }
      : await provider.findSent(artifact.outbound, new Date(n.sendingAt ?? n.updatedAt));
    if (found) {
      await this.dispatch.recordSent({ ...n, sendingAt: now }, artifact, found, 'reconcile');
      return 'adopted';
    }
    // 2. The provider never got it: hand it back to the queue.
    await this.db.transaction((tx) =>
      this.states.transition(
        tx,
        { ...n, status: 'sending' },
        {
          to: 'scheduled',
          cause: 'reconcile',
          detail: { reason: 'reconcile: provider has no such message' },
          set: {
            sendingAt: null,
            statusReason: 'not found at the provider after an interrupted send; sending again',
          },
        },
      ),
    );
    await this.queue.enqueue('dispatch', n.id, { dedupeKey: `${n.id}_${n.attempts}_r` });
    return 'resend';
  }

  private async poll(n: NotificationRow): Promise<boolean> {
    const provider =
      (n.provider ? this.channels.byName(n.provider) : undefined) ?? this.channels.get(n.channel as Channel);
    if (!n.providerMessageId || n.provider !== provider.name) return false;
    const outbound = (await this.dispatch.render(n)).outbound;
    const receipt = await provider.poll(n.providerMessageId, outbound);
    if (!receipt || receipt.outcome === 'queued' || receipt.outcome === 'sent') return false;
    const res = await this.receipts.ingest(
      { ...receipt, notificationId: n.id },
      { verified: true, via: 'poll' },
    );
    return res.statusChanged;
  }
}
