/**
 * A channel is a plugin: one definition object per channel (`libs/channels/src/<channel>/plugin.ts`)
 * says how its address is taken from a recipient, what it is called in documents, how its
 * providers are built from the configuration (sandbox, failover, routing by number region), and
 * which webhooks it owns besides its providers'. The definitions reach Nest through one token,
 * `CHANNEL_PLUGINS`; the registry, the webhook ingress and the pipeline read them from there.
 * docs/channels.md walks through writing one.
 */
import type { AppConfig } from '#libs/config';
import type { Channel, Locale, Recipient } from '#libs/core';
import type { WebhookOwner } from './inbound.js';
import type { ChannelProvider } from './provider.js';

/** What masking needs of a recipient (stored evidence may hold only these parts). */
export interface MaskableRecipient {
  phone?: string;
  email?: string;
  address?: { province?: string; city?: string };
}

export interface ChannelDefinition {
  channel: Channel;
  /** The recipient field the channel is addressed by (`recipient.<field>`). */
  addressField: 'phone' | 'email' | 'address';
  /** Whether a recipient can be reached on the channel at all (escalation asks before it starts one). */
  reachable(r: Recipient): boolean;
  /** The normalised address a notice goes to; a ValidationError naming the field when it cannot. */
  address(r: Recipient): string;
  /** The channel's name in documents (送达证明, bundles) and pages. */
  labels: Readonly<Record<Locale, string>>;
  /** The address as documents show it to strangers (`138****8000`, `上海市****`); null without one. */
  maskedAddress(r: MaskableRecipient): string | null;
}

export interface ChannelPlugin extends ChannelDefinition {
  /**
   * The channel's provider as configured: the sandbox when nothing is, else the real one(s),
   * wrapped in failover or region routing when several are configured.
   */
  provider(config: AppConfig): ChannelProvider;
  /** Webhooks the channel owns that no provider does (the email events endpoint). */
  inbound?(config: AppConfig, provider: ChannelProvider): WebhookOwner[];
}

/** The Nest token holding every channel plugin (`ChannelPlugin[]`). */
export const CHANNEL_PLUGINS = Symbol('CHANNEL_PLUGINS');
