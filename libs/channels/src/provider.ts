import type { Channel, Locale, PostalAddress, ReceiptOutcome } from '#libs/core';

/** JSON-safe value (what goes into the evidence). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface EmailAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface EmailContent {
  from?: string;
  subject: string;
  html: string;
  text: string;
  attachments?: EmailAttachment[];
  /** Extra headers, e.g. List-Unsubscribe / List-Unsubscribe-Post (RFC 8058). */
  headers?: Record<string, string>;
  /**
   * The complete message (the stored `.eml` artifact, DKIM signature included, see
   * `composeEml`): when set, providers send exactly these bytes and the parts above serve only
   * for the evidence summary. The dispatcher always sets it from the stored artifact.
   */
  raw?: Buffer;
}

export interface LetterContent {
  /** Our document id printed on the letter (also the vendor's idempotency key). */
  documentId: string;
  pdf: Buffer;
  pdfSha256: string;
  recipientName: string;
  address: PostalAddress;
  service: 'registered' | 'ordinary';
}

/**
 * A mainland SMS gateway's registered template (模板), filled for one message: the gateway takes
 * the template code, the sign name (签名) and the variables, never free text.
 */
export interface RegisteredSms {
  /** The registration's provider kind (`aliyun`, `tencent`). */
  kind: string;
  templateCode: string;
  signName: string;
  /** The variables in the registration's order: Aliyun's `${name}`, Tencent's `{1}`, `{2}`, ... */
  params: { name: string; value: string }[];
  /** What the debtor reads: `【sign】` + the registered text with the values filled in. */
  text: string;
}

/** One message to send, whatever the channel; exactly the part for `channel` is set. */
export interface OutboundMessage {
  /** Our notification id: the provider reference and the idempotency anchor. */
  notificationId: string;
  channel: Channel;
  /** Normalised address: E.164 phone, lower-case email, or postal key. */
  to: string;
  /**
   * The public base of the service's webhook ingress (`https://…/webhooks`): a provider that takes
   * a per-message callback URL points it at `<base>/<its webhookName>`.
   */
  webhookBaseUrl: string;
  /** `registered`: the filled registration per provider kind, for gateways that need one. */
  sms?: { body: string; registered?: Partial<Record<string, RegisteredSms>> };
  /**
   * Voice call: the text read to whoever answers, in the template's language, and the TwiML that
   * says it (`buildTwiml`): the stored artifact, sent as it is.
   */
  voice?: { text: string; locale: Locale; twiml: string };
  email?: EmailContent;
  letter?: LetterContent;
}

export interface SendResult {
  providerMessageId: string;
  /** Name of the provider that took the message, when a channel has more than one (failover). */
  provider?: string;
  acceptedAt: Date;
  /** What we asked for and what came back, for the evidence (no credentials). */
  request: Json;
  raw: Json;
}

/** Normalised receipt outcomes plus the post-specific events (DESIGN.md section 3). */
export type PostEvent = 'printed' | 'mailed' | 'in_transit' | 'returned';
export type ReturnReason = 'refused' | 'unclaimed' | 'bad_address' | 'moved' | 'other';

/** A delivery receipt after normalisation, whatever the provider. */
export interface NormalisedReceipt {
  provider: string;
  providerMessageId: string | null;
  /** Our id when the provider echoes it (callback URL, reference field). */
  notificationId: string | null;
  outcome: ReceiptOutcome;
  providerStatus: string;
  errorCode?: string;
  /** Post channel: intermediate event, and for `returned` its reason. */
  postEvent?: PostEvent;
  returnReason?: ReturnReason;
  /** Post channel: who signed for a delivered registered letter. */
  signer?: string;
  /** Email: hard bounce (address suppressed) vs soft bounce (retry policy); complaint = opt-out. */
  bounce?: 'hard' | 'soft';
  complaint?: boolean;
  occurredAt: Date;
  /** Sandbox receipts can never count as legal proof. */
  sandbox: boolean;
  raw: Json;
  /**
   * Stable identity of the inbound event (unique in `receipts.dedup_key`): a redelivery of the same
   * event carries the same key and is stored once. Absent for receipts we fetched ourselves.
   */
  dedupKey?: string;
}

/**
 * Provider contract (DESIGN.md section 3), one adapter per provider and channel.
 * `send` must be safe to retry: the adapter passes our notification id as the provider's
 * idempotency key or reference where the provider supports one.
 */
export interface ChannelProvider {
  readonly name: string;
  readonly channel: Channel;
  readonly sandbox: boolean;
  send(message: OutboundMessage): Promise<SendResult>;
  /** Current state of a message at the provider (poll path for lost callbacks); null if unknown. */
  poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null>;
  /**
   * Finds a message this service may have sent before a crash (state `sending` with no provider
   * id stored): returns it when the provider has it, null when it surely does not.
   */
  findSent(message: OutboundMessage, since: Date): Promise<SendResult | null>;
}

/** @deprecated alias kept for the SMS adapters. */
export type SmsProvider = ChannelProvider;
export type OutboundSms = OutboundMessage;

export const SMS_PROVIDER = Symbol('SMS_PROVIDER');

/** Sink the sandbox adapters use to deliver their simulated receipts. */
export type ReceiptSink = (receipt: NormalisedReceipt) => Promise<void>;
