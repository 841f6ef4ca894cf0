import { SandboxReceipts } from '../sandbox-receipts.js';
import { createHash } from 'node:crypto';
import { ProviderError } from '#libs/core';
import type { ChannelProvider, Json, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';
import { isWireForm } from './eml.js';
import { messageIdFor } from './message-id.js';

type SandboxFate = 'delivered' | 'hard_bounce' | 'complaint';

/**
 * Sandbox email: accepts every message, then reports `sent` and, after a short delay,
 * `delivered`, or a hard bounce (`undelivered`, bounce `hard`) when the local part of the
 * address ends in `0000`; a local part ending in `0002` is delivered and then complains (opt-out).
 * The provider id is a Message-ID derived from our id in the reserved `sandbox.invalid` domain,
 * so a retried send cannot produce a second message. Every receipt is marked `sandbox`.
 * Like SMTP it takes the stored `.eml` (`EmailContent.raw`) as the message, refuses bytes that
 * would not go over SMTP unchanged, and records their SHA-256 and size in `request`.
 */
export class SandboxEmailProvider extends SandboxReceipts implements ChannelProvider {
  static readonly DOMAIN = 'sandbox.invalid';
  readonly name = 'sandbox-email';
  readonly channel = 'email' as const;
  readonly sandbox = true;

  constructor(private readonly receiptDelayMs: number) {
    super();
  }

  static providerId(notificationId: string): string {
    return messageIdFor(notificationId, SandboxEmailProvider.DOMAIN);
  }

  static fate(to: string): SandboxFate {
    const at = to.lastIndexOf('@');
    const local = at >= 0 ? to.slice(0, at) : to;
    if (local.endsWith('0000')) return 'hard_bounce';
    if (local.endsWith('0002')) return 'complaint';
    return 'delivered';
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    if (!message.to || !message.to.includes('@'))
      throw new ProviderError('sandbox: missing recipient', false);
    if (!message.email) throw new ProviderError('sandbox: message has no email part', false);
    const raw = message.email.raw;
    if (raw && !isWireForm(raw))
      throw new ProviderError('sandbox: the message has a bare CR or LF or no final CRLF', false);
    const providerMessageId = SandboxEmailProvider.providerId(message.notificationId);
    const fate = SandboxEmailProvider.fate(message.to);
    this.emit(this.receipt(providerMessageId, message.notificationId, 'sent'), 0);
    this.emit(this.finalReceipt(providerMessageId, message.notificationId, fate), this.receiptDelayMs);
    if (fate === 'complaint') {
      this.emit(
        this.receipt(providerMessageId, message.notificationId, 'complaint'),
        this.receiptDelayMs * 2,
      );
    }
    return {
      providerMessageId,
      acceptedAt: new Date(),
      request: {
        messageId: providerMessageId,
        to: message.to,
        // What a relay would have received: the stored bytes, unchanged.
        sha256: raw ? createHash('sha256').update(raw).digest('hex') : null,
        size: raw ? raw.length : null,
        subjectLength: message.email.subject.length,
        attachments: (message.email.attachments ?? []).map((a) => ({
          filename: a.filename,
          size: a.content.length,
        })),
      },
      raw: { messageId: providerMessageId, response: '250 2.0.0 sandbox: accepted', sandbox: true },
    };
  }

  private emit(receipt: NormalisedReceipt, delay: number): void {
    this.later(delay, () => ({ ...receipt, occurredAt: new Date() }));
  }

  private finalReceipt(id: string, notificationId: string, fate: SandboxFate): NormalisedReceipt {
    return this.receipt(id, notificationId, fate === 'hard_bounce' ? 'hard_bounce' : 'delivered');
  }

  private receipt(
    id: string,
    notificationId: string,
    kind: 'sent' | 'delivered' | 'hard_bounce' | 'complaint',
  ): NormalisedReceipt {
    const base = {
      provider: this.name,
      providerMessageId: id,
      notificationId,
      occurredAt: new Date(),
      sandbox: true,
    };
    switch (kind) {
      case 'hard_bounce':
        return {
          ...base,
          outcome: 'undelivered',
          providerStatus: 'bounce:hard',
          bounce: 'hard',
          errorCode: '5.1.1',
          raw: { messageId: id, event: 'bounce', bounce: 'hard', status: '5.1.1', sandbox: true },
        };
      case 'complaint':
        return {
          ...base,
          outcome: 'delivered',
          providerStatus: 'complaint',
          complaint: true,
          raw: { messageId: id, event: 'complaint', sandbox: true },
        };
      default:
        return {
          ...base,
          outcome: kind,
          providerStatus: kind,
          raw: { messageId: id, event: kind, sandbox: true },
        };
    }
  }

  async poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null> {
    if (providerMessageId !== SandboxEmailProvider.providerId(message.notificationId)) return null;
    const fate = SandboxEmailProvider.fate(message.to);
    const receipt = this.finalReceipt(providerMessageId, message.notificationId, fate);
    return { ...receipt, raw: { ...(receipt.raw as Record<string, Json>), polled: true } };
  }

  async findSent(_message: OutboundMessage, _since: Date): Promise<SendResult | null> {
    // Sends are idempotent by construction (the id is derived from ours): resending is safe.
    return null;
  }
}
