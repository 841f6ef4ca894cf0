import type { ChannelProvider, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';

/**
 * Mainland China numbers have country code 86 and nothing else starts with `+86` (Hong Kong is
 * +852, Macau +853, Taiwan +886), so the E.164 prefix decides.
 */
export function isMainlandNumber(e164: string): boolean {
  return e164.startsWith('+86');
}

/**
 * SMS routed by number region: mainland numbers through the mainland gateways (Aliyun, Tencent
 * Cloud, with failover between them), every other number through the international provider
 * (Twilio, or the sandbox). The same number always takes the same route, so a poll or a
 * reconciliation asks the gateway the message went to.
 */
export class RegionRouter implements ChannelProvider {
  readonly channel = 'sms' as const;
  readonly name: string;
  readonly sandbox: boolean;

  constructor(
    readonly mainland: ChannelProvider,
    readonly international: ChannelProvider,
  ) {
    this.name = `${mainland.name}+${international.name}`;
    this.sandbox = mainland.sandbox && international.sandbox;
  }

  providers(): ChannelProvider[] {
    return [this.mainland, this.international];
  }

  route(to: string): ChannelProvider {
    return isMainlandNumber(to) ? this.mainland : this.international;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const p = this.route(message.to);
    const r = await p.send(message);
    return { ...r, provider: r.provider ?? p.name };
  }

  poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null> {
    return this.route(message.to).poll(providerMessageId, message);
  }

  async findSent(message: OutboundMessage, since: Date): Promise<SendResult | null> {
    const p = this.route(message.to);
    const r = await p.findSent(message, since);
    return r ? { ...r, provider: r.provider ?? p.name } : null;
  }
}
