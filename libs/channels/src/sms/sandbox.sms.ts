import { SandboxReceipts } from '../sandbox-receipts.js';
import { ProviderError } from '#libs/core';
import type { NormalisedReceipt, OutboundSms, SendResult, SmsProvider } from '../provider.js';

/**
 * Sandbox SMS: accepts every message, then reports `sent` and `delivered` (or `undelivered`
 * for numbers ending in 0000) after a short delay. The provider id is derived from our id,
 * so a retried send can never produce a second message. Every receipt is marked `sandbox`.
 */
export class SandboxSmsProvider extends SandboxReceipts implements SmsProvider {
  readonly name = 'sandbox-sms';
  readonly channel = 'sms' as const;
  readonly sandbox = true;

  constructor(private readonly receiptDelayMs: number) {
    super();
  }

  static providerId(notificationId: string): string {
    return `SBX${notificationId.replace(/-/g, '')}`;
  }

  private outcomeFor(to: string): 'delivered' | 'undelivered' {
    return to.endsWith('0000') ? 'undelivered' : 'delivered';
  }

  async send(message: OutboundSms): Promise<SendResult> {
    if (!message.to) throw new ProviderError('sandbox: missing recipient', false);
    const providerMessageId = SandboxSmsProvider.providerId(message.notificationId);
    const acceptedAt = new Date();
    this.emit(providerMessageId, message, 'sent', 0);
    this.emit(providerMessageId, message, this.outcomeFor(message.to), this.receiptDelayMs);
    return {
      providerMessageId,
      acceptedAt,
      request: { to: message.to, bodyLength: message.sms?.body.length ?? 0 },
      raw: { sid: providerMessageId, status: 'queued', sandbox: true },
    };
  }

  private emit(
    id: string,
    message: OutboundSms,
    outcome: 'sent' | 'delivered' | 'undelivered',
    delay: number,
  ) {
    this.later(delay, () => this.receipt(id, message.notificationId, outcome));
  }

  private receipt(
    id: string,
    notificationId: string | null,
    outcome: NormalisedReceipt['outcome'],
  ): NormalisedReceipt {
    return {
      provider: this.name,
      providerMessageId: id,
      notificationId,
      outcome,
      providerStatus: outcome,
      errorCode: outcome === 'undelivered' ? 'SANDBOX_0000' : undefined,
      occurredAt: new Date(),
      sandbox: true,
      raw: { sid: id, status: outcome, sandbox: true },
    };
  }

  async poll(providerMessageId: string, message: OutboundSms): Promise<NormalisedReceipt | null> {
    if (providerMessageId !== SandboxSmsProvider.providerId(message.notificationId)) return null;
    return this.receipt(providerMessageId, message.notificationId, this.outcomeFor(message.to));
  }

  async findSent(message: OutboundSms): Promise<SendResult | null> {
    // Sends are idempotent by construction (the id is derived from ours): resending is safe.
    void message;
    return null;
  }
}
