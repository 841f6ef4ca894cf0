import {
  twilioCallback,
  twilioCallbackUrl,
  twilioClient,
  twilioDedupKey,
  twilioProviderError,
  verifyTwilioSignature,
} from '../twilio-common.js';
import { createHash } from 'node:crypto';
import twilio from 'twilio';
import type { ReceiptOutcome } from '#libs/core';
import { ProviderError } from '#libs/core';
import type { InboundRequest, InboundResult, WebhookOwner } from '../inbound.js';
import type { ChannelProvider, Json, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';

export interface TwilioVoiceSettings {
  accountSid: string;
  authToken: string;
  /** The caller id: a Twilio number (or verified caller id) of the account, E.164. */
  from: string;
  /** Base URL replacing https://api.twilio.com (a local emulator in tests). */
  apiBaseUrl?: string;
  timeoutMs: number;
  /** Seconds the phone rings before Twilio gives up with `no-answer`. Default 30. */
  ringSeconds?: number;
  /**
   * Answering machine detection (`MachineDetection=Enable`): the callbacks then carry
   * `AnsweredBy`, and a call a machine took ends `undelivered` (see `twilioCallOutcome`). Off by
   * default: it costs per call and delays the message by the detection time (a few seconds).
   */
  machineDetection?: boolean;
}

/** The call progress events we ask for (Twilio sends `completed` whatever the list). */
export const CALL_STATUS_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;

const DEFAULT_RING_SECONDS = 30;

/**
 * Twilio call statuses -> normalised outcome. A call is `delivered` only once `completed` after
 * being answered (Twilio reports `completed` for answered calls only: an unanswered one ends
 * `no-answer`, `busy`, `failed` or `canceled`). Anything unexpected is `unknown`, never success.
 *
 * `answeredBy` (`AnsweredBy`, present with machine detection): a call a machine answered
 * (`machine_start`, `machine_end_beep`, ...) is `undelivered`: the message went to a voicemail at
 * best, which is no proof the debtor heard it, so escalation goes on to the next channel.
 */
export function twilioCallOutcome(status: string, answeredBy?: string | null): ReceiptOutcome {
  switch (status) {
    case 'queued':
    case 'initiated':
    case 'ringing':
      return 'queued';
    case 'in-progress':
      return 'sent';
    case 'completed':
      return isMachine(answeredBy) ? 'undelivered' : 'delivered';
    case 'no-answer':
    case 'busy':
      return 'undelivered';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return 'unknown';
  }
}

function isMachine(answeredBy: string | null | undefined): boolean {
  return typeof answeredBy === 'string' && answeredBy.startsWith('machine');
}

/** The receipt's error code: why a call did not reach the debtor (none for the others). */
export function twilioCallErrorCode(
  status: string,
  answeredBy?: string | null,
  errorCode?: string | null,
): string | undefined {
  const outcome = twilioCallOutcome(status, answeredBy);
  if (outcome === 'undelivered') return status === 'completed' ? 'machine' : status;
  if (outcome === 'failed') return errorCode || status;
  return undefined;
}

interface TwilioCallLike {
  sid: string;
  status: string;
  to: string;
  from: string;
  answeredBy: string | null;
  duration: string | null;
  dateCreated: Date | null;
  dateUpdated: Date | null;
  startTime: Date | null;
  endTime: Date | null;
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

function describe(c: TwilioCallLike): Json {
  return {
    sid: c.sid,
    status: c.status,
    to: c.to,
    from: c.from,
    answeredBy: c.answeredBy ?? null,
    duration: c.duration ?? null,
    dateCreated: iso(c.dateCreated),
    startTime: iso(c.startTime),
    endTime: iso(c.endTime),
  };
}

/** Parses Twilio's RFC 2822 `Timestamp`; null when absent or unreadable. */
function parseTimestamp(value: string | undefined): Date | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
}

/**
 * Voice reminders through Twilio Programmable Voice (official `twilio` client): the call says the
 * stored TwiML (`message.voice.twiml`, sent inline, so Twilio never fetches anything of ours) and
 * reports its progress to `/webhooks/<name>`, which this provider owns.
 */
export class TwilioVoiceProvider implements ChannelProvider, WebhookOwner {
  readonly channel = 'voice' as const;
  readonly sandbox = false;
  private readonly client: twilio.Twilio;

  get webhookName(): string {
    return this.name;
  }

  constructor(
    private readonly settings: TwilioVoiceSettings,
    /** `twilio-voice`, or another name for a second account (receipts are matched by name). */
    readonly name = 'twilio-voice',
  ) {
    this.client = twilioClient(settings);
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (!message.voice) throw new ProviderError(`${this.name}: message has no voice part`, false);
    const params = {
      to: message.to,
      from: this.settings.from,
      twiml: message.voice.twiml,
      statusCallback: this.callbackUrl(message),
      statusCallbackEvent: [...CALL_STATUS_EVENTS],
      statusCallbackMethod: 'POST',
      timeout: this.settings.ringSeconds ?? DEFAULT_RING_SECONDS,
      ...(this.settings.machineDetection ? { machineDetection: 'Enable' } : {}),
    };
    const request: Json = {
      to: params.to,
      from: params.from,
      statusCallback: params.statusCallback,
      statusCallbackEvent: params.statusCallbackEvent,
      timeout: params.timeout,
      machineDetection: this.settings.machineDetection ?? false,
      language: message.voice.locale,
      twimlSha256: createHash('sha256').update(message.voice.twiml).digest('hex'),
    };
    try {
      const c = (await this.client.calls.create(params)) as unknown as TwilioCallLike;
      return { providerMessageId: c.sid, acceptedAt: c.dateCreated ?? new Date(), request, raw: describe(c) };
    } catch (err) {
      throw this.toProviderError(err, request);
    }
  }

  private toProviderError(err: unknown, request: Json): ProviderError {
    return twilioProviderError(this.name, err, request);
  }

  async poll(providerMessageId: string): Promise<NormalisedReceipt | null> {
    try {
      const c = (await this.client.calls(providerMessageId).fetch()) as unknown as TwilioCallLike;
      return {
        provider: this.name,
        providerMessageId: c.sid,
        notificationId: null,
        outcome: twilioCallOutcome(c.status, c.answeredBy),
        providerStatus: c.status,
        errorCode: twilioCallErrorCode(c.status, c.answeredBy),
        occurredAt: c.endTime ?? c.dateUpdated ?? new Date(),
        sandbox: false,
        raw: { polled: true, ...(describe(c) as Record<string, Json>) },
      };
    } catch (err) {
      const e = err as { status?: number };
      if (e.status === 404) return null;
      throw this.toProviderError(err, { poll: providerMessageId });
    }
  }

  /**
   * A call placed before a crash, found by `To` and `From` among the calls created since the claim
   * (15 minutes of clock skew allowed); the oldest such call is ours.
   *
   * Limits: Twilio keeps nothing of ours on a call. Our id rides only in the StatusCallback URL,
   * and the Calls resource returns neither that URL nor the TwiML, so a match is "a call from our
   * number to this number in the window": another reminder to the same debtor in the window would
   * be taken for this one (the call cap and contact windows make that rare; the cost is a missed
   * call, never a second one). No `StartTime>` filter: a call still `queued` has no start time
   * and would be missed, and the resend would ring the debtor twice.
   */
  async findSent(message: OutboundMessage, since: Date): Promise<SendResult | null> {
    try {
      const list = (await this.client.calls.list({
        to: message.to,
        from: this.settings.from,
        limit: 100,
      })) as unknown as TwilioCallLike[];
      const from = since.getTime() - 15 * 60_000;
      // The list is newest first: the last match is the oldest.
      const matches = list.filter(
        (c) => c.from === this.settings.from && (c.dateCreated === null || c.dateCreated.getTime() >= from),
      );
      const match = matches[matches.length - 1];
      if (!match) return null;
      return {
        providerMessageId: match.sid,
        acceptedAt: match.dateCreated ?? new Date(),
        request: { reconciledBy: 'list', to: message.to, from: this.settings.from },
        raw: describe(match),
      };
    } catch (err) {
      throw this.toProviderError(err, { reconcile: message.notificationId });
    }
  }

  /** Where Twilio posts this call's progress: our id rides along (`nid`), signed with the URL. */
  callbackUrl(message: OutboundMessage): string {
    return twilioCallbackUrl(message, this.webhookName);
  }

  /** A status callback: `X-Twilio-Signature` over the exact public URL and the form parameters. */
  async receive(req: InboundRequest): Promise<InboundResult> {
    const checked = twilioCallback(req, this.settings.authToken);
    if ('refused' in checked) return checked.refused;
    const { params } = checked;
    if (!params.CallSid || !params.CallStatus) {
      return { ok: false, status: 400, reason: 'Not a call status callback (no CallSid or CallStatus)' };
    }
    const nid = req.query.nid;
    return {
      ok: true,
      receipts: [this.parseStatusCallback(params, typeof nid === 'string' ? nid : null, req.now)],
      verification: { verified: true, via: 'webhook', signature: 'X-Twilio-Signature' },
      reply: { status: 204 },
    };
  }

  /** Verifies `X-Twilio-Signature` against the exact public URL Twilio called. */
  verifySignature(signature: string | undefined, url: string, params: Record<string, string>): boolean {
    return verifyTwilioSignature(this.settings.authToken, signature, url, params);
  }

  /** Normalises a call status callback (form parameters) into a receipt. */
  parseStatusCallback(
    params: Record<string, string>,
    notificationId: string | null,
    receivedAt: Date = new Date(),
  ): NormalisedReceipt {
    const status = params.CallStatus ?? '';
    const sid = params.CallSid ?? '';
    const answeredBy = params.AnsweredBy;
    // Twilio callbacks carry no event id: the same sid and status with the same parameters is
    // the same callback (a retry or a replay). SequenceNumber and Timestamp are among them.
    return {
      dedupKey: twilioDedupKey(this.name, sid, status, params),
      provider: this.name,
      providerMessageId: sid || null,
      notificationId,
      outcome: twilioCallOutcome(status, answeredBy),
      providerStatus: status || 'missing',
      errorCode: twilioCallErrorCode(status, answeredBy, params.ErrorCode),
      occurredAt: parseTimestamp(params.Timestamp) ?? receivedAt,
      sandbox: false,
      raw: params,
    };
  }
}
