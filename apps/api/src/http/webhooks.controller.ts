import { Controller, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { WebhookIngress } from '#libs/notifications';
import { Public } from '../auth/scopes.js';
import { Docs } from '../observability/api-docs.js';

function rawBodyOf(req: Request): Buffer {
  const body: unknown = req.body;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  return Buffer.alloc(0);
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Delivery reports. `POST /webhooks/:provider` is the one ingress: the provider (or channel)
 * that owns the name verifies and parses the request (libs/notifications/src/webhook-ingress.ts).
 * The URLs of earlier releases stay as aliases, since providers' consoles and in-flight messages
 * still carry them.
 */
@Docs.webhooks()
@Public()
@Controller('webhooks')
export class WebhooksController {
  constructor(
    private readonly ingress: WebhookIngress,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Twilio (`twilio`, `twilio-secondary`), Aliyun, Tencent, the print vendor, `email`. */
  @Post(':provider')
  @Docs.webhookIngress()
  async ingressRoute(@Param('provider') provider: string, @Req() req: Request, @Res() res: Response) {
    await this.answer(NAME.test(provider) ? provider : '(invalid)', req, res);
  }

  /** Alias: Twilio status callbacks of messages sent before /webhooks/twilio (`acct=secondary`). */
  @Post('twilio/status')
  @Docs.twilioStatus()
  @HttpCode(204)
  async twilioStatus(@Query('acct') acct: string | undefined, @Req() req: Request, @Res() res: Response) {
    await this.answer(acct === 'secondary' ? 'twilio-secondary' : 'twilio', req, res);
  }

  /** Alias of `/webhooks/email`. */
  @Post('email/events')
  async emailEvents(@Req() req: Request, @Res() res: Response) {
    await this.answer('email', req, res);
  }

  /** Alias of `/webhooks/print-vendor`. */
  @Post('post/events')
  async postEvents(@Req() req: Request, @Res() res: Response) {
    await this.answer('print-vendor', req, res);
  }

  private async answer(name: string, req: Request, res: Response): Promise<void> {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') query[k] = v;
    const reply = await this.ingress.handle(name, {
      // The URL the provider called, as it knows it (Twilio signs it).
      url: `${this.config.http.publicBaseUrl}${req.originalUrl}`,
      headers: req.headers,
      query,
      body: rawBodyOf(req),
      contentType: (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase(),
    });
    if (reply.body === undefined) res.status(reply.status).end();
    else res.status(reply.status).json(reply.body);
  }
}
