import type { Channel } from '#libs/core';
import type { ChannelProvider, ReceiptSink } from './provider.js';

/** The provider in use for each channel (DESIGN.md section 3). */
export class ChannelRegistry {
  constructor(private readonly providers: Record<Channel, ChannelProvider>) {}

  get(channel: Channel): ChannelProvider {
    return this.providers[channel];
  }

  /** The provider whose receipts carry this name (receipts are matched by provider + id). */
  byName(name: string): ChannelProvider | undefined {
    for (const p of Object.values(this.providers)) {
      const inner = (p as ChannelProvider & { providers?: () => ChannelProvider[] }).providers?.() ?? [p];
      const hit = inner.find((x) => x.name === name);
      if (hit) return hit;
    }
    return undefined;
  }

  all(): ChannelProvider[] {
    return Object.values(this.providers);
  }

  /** Sandbox providers deliver their simulated receipts through this sink. */
  setReceiptSink(sink: ReceiptSink): void {
    for (const p of this.all()) {
      const withSink = p as ChannelProvider & { setReceiptSink?: (s: ReceiptSink) => void };
      withSink.setReceiptSink?.(sink);
    }
  }

  stop(): void {
    for (const p of this.all()) (p as ChannelProvider & { stop?: () => void }).stop?.();
  }
}
