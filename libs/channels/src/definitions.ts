/**
 * The channels the service has: one plugin per channel folder, listed once here. Everything that
 * needs to know about channels (the registry, the webhook ingress, address checks, escalation)
 * reads this list or the `CHANNEL_PLUGINS` token built from it; a channel not listed does not
 * exist, and `channelDefinition` refuses it instead of falling into another channel's branch.
 */
import { type Channel, CHANNELS, type Locale } from '#libs/core';
import { emailChannel } from './email/plugin.js';
import { letterChannel } from './letter/plugin.js';
import type { ChannelDefinition, ChannelPlugin } from './plugin.js';
import { smsChannel } from './sms/plugin.js';
import { voiceChannel } from './voice/plugin.js';

export type { ChannelDefinition } from './plugin.js';

export const BUILT_IN_CHANNELS: readonly ChannelPlugin[] = [
  smsChannel,
  emailChannel,
  letterChannel,
  voiceChannel,
];

/** Keyed by every `Channel`: a channel type without a plugin does not compile. */
export const CHANNEL_DEFINITIONS: Readonly<Record<Channel, ChannelPlugin>> = {
  sms: smsChannel,
  email: emailChannel,
  letter: letterChannel,
  voice: voiceChannel,
};

/** The definition of `channel`; throws for a channel the service does not have. */
export function channelDefinition(channel: string): ChannelDefinition {
  if (!(CHANNELS as readonly string[]).includes(channel)) {
    throw new Error(`unknown channel '${channel}' (known: ${CHANNELS.join(', ')})`);
  }
  return CHANNEL_DEFINITIONS[channel as Channel];
}

/** Each channel's name in `locale`, for documents and pages (送达证明, verification page, /legal). */
export function channelLabels(locale: Locale): Record<string, string> {
  return Object.fromEntries(BUILT_IN_CHANNELS.map((p) => [p.channel, p.labels[locale]]));
}
