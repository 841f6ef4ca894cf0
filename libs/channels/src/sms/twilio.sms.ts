import {
  twilioCallback,
  twilioCallbackUrl,
  twilioClient,
  twilioDedupKey,
  twilioProviderError,
  verifyTwilioSignature,
} from '../twilio-common.js';
import twilio from 'twilio';
import type { ReceiptOutcome } from '#libs/core';
import { ProviderError } from '#libs/core';
import type { InboundRequest, InboundResult, WebhookOwner } from '../inbound.js';
import type { Json, NormalisedReceipt, OutboundSms, SendResult, SmsProvider } from '../provider.js';

export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  from?: string;
  messagingServiceSid?: string;
  /** Base URL replacing https://api.twilio.com (a local emulator in tests). */
  apiBaseUrl?: string;
  timeoutMs: number;
}

/** Twilio message statuses -> normalised outcome. Anything unexpected is `unknown`, never success. */
export function twilioOutcome(status: string): ReceiptOutcome {
  switch (status) {
    case 'accepted':
    case 'scheduled':
    case 'queued':
    case 'sending':
      return 'queued';
    case 'sent':
      return 'sent';
    case 'delivered':
    case 'read':
      return 'delivered';
    case 'undelivered':
      return 'undelivered';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return 'unknown';
  }
}

interface TwilioMessageLike {
  sid: string;
  status: string;
  body: string;
  to: string;
  errorCode: number | null;
  dateCreated: Date | null;
  dateUpdated: Date | null;
}

function describe(m: TwilioMessageLike): Json {
  return {
    sid: m.sid,
    status: m.status,
    to: m.to,
    errorCode: m.errorCode,
    dateCreated: m.dateCreated ? m.dateCreated.toISOString() : null,
  };
}

/** SMS through the official `twilio` client; it owns its status callbacks (`/webhooks/<name>`). */
export class TwilioSmsProvider implements SmsProvider, WebhookOwner {
  readonly channel = 'sms' as const;
  readonly sandbox = false;
  private readonly client: twilio.Twilio;

  get webhookName(): string {
    return this.name;
  }

  constructor(
    private readonly settings: TwilioSettings,
    /** `twilio`, or e.g. `twilio-secondary` for a second account (receipts are matched by name). */
    readonly name = 'twilio',
  ) {
    this.client = twilioClient(settings);
  }

  async send(message: OutboundSms): Promise<SendResult> {
    if (!message.sms) throw new ProviderError('twilio: message has no SMS part', false);
    const params = {
      to: message.to,
      body: message.sms.body,
      statusCallback: this.callbackUrl(message),
      ...(this.settings.messagingServiceSid
        ? { messagingServiceSid: this.settings.messagingServiceSid }
        : { from: this.settings.from as string }),
    };
    const request: Json = {
      to: params.to,
      from: this.settings.from ?? null,
      messagingServiceSid: this.settings.messagingServiceSid ?? null,
      statusCallback: params.statusCallback,
      bodyLength: params.body.length,
    };
    try {
      const m = (await this.client.messages.create(params)) as unknown as TwilioMessageLike;
      return { providerMessageId: m.sid, acceptedAt: m.dateCreated ?? new Date(), request, raw: describe(m) };
    } catch (err) {
      throw this.toProviderError(err, request);
    }
  }

  private toProviderError(err: unknown, request: Json): ProviderError {
    return twilioProviderError('twilio', err, request);
  }

  async poll(providerMessageId: string): Promise<NormalisedReceipt | null> {
    try {
      const m = (await this.client.messages(providerMessageId).fetch()) as unknown as TwilioMessageLike;
      return {
        provider: this.name,
        providerMessageId: m.sid,
        notificationId: null,
        outcome: twilioOutcome(m.status),
        providerStatus: m.status,
        errorCode: m.errorCode === null ? undefined : String(m.errorCode),
        occurredAt: m.dateUpdated ?? new Date(),
        sandbox: false,
        raw: { polled: true, ...(describe(m) as Record<string, Json>) },
      };
    } catch (err) {
      const e = err as { status?: number };
      if (e.status === 404) return null;
      throw this.toProviderError(err, { poll: providerMessageId });
    }
  }

  async findSent(message: OutboundSms, since: Date): Promise<SendResult | null> {
    try {
      // No DateSent filter: a message still `queued` at Twilio has no send date yet and would be
      // missed, and a resend would then duplicate it. Newest first; created since the claim.
      const list = (await this.client.messages.list({
        to: message.to,
        limit: 100,
      })) as unknown as TwilioMessageLike[];
      const from = since.getTime() - 15 * 60_000;
      const match = list.find(
        (m) => m.body === message.sms?.body && (m.dateCreated === null || m.dateCreated.getTime() >= from),
      );
      if (!match) return null;
      return {
        providerMessageId: match.sid,
        acceptedAt: match.dateCreated ?? new Date(),
        request: { reconciledBy: 'list', to: message.to },
        raw: describe(match),
      };
    } catch (err) {
      throw this.toProviderError(err, { reconcile: message.notificationId });
    }
  }

  /** Where Twilio posts this message's status: our id rides along (`nid`), signed with the URL. */
  callbackUrl(message: OutboundSms): string {
    return twilioCallbackUrl(message, this.webhookName);
  }

  /** A status callback: `X-Twilio-Signature` over the exact public URL and the form parameters. */
  async receive(req: InboundRequest): Promise<InboundResult> {
    const checked = twilioCallback(req, this.settings.authToken);
    if ('refused' in checked) return checked.refused;
    const { params } = checked;
    const nid = req.query.nid;
    return {
      ok: true,
      receipts: [this.parseStatusCallback(params, typeof nid === 'string' ? nid : null)],
      verification: { verified: true, via: 'webhook', signature: 'X-Twilio-Signature' },
      reply: { status: 204 },
    };
  }

  /** Verifies `X-Twilio-Signature` against the exact public URL Twilio called. */
  verifySignature(signature: string | undefined, url: string, params: Record<string, string>): boolean {
    return verifyTwilioSignature(this.settings.authToken, signature, url, params);
  }

  /** Normalises a status callback (form parameters) into a receipt. */
  parseStatusCallback(params: Record<string, string>, notificationId: string | null): NormalisedReceipt {
    const status = params.MessageStatus ?? params.SmsStatus ?? '';
    const sid = params.MessageSid ?? params.SmsSid ?? '';
    return {
      dedupKey: twilioDedupKey(this.name, sid, status, params),
      provider: this.name,
      providerMessageId: params.MessageSid ?? params.SmsSid ?? null,
      notificationId,
      outcome: twilioOutcome(status),
      providerStatus: status || 'missing',
      errorCode: params.ErrorCode || undefined,
      occurredAt: new Date(),
      sandbox: false,
      raw: params,
    };
  }
}
