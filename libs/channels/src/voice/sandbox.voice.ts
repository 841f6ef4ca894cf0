import { SandboxReceipts } from '../sandbox-receipts.js';
import { ProviderError } from '#libs/core';
import type { ChannelProvider, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';

/**
 * Sandbox voice: places no call; reports `sent` (ringing) and then `delivered` (answered), or
 * `undelivered` (no answer) for numbers ending in 0000, after a short delay. The call id is
 * derived from ours, so a retried send never rings twice. Every receipt is marked `sandbox`.
 */
export class SandboxVoiceProvider extends SandboxReceipts implements ChannelProvider {
  readonly name = 'sandbox-voice';
  readonly channel = 'voice' as const;
  readonly sandbox = true;

  constructor(private readonly receiptDelayMs: number) {
    super();
  }

  static callId(notificationId: string): string {
    return `SBXCA${notificationId.replace(/-/g, '')}`;
  }

  private outcomeFor(to: string): 'delivered' | 'undelivered' {
    return to.endsWith('0000') ? 'undelivered' : 'delivered';
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (!message.to || !message.voice) throw new ProviderError('sandbox-voice: no number or no text', false);
    const id = SandboxVoiceProvider.callId(message.notificationId);
    this.emit(id, message, 'sent', 0);
    this.emit(id, message, this.outcomeFor(message.to), this.receiptDelayMs);
    return {
      providerMessageId: id,
      acceptedAt: new Date(),
      request: { to: message.to, language: message.voice.locale, textLength: message.voice.text.length },
      raw: { sid: id, status: 'queued', sandbox: true },
    };
  }

  private emit(
    id: string,
    message: OutboundMessage,
    outcome: 'sent' | 'delivered' | 'undelivered',
    delay: number,
  ) {
    this.later(delay, () => this.receipt(id, message.notificationId, outcome));
  }

  private receipt(
    id: string,
    notificationId: string,
    outcome: NormalisedReceipt['outcome'],
  ): NormalisedReceipt {
    const status =
      outcome === 'delivered' ? 'completed' : outcome === 'undelivered' ? 'no-answer' : 'ringing';
    return {
      provider: this.name,
      providerMessageId: id,
      notificationId,
      outcome,
      providerStatus: status,
      errorCode: outcome === 'undelivered' ? 'SANDBOX_NO_ANSWER' : undefined,
      occurredAt: new Date(),
      sandbox: true,
      raw: { sid: id, status, sandbox: true },
    };
  }

  async poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null> {
    if (providerMessageId !== SandboxVoiceProvider.callId(message.notificationId)) return null;
    return this.receipt(providerMessageId, message.notificationId, this.outcomeFor(message.to));
  }

  async findSent(): Promise<SendResult | null> {
    // Calls are idempotent by construction (the id is derived from ours): placing it again is safe.
    return null;
  }
}
