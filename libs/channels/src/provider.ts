import type { ReceiptOutcome } from '#libs/core';

/** JSON-safe value (what goes into the evidence). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface OutboundSms {
  /** Our notification id: the provider reference and the idempotency anchor. */
  notificationId: string;
  to: string;
  body: string;
  statusCallbackUrl: string;
}

export interface SendResult {
  providerMessageId: string;
  acceptedAt: Date;
  /** What we asked for and what came back, for the evidence (no credentials). */
  request: Json;
  raw: Json;
}

/** A delivery receipt after normalisation, whatever the provider. */
export interface NormalisedReceipt {
  provider: string;
  providerMessageId: string | null;
  /** Our id when the provider echoes it (callback URL, reference field). */
  notificationId: string | null;
  outcome: ReceiptOutcome;
  providerStatus: string;
  errorCode?: string;
  occurredAt: Date;
  /** Sandbox receipts can never count as legal proof. */
  sandbox: boolean;
  raw: Json;
}

/** Provider contract (DESIGN.md section 3). */
export interface SmsProvider {
  readonly name: string;
  readonly sandbox: boolean;
  send(message: OutboundSms): Promise<SendResult>;
  /** Current state of a message at the provider (poll path for lost callbacks). */
  poll(providerMessageId: string, message: OutboundSms): Promise<NormalisedReceipt | null>;
  /**
   * Finds a message this service may have sent before a crash (state `sending` with no provider
   * id stored): returns it when the provider has it, null when it surely does not.
   */
  findSent(message: OutboundSms, since: Date): Promise<SendResult | null>;
}

export const SMS_PROVIDER = Symbol('SMS_PROVIDER');

/** Sink the sandbox uses to deliver its simulated receipts. */
export type ReceiptSink = (receipt: NormalisedReceipt) => Promise<void>;
