import { Controller, Get, HttpCode, Inject, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { verifyUnsubscribeToken } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { ValidationError } from '#libs/core';
import { ReceiptsService } from '#libs/notifications';
import { Public } from '../auth/scopes.js';

/** One-click unsubscribe (RFC 8058) and the page behind the List-Unsubscribe link. */
@Public()
@Controller()
export class ChannelWebhooksController {
  constructor(
    private readonly receipts: ReceiptsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

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
