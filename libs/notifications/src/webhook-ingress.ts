import { Inject, Injectable, Logger } from '@nestjs/common';
import { ChannelRegistry, type InboundReply, type InboundRequest } from '#libs/channels';
import {
  AppError,
  CLOCK,
  type Clock,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '#libs/core';
import { ReceiptsService } from './receipts.service.js';

function refusal(status: 400 | 401 | 403 | 404, reason: string): AppError {
  switch (status) {
    case 400:
      return new ValidationError(reason, [{ path: '(body)', message: reason }]);
    case 401:
      return new UnauthenticatedError(reason);
    case 403:
      return new ForbiddenError(reason);
    case 404:
      return new NotFoundError(reason);
  }
}

/**
 * The one way delivery reports come in (`POST /webhooks/:provider`): the owner of the name (a
 * provider, or a channel's own endpoint) authenticates and parses the request, every receipt
 * goes through the receipt store (dedup, provenance, state machine), and the owner says what to
 * answer. Nothing is stored before the owner has verified the request.
 */
@Injectable()
export class WebhookIngress {
  private readonly log = new Logger(WebhookIngress.name);

  constructor(
    private readonly channels: ChannelRegistry,
    private readonly receipts: ReceiptsService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async handle(name: string, req: Omit<InboundRequest, 'now'>): Promise<InboundReply> {
    const owner = this.channels.webhookOwner(name);
    if (!owner) throw new NotFoundError(`Nothing configured takes webhooks at /webhooks/${name}`);
    const result = await owner.receive({ ...req, now: this.clock.now() });
    if (!result.ok) {
      this.log.warn(`rejected a ${name} webhook: ${result.reason}`);
      throw refusal(result.status, result.reason);
    }
    let matched = 0;
    let replays = 0;
    for (const receipt of result.receipts) {
      const r = await this.receipts.ingest(receipt, result.verification);
      if (r.matched) matched += 1;
      if (r.replay) replays += 1;
    }
    const stored = { received: result.receipts.length, matched, replays };
    return typeof result.reply === 'function' ? result.reply(stored) : result.reply;
  }
}
