import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { channelDefinition } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import {
  type CreateNotificationInput,
  type CreateNotificationRequest,
  isAutomaticRequest,
  type NotificationView,
  type PageRequest,
} from '#libs/contracts';
import {
  CaseOnHoldError,
  CLOCK,
  type Clock,
  ComplianceRefusedError,
  ConflictError,
  IdempotencyConflictError,
  isFinal,
  type Locale,
  NotFoundError,
  ValidationError,
} from '#libs/core';
import { canonicalJson, type ChainedEvent, EvidenceService, type JsonValue } from '#libs/evidence';
import { Db } from '#libs/persistence';
import { JobQueue } from '#libs/queue';
import { ArtifactRenderer } from './artifact.renderer.js';
import { NotificationRepository, type NotificationRow } from './notification.repository.js';
import { NotificationStateMachine } from './state-machine.js';
import { CallbacksService } from './callbacks/callbacks.service.js';
import { ComplianceService } from './compliance.service.js';
import { decideStage, type StageDecision } from './stage-policy.js';
import { TemplateRegistry } from './template-registry.js';

/**
 * An Idempotency-Key and the caller it belongs to: keys are unique per scope, so two callers
 * using the same key get two notifications and never see each other's (docs/api.md).
 */
/** An escalation child's link to the notice it follows; it inherits its caller and callback URL. */
export interface EscalationLinks {
  parentId: string;
  escalationStep: number;
  caller?: string | null;
  callbackUrl?: string | null;
}

export interface IdempotencyRef {
  /** Who the key belongs to: `tenant:<name>` or `key:<api key id>` (apps/api/src/http/actor.ts). */
  scope: string;
  key: string;
}

/** The scope of keys the service itself uses (escalation steps). */
export const SYSTEM_SCOPE = 'system';

/**
 * Automatic mode: the case's data is a superset, the chosen template's schema picks the fields it
 * declares (a schema without `properties` takes everything). Required fields are checked by the
 * trial render, which names each missing one.
 */
export function selectDeclaredData(schema: unknown, data: Record<string, unknown>): Record<string, unknown> {
  const props = (schema as { properties?: Record<string, unknown> } | null)?.properties;
  if (!props || typeof props !== 'object') return data;
  return Object.fromEntries(Object.entries(data).filter(([k]) => Object.hasOwn(props, k)));
}

export interface AcceptResult {
  notification: NotificationView;
  /** false when an earlier request with the same Idempotency-Key already created it. */
  created: boolean;
}

/** The channel address a notification goes to, normalised (the channel's definition decides). */
export function channelAddress(input: CreateNotificationInput): string {
  return channelDefinition(input.channel).address(input.recipient);
}

@Injectable()
export class NotificationsService {
  private readonly log = new Logger(NotificationsService.name);

  constructor(
    private readonly db: Db,
    private readonly repo: NotificationRepository,
    private readonly evidence: EvidenceService,
    private readonly templates: TemplateRegistry,
    private readonly queue: JobQueue,
    private readonly compliance: ComplianceService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly artifacts: ArtifactRenderer,
    private readonly states: NotificationStateMachine,
    private readonly callbacks: CallbacksService,
  ) {}

  /**
   * Automatic mode (`dpd` / `stage`): the stage policy picks channel and template; explicit
   * requests pass through. `data` is the case's data: only the fields the chosen template declares
   * are kept (and pinned in the evidence); a `dpd` it declares is filled in when `data` lacks it.
   */
  private async resolveTarget(
    request: CreateNotificationRequest,
  ): Promise<{ input: CreateNotificationInput; stage: StageDecision | null }> {
    if (!isAutomaticRequest(request)) return { input: request, stage: null };
    const { dpd, stage: givenStage, ...rest } = request;
    const stage = decideStage(this.config.stagePolicy, { dpd, stage: givenStage, recipient: rest.recipient });
    const input: CreateNotificationInput = {
      ...rest,
      channel: stage.chosen.channel,
      templateKey: stage.chosen.templateKey,
    };
    const def = await this.templates.resolve(input.templateKey, input.locale as Locale);
    const props = (def.schema as { properties?: Record<string, unknown> }).properties ?? {};
    input.data = selectDeclaredData(def.schema, input.data);
    if (dpd !== undefined && Object.hasOwn(props, 'dpd') && input.data.dpd === undefined) {
      input.data = { ...input.data, dpd };
    }
    return { input, stage };
  }

  /**
   * Accept step: validate, render once (a missing variable fails here, before anything is
   * stored), pin the template version, store the row and its evidence in one transaction,
   * then enqueue the dispatch job. A repeated Idempotency-Key of the same caller returns the
   * first result.
   */
  async accept(
    request: CreateNotificationRequest,
    idempotency: IdempotencyRef | null,
    links: EscalationLinks | null = null,
    caller: string | null = idempotency?.scope ?? null,
  ): Promise<AcceptResult> {
    const requestHash = createHash('sha256').update(canonicalJson(request)).digest('hex');
    const idempotencyKey = idempotency?.key ?? null;
    const idempotencyScope = idempotency ? idempotency.scope : null;
    if (idempotency) {
      const existing = await this.repo.byIdempotencyKey(idempotency.scope, idempotency.key, requestHash);
      if (existing) return this.replay(existing, requestHash);
    }

    const { input, stage } = await this.resolveTarget(request);
    const def = await this.templates.resolve(input.templateKey, input.locale as Locale);
    if (def.channel !== input.channel) {
      throw new ValidationError(`Template '${def.key}' is for channel ${def.channel}`, [
        { path: 'templateKey', message: `template is for channel ${def.channel}, not ${input.channel}` },
      ]);
    }
    const address = channelAddress(input);
    const owner = links ? (links.caller ?? null) : caller;
    const callbackUrl =
      request.callbackUrl !== undefined
        ? this.callbacks.parseUrl(request.callbackUrl, 'callbackUrl')
        : (links?.callbackUrl ?? null);
    if (callbackUrl && !owner) {
      throw new ValidationError('callbackUrl needs an authenticated caller to sign for', [
        { path: 'callbackUrl', message: 'no caller' },
      ]);
    }
    // The caller's signing secret exists before its first callback is queued (GET /v1/callbacks/secret).
    if (callbackUrl && owner) await this.callbacks.secret(owner);
    const id = randomUUID();
    // Trial render: throws TemplateDataError listing every problem; nothing is stored.
    const trialCtx = {
      recipientRole: input.recipient.role,
      recipientName: input.recipient.name,
      caseId: input.caseId,
      notificationId: id,
    };
    const trial = await this.templates.render(def, input.data, trialCtx);
    // SMS through a mainland gateway: the template's registration must fit these values (422s).
    if (def.channel === 'sms' && trial.sms && this.artifacts.sendsRegistered(address)) {
      this.templates.registeredSms(def, input.data, trialCtx, trial.sms.text);
    }

    const nowDate = this.clock.now();
    const now = nowDate.getTime();
    // Letters: glyphs, envelope window, amounts and deadline checked on the letter as it will print (422s).
    if (def.channel === 'letter') {
      await this.artifacts.precheckLetter(
        {
          id,
          caseId: input.caseId,
          locale: def.locale,
          recipient: input.recipient,
          data: input.data,
          createdAt: now,
        },
        def,
      );
    } else if (def.channel === 'email' && def.attachLetter) {
      await this.artifacts.precheckLetterCopy(
        {
          id,
          caseId: input.caseId,
          locale: def.locale,
          recipient: input.recipient,
          recipientAddress: address,
          data: input.data,
          createdAt: now,
        },
        def,
      );
    }
    // Early answer from the compliance gate; the authoritative check runs again at send time.
    const decision = await this.compliance.evaluate(
      this.db,
      {
        id,
        caseId: input.caseId,
        channel: def.channel,
        audience: def.audience,
        stage: def.stage,
        recipientRole: input.recipient.role,
        timeZone: input.recipient.timeZone,
        address,
      },
      'accept',
      nowDate,
    );
    if (decision.outcome === 'suppress' && decision.ruleId.startsWith('hold.')) {
      const kind = decision.ruleId.slice('hold.'.length);
      throw new CaseOnHoldError(
        `Case ${input.caseId} is on hold (${kind}); no notice may be sent`,
        [{ path: 'caseId', message: `case on hold: ${kind}` }],
        { ruleId: decision.ruleId, hold: kind },
      );
    }
    if (decision.outcome === 'suppress' && decision.ruleId.startsWith('audience.')) {
      throw new ComplianceRefusedError(
        decision.reason,
        [
          {
            path: decision.ruleId === 'audience.third-party-template' ? 'templateKey' : 'recipient',
            message: decision.reason,
          },
        ],
        { ruleId: decision.ruleId },
      );
    }
    const status: NotificationRow['status'] =
      decision.outcome === 'allow' ? 'accepted' : decision.outcome === 'defer' ? 'scheduled' : 'suppressed';
    const row: NotificationRow = {
      id,
      caseId: input.caseId,
      channel: input.channel,
      templateKey: def.key,
      templateVersion: def.version,
      locale: def.locale,
      audience: def.audience,
      recipient: input.recipient,
      recipientAddress: address,
      data: input.data,
      status,
      statusReason: ComplianceService.describe(decision),
      provider: null,
      providerMessageId: null,
      idempotencyKey,
      idempotencyScope,
      requestHash,
      notBefore: decision.outcome === 'defer' ? decision.until.getTime() : null,
      attempts: 0,
      sendingAt: null,
      parentId: links?.parentId ?? null,
      escalationStep: links?.escalationStep ?? 0,
      caller: owner,
      callbackUrl,
      createdAt: now,
      updatedAt: now,
    };
    let accepted: ChainedEvent[];
    try {
      accepted = await this.db.transaction(async (tx) => {
        return this.states.create(tx, row, [
          {
            notificationId: id,
            type: 'notification.accepted',
            payload: {
              request: request as unknown as JsonValue,
              idempotencyKey,
              ...(idempotencyScope ? { idempotencyScope } : {}),
              requestHash,
            },
          },
          {
            notificationId: id,
            type: 'template.pinned',
            payload: {
              key: def.key,
              locale: def.locale,
              version: def.version,
              audience: def.audience,
              contentSha256: this.templates.digest(def),
              // The data snapshot rendered, exactly (automatic mode: the declared subset).
              data: input.data as JsonValue,
            },
          },
          ...(stage
            ? [{ notificationId: id, type: 'stage.decided', payload: stage as unknown as JsonValue }]
            : []),
          ComplianceService.evidence(id, 'accept', decision),
        ]);
      });
    } catch (err) {
      if (idempotency && this.db.isUniqueViolation(err)) {
        const existing = await this.repo.byIdempotencyKey(idempotency.scope, idempotency.key, requestHash);
        if (existing) return this.replay(existing, requestHash);
      }
      throw err;
    }
    // The answer shows the notification as accepted; the dispatch may start right after.
    const notification = this.toView(row, accepted);
    if (status === 'suppressed') return { notification, created: true };
    const delayMs = row.notBefore === null ? 0 : Math.max(0, row.notBefore - now);
    await this.queue.enqueue('dispatch', id, { dedupeKey: `${id}_0`, delayMs }).catch((err: unknown) => {
      // The row is durable; the sweeper re-enqueues it.
      this.log.warn(`enqueue failed for ${id}, the sweeper will retry: ${String(err)}`);
    });
    return { notification, created: true };
  }

  private async replay(existing: NotificationRow, requestHash: string): Promise<AcceptResult> {
    if (existing.requestHash !== requestHash) {
      throw new IdempotencyConflictError(
        'This Idempotency-Key was used for a different request body',
        [{ path: 'Idempotency-Key', message: 'reused with a different request' }],
        { notificationId: existing.id },
      );
    }
    return { notification: await this.view(existing.id), created: false };
  }

  async view(id: string): Promise<NotificationView> {
    const n = await this.repo.get(id);
    if (!n) throw new NotFoundError(`No notification ${id}`);
    return this.toView(n, await this.evidence.notificationEvents(id));
  }

  private toView(n: NotificationRow, events: ChainedEvent[]): NotificationView {
    const gate = [...events].reverse().find((e) => e.type === 'compliance.decision')?.payload as
      Record<string, string | null> | undefined;
    return {
      id: n.id,
      caseId: n.caseId,
      channel: n.channel,
      status: n.status,
      statusReason: n.statusReason,
      template: { key: n.templateKey, version: n.templateVersion, locale: n.locale },
      recipient: { role: n.recipient.role, name: n.recipient.name, address: n.recipientAddress },
      provider: n.provider,
      providerMessageId: n.providerMessageId,
      notBefore: n.notBefore === null ? null : new Date(n.notBefore).toISOString(),
      compliance: gate
        ? {
            phase: gate.phase ?? '',
            outcome: gate.outcome ?? '',
            ruleId: gate.ruleId ?? null,
            until: gate.until ?? null,
            reason: gate.reason ?? null,
          }
        : null,
      createdAt: new Date(n.createdAt).toISOString(),
      updatedAt: new Date(n.updatedAt).toISOString(),
      events: events.map((e) => ({
        seq: e.seq,
        type: e.type,
        occurredAt: e.occurredAt,
        recordedAt: e.recordedAt,
        payload: e.payload,
        hash: e.hash,
      })),
    };
  }

  /**
   * A page of the case's notifications in (createdAt, id) order: up to `page.limit + 1` items
   * (the extra one tells the caller there is a next page; see `pageOf` in #libs/contracts).
   * Without `page`: the first 500.
   */
  async listByCase(
    caseId: string,
    page?: PageRequest<readonly [number, string]>,
  ): Promise<Omit<NotificationView, 'events' | 'compliance'>[]> {
    const rows = page
      ? await this.repo.byCasePage(caseId, page.after, page.limit + 1)
      : await this.repo.byCase(caseId);
    return rows.map((n) => ({
      id: n.id,
      caseId: n.caseId,
      channel: n.channel,
      status: n.status,
      statusReason: n.statusReason,
      template: { key: n.templateKey, version: n.templateVersion, locale: n.locale },
      recipient: { role: n.recipient.role, name: n.recipient.name, address: n.recipientAddress },
      provider: n.provider,
      providerMessageId: n.providerMessageId,
      notBefore: n.notBefore === null ? null : new Date(n.notBefore).toISOString(),
      createdAt: new Date(n.createdAt).toISOString(),
      updatedAt: new Date(n.updatedAt).toISOString(),
    }));
  }

  /** Cancels a notification that has not gone to a provider yet. */
  async cancel(id: string, reason: string): Promise<NotificationView> {
    const n = await this.repo.get(id);
    if (!n) throw new NotFoundError(`No notification ${id}`);
    if (isFinal(n.status) && n.status === 'cancelled') return this.view(id);
    const done = await this.db.transaction(async (tx) => {
      const fresh = await this.repo.get(id, tx, true);
      if (!fresh || (fresh.status !== 'accepted' && fresh.status !== 'scheduled')) return false;
      const { moved } = await this.states.transition(tx, fresh, {
        to: 'cancelled',
        cause: 'cancel',
        detail: { reason },
        set: { statusReason: reason },
      });
      return moved;
    });
    if (!done) {
      const current = await this.repo.get(id);
      throw new ConflictError(
        `Notification ${id} is ${current?.status ?? 'gone'} and can no longer be cancelled`,
      );
    }
    return this.view(id);
  }
}
