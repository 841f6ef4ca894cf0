import { SandboxReceipts } from '../sandbox-receipts.js';
import type { ChannelProvider, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';
import { checkLetter } from './letter-request.js';
import { postEventOutcome } from './post-events.js';

type SandboxStep = 'printed' | 'mailed' | 'delivered' | 'returned';

/**
 * Sandbox letters: accepts every valid letter (same checks as the real adapters: PDF, hash, address),
 * then reports printed -> mailed -> delivered (signer `SANDBOX`), or printed -> mailed ->
 * returned/bad_address when the postcode ends in 0000. The provider id is derived from our id, so a
 * retried send never makes a second letter. Every receipt is marked `sandbox` (never legal proof).
 */
export class SandboxPostProvider extends SandboxReceipts implements ChannelProvider {
  static readonly SIGNER = 'SANDBOX';
  readonly name = 'sandbox-post';
  readonly channel = 'letter' as const;
  readonly sandbox = true;

  /** `receiptDelayMs`: time from send to the final receipt (printed at 0, mailed halfway). */
  constructor(private readonly receiptDelayMs: number) {
    super();
  }

  static providerId(notificationId: string): string {
    return `SBXL${notificationId.replace(/-/g, '')}`;
  }

  static returns(postcode: string): boolean {
    return postcode.trim().endsWith('0000');
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const { letter, address } = checkLetter(this.name, message);
    const id = SandboxPostProvider.providerId(message.notificationId);
    const final: SandboxStep = SandboxPostProvider.returns(address.postcode) ? 'returned' : 'delivered';
    this.schedule(id, message.notificationId, 'printed', 0);
    this.schedule(id, message.notificationId, 'mailed', Math.floor(this.receiptDelayMs / 2));
    this.schedule(id, message.notificationId, final, this.receiptDelayMs);
    return {
      providerMessageId: id,
      acceptedAt: new Date(),
      request: {
        documentId: letter.documentId,
        service: letter.service,
        country: address.country,
        postcode: address.postcode,
        pdfSha256: letter.pdfSha256,
        pdfBytes: letter.pdf.length,
      },
      raw: { id, status: 'accepted', sandbox: true },
    };
  }

  private schedule(id: string, notificationId: string, step: SandboxStep, delay: number): void {
    this.later(delay, () => this.receipt(id, notificationId, step));
  }

  private receipt(id: string, notificationId: string | null, step: SandboxStep): NormalisedReceipt {
    const mapping = postEventOutcome(step);
    const receipt: NormalisedReceipt = {
      provider: this.name,
      providerMessageId: id,
      notificationId,
      outcome: mapping.outcome,
      providerStatus: step,
      occurredAt: new Date(),
      sandbox: true,
      raw: { id, type: step, sandbox: true },
    };
    if (mapping.postEvent) receipt.postEvent = mapping.postEvent;
    if (step === 'delivered') receipt.signer = SandboxPostProvider.SIGNER;
    if (step === 'returned') {
      receipt.returnReason = 'bad_address';
      receipt.errorCode = 'SANDBOX_0000';
    }
    return receipt;
  }

  async poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null> {
    if (providerMessageId !== SandboxPostProvider.providerId(message.notificationId)) return null;
    const postcode = message.letter?.address.postcode ?? '';
    return this.receipt(
      providerMessageId,
      message.notificationId,
      SandboxPostProvider.returns(postcode) ? 'returned' : 'delivered',
    );
  }

  async findSent(message: OutboundMessage): Promise<SendResult | null> {
    // Sends are idempotent by construction (the id is derived from ours): resending is safe.
    void message;
    return null;
  }
}
