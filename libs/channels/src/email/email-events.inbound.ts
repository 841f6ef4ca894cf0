import type { InboundRequest, InboundResult, WebhookOwner } from '../inbound.js';
import { headerValue } from '../inbound.js';
import type { NormalisedReceipt } from '../provider.js';
import { parseDsn } from './dsn.js';
import {
  EMAIL_EVENT_SIGNATURE_HEADER,
  EMAIL_EVENT_TIMESTAMP_HEADER,
  parseEmailEvents,
  verifyEmailEventSignature,
} from './events.js';

export interface EmailEventsSettings {
  /** EMAIL_WEBHOOK_SECRET; without it the endpoint answers 404. */
  secret?: string;
  /** The email provider's name: its receipts are matched by it. */
  provider: string;
  messageIdDomain: string;
}

/**
 * `POST /webhooks/email`: JSON events of an HTTP email provider, or a raw RFC 3464 DSN piped by
 * the MTA (`message/rfc822`, `multipart/report` or `text/plain`); both signed with
 * EMAIL_WEBHOOK_SECRET (HMAC over `timestamp.body`, see libs/core/src/hmac.ts) before anything is
 * parsed. The email channel owns it whatever provider sends the mail (SMTP relays post nothing).
 */
export class EmailEventsInbound implements WebhookOwner {
  readonly webhookName = 'email';

  constructor(private readonly settings: EmailEventsSettings) {}

  async receive(req: InboundRequest): Promise<InboundResult> {
    const { secret, provider, messageIdDomain } = this.settings;
    if (!secret) {
      return { ok: false, status: 404, reason: 'Email events are not configured (EMAIL_WEBHOOK_SECRET)' };
    }
    const timestamp = headerValue(req, EMAIL_EVENT_TIMESTAMP_HEADER);
    const signature = headerValue(req, EMAIL_EVENT_SIGNATURE_HEADER);
    if (!verifyEmailEventSignature(secret, timestamp, signature, req.body, req.now)) {
      return { ok: false, status: 403, reason: 'Invalid email event signature' };
    }
    const json = req.contentType === 'application/json';
    let receipts: NormalisedReceipt[];
    if (json) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(req.body.toString('utf8'));
      } catch {
        return { ok: false, status: 400, reason: 'Body is not valid JSON' };
      }
      receipts = parseEmailEvents(parsed, provider);
    } else {
      receipts = await parseDsn(req.body, { provider, messageIdDomain });
    }
    return {
      ok: true,
      receipts,
      verification: { verified: true, via: json ? 'email-events' : 'dsn' },
      reply: (s) => ({ status: 200, body: { received: s.received, matched: s.matched } }),
    };
  }
}
