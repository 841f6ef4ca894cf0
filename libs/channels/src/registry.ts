import type { AppConfig } from '#libs/config';
import type { Channel } from '#libs/core';
import { isWebhookOwner, type WebhookOwner } from './inbound.js';
import type { ChannelPlugin } from './plugin.js';
import type { ChannelProvider, ReceiptSink } from './provider.js';

type Composite = ChannelProvider & { providers?: () => ChannelProvider[] };

/** Every provider inside `p` (failover pairs, region routers), `p` itself included. */
function flatten(p: ChannelProvider): ChannelProvider[] {
  const inner = (p as Composite).providers?.();
  return inner ? [p, ...inner.flatMap(flatten)] : [p];
}

/**
 * The channels in use (from the `CHANNEL_PLUGINS` token) and the provider each was configured
 * with (DESIGN.md section 3), plus the webhook owners: every provider that takes HTTP delivery
 * reports and the channels' own endpoints, by the name `POST /webhooks/:provider` carries.
 */
export class ChannelRegistry {
  private readonly providers = new Map<Channel, ChannelProvider>();
  private readonly plugins = new Map<Channel, ChannelPlugin>();
  private readonly owners = new Map<string, WebhookOwner>();

  constructor(plugins: readonly ChannelPlugin[], config: AppConfig) {
    for (const plugin of plugins) {
      if (this.plugins.has(plugin.channel))
        throw new Error(`channel '${plugin.channel}' is registered twice`);
      const provider = plugin.provider(config);
      this.plugins.set(plugin.channel, plugin);
      this.providers.set(plugin.channel, provider);
      const owners: WebhookOwner[] = [
        ...flatten(provider).filter((p): p is ChannelProvider & WebhookOwner => isWebhookOwner(p)),
        ...(plugin.inbound?.(config, provider) ?? []),
      ];
      for (const o of owners) {
        const taken = this.owners.get(o.webhookName);
        if (taken && taken !== o) throw new Error(`webhook name '${o.webhookName}' is owned twice`);
        this.owners.set(o.webhookName, o);
      }
    }
  }

  get(channel: Channel): ChannelProvider {
    const p = this.providers.get(channel);
    if (!p) throw new Error(`channel '${channel}' has no plugin registered`);
    return p;
  }

  plugin(channel: Channel): ChannelPlugin {
    const p = this.plugins.get(channel);
    if (!p) throw new Error(`channel '${channel}' has no plugin registered`);
    return p;
  }

  channels(): Channel[] {
    return [...this.plugins.keys()];
  }

  /** The provider whose receipts carry this name (receipts are matched by provider + id). */
  byName(name: string): ChannelProvider | undefined {
    for (const p of this.providers.values()) {
      const hit = flatten(p).find((x) => x.name === name);
      if (hit) return hit;
    }
    return undefined;
  }

  /** The providers that actually send on `channel` (inside failover and routing), in order. */
  providerNames(channel: Channel): string[] {
    return flatten(this.get(channel))
      .filter((p) => !(p as Composite).providers)
      .map((p) => p.name);
  }

  /** Every name `POST /webhooks/<name>` answers, sorted. */
  webhookNames(): string[] {
    return [...this.owners.keys()].sort();
  }

  /** Who answers `POST /webhooks/<name>`; undefined when nothing configured does. */
  webhookOwner(name: string): WebhookOwner | undefined {
    return this.owners.get(name);
  }

  all(): ChannelProvider[] {
    return [...this.providers.values()];
  }

  /** Sandbox providers deliver their simulated receipts through this sink. */
  setReceiptSink(sink: ReceiptSink): void {
    for (const p of this.all().flatMap(flatten)) {
      const withSink = p as ChannelProvider & { setReceiptSink?: (s: ReceiptSink) => void };
      withSink.setReceiptSink?.(sink);
    }
  }

  stop(): void {
    for (const p of this.all().flatMap(flatten)) (p as ChannelProvider & { stop?: () => void }).stop?.();
  }
}
