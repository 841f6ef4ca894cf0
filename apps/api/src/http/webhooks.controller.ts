import { Body, Controller, Headers, HttpCode, Inject, Logger, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ChannelRegistry, TwilioSmsProvider } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { ForbiddenError, maskPhone, NotFoundError } from '#libs/core';
import { ReceiptsService } from '#libs/notifications';
import { Public } from '../auth/scopes.js';
import { Docs } from '../observability/api-docs.js';

@Docs.webhooks()
@Public()
@Controller('webhooks')
export class WebhooksController {
  private readonly log = new Logger(WebhooksController.name);

  constructor(
    private readonly receipts: ReceiptsService,
    private readonly channels: ChannelRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Twilio status callbacks: signature checked against the public URL Twilio called. */
  @Post('twilio/status')
  @Docs.twilioStatus()
  @HttpCode(204)
  async twilioStatus(
    @Req() req: Request,
    @Body() body: Record<string, unknown> | undefined,
    @Headers('x-twilio-signature') signature: string | undefined,
    @Query('nid') nid: string | undefined,
    @Query('acct') acct: string | undefined,
  ): Promise<void> {
    // Callbacks for the failover account carry `acct=secondary` and verify with its auth token.
    const twilio = this.channels.byName(acct === 'secondary' ? 'twilio-secondary' : 'twilio');
    if (!(twilio instanceof TwilioSmsProvider))
      throw new NotFoundError('Twilio is not the configured SMS provider');
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(body ?? {})) if (typeof v === 'string') params[k] = v;
    const url = `${this.config.http.publicBaseUrl}${req.originalUrl}`;
    if (!twilio.verifySignature(signature, url, params)) {
      this.log.warn(
        `rejected Twilio callback with ${signature ? 'a bad' : 'no'} signature (to ${maskPhone(params.To ?? '')})`,
      );
      throw new ForbiddenError('Invalid X-Twilio-Signature');
    }
    const receipt = twilio.parseStatusCallback(params, typeof nid === 'string' ? nid : null);
    await this.receipts.ingest(receipt, { verified: true, via: 'webhook', signature: 'X-Twilio-Signature' });
  }
}
