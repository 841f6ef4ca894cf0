import { Controller, Get, Headers, HttpCode, Inject, Logger, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ChannelRegistry,
  EMAIL_EVENT_SIGNATURE_HEADER,
  EMAIL_EVENT_TIMESTAMP_HEADER,
  type NormalisedReceipt,
  parseDsn,
  parseEmailEvents,
  PrintVendorProvider,
  verifyEmailEventSignature,
  verifyUnsubscribeToken,
} from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import {
  CLOCK,
  type Clock,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '#libs/core';
import { ReceiptsService } from '#libs/notifications';
import { Public } from '../auth/scopes.js';

function rawBodyOf(req: Request): Buffer {
  const body: unknown = req.body;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  return Buffer.alloc(0);
}

/**
 * Email and post delivery events, and one-click unsubscribe. Every event is authenticated
 * (HMAC over `timestamp.body` with the configured secret) before anything is stored.
 */
@Public()
@Controller()
export class ChannelWebhooksController {
  private readonly log = new Logger(ChannelWebhooksController.name);

  constructor(
    private readonly receipts: ReceiptsService,
    private readonly channels: ChannelRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * JSON events of an HTTP email provider, or a raw RFC 3464 DSN piped by the MTA
   * (`message/rfc822`, `multipart/report` or `text/plain`); both signed with EMAIL_WEBHOOK_SECRET.
   */
  @Post('webhooks/email/events')
  @HttpCode(200)
  async emailEvents(
    @Req() req: Request,
    @Headers(EMAIL_EVENT_TIMESTAMP_HEADER) timestamp: string | undefined,
    @Headers(EMAIL_EVENT_SIGNATURE_HEADER) signature: string | undefined,
  ) {
    const secret = this.config.email.webhookSecret;
    if (!secret) throw new NotFoundError('Email events are not configured (EMAIL_WEBHOOK_SECRET)');
    const raw = rawBodyOf(req);
    if (!verifyEmailEventSignature(secret, timestamp, signature, raw, this.clock.now())) {
      this.log.warn('rejected an email event with a bad or stale signature');
      throw new ForbiddenError('Invalid email event signature');
    }
    const provider = this.channels.get('email').name;
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    let receipts: NormalisedReceipt[];
    if (type === 'application/json') {
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new ValidationError('Body is not valid JSON', [{ path: '(body)', message: 'malformed JSON' }]);
      }
      receipts = parseEmailEvents(json, provider);
    } else {
      receipts = await parseDsn(raw, { provider, messageIdDomain: this.config.email.messageIdDomain });
    }
    const results = [];
    for (const r of receipts) {
      results.push(
        await this.receipts.ingest(r, {
          verified: true,
          via: type === 'application/json' ? 'email-events' : 'dsn',
        }),
      );
    }
    return { received: receipts.length, matched: results.filter((x) => x.matched).length };
  }

  /**
   * Print vendor webhooks: HMAC-SHA256 over `timestamp.body`, 5-minute tolerance. A replay (or a
   * redelivery of an event already stored) is answered 200 and changes nothing: the receipt's
   * dedup key is claimed in the transaction that applies it, so a failed ingest claims nothing
   * and the vendor's redelivery is applied.
   */
  @Post('webhooks/post/events')
  @HttpCode(200)
  async postEvents(@Req() req: Request) {
    const provider = this.channels.get('letter');
    if (!(provider instanceof PrintVendorProvider)) throw new NotFoundError('No print vendor is configured');
    const raw = rawBodyOf(req);
    const check = provider.verifyWebhook(req.headers, raw, this.clock.now());
    if (!check.ok) {
      this.log.warn(`rejected a print-vendor webhook: ${check.reason}`);
      throw new UnauthenticatedError(`Webhook rejected: ${check.reason}`);
    }
    const receipts = provider.parseReceipts(JSON.parse(raw.toString('utf8')) as unknown);
    let replays = 0;
    for (const r of receipts) {
      const result = await this.receipts.ingest(r, {
        verified: true,
        via: 'vendor-webhook',
        eventId: check.eventId,
      });
      if (result.replay) replays++;
    }
    return { received: receipts.length - replays, ...(replays > 0 ? { replay: true } : {}) };
  }

  /** The page behind the List-Unsubscribe link (a person clicking it). */
  @Get('unsubscribe')
  unsubscribePage(@Query('t') token: string | undefined, @Res() res: Response): void {
    const ok =
      typeof token === 'string' && verifyUnsubscribeToken(this.config.email.unsubscribeSecret, token);
    res
      .status(ok ? 200 : 400)
      .type('text/html; charset=utf-8')
      .send(
        ok
          ? `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>退订 Unsubscribe</title>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<p>确认不再接收此类电子邮件？ / Stop these emails?</p><button type="submit">退订 Unsubscribe</button></form></html>`
          : '<!doctype html><html><meta charset="utf-8"><title>Invalid link</title><p>This link is not valid.</p></html>',
      );
  }

  /** RFC 8058 one-click unsubscribe (`List-Unsubscribe=One-Click`). */
  @Post('unsubscribe')
  @HttpCode(200)
  async unsubscribe(@Query('t') token: string | undefined) {
    const subject =
      typeof token === 'string' ? verifyUnsubscribeToken(this.config.email.unsubscribeSecret, token) : null;
    if (!subject)
      throw new ValidationError('Invalid unsubscribe link', [{ path: 't', message: 'invalid or tampered' }]);
    await this.receipts.recordOptOut(subject.address, 'email', subject.notificationId, 'one-click');
    return { unsubscribed: true, channel: 'email' };
  }
}
