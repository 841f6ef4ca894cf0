import { Controller, Get, Inject } from '@nestjs/common';
import { CHANNEL_PLUGINS, type ChannelPlugin, ChannelRegistry } from '#libs/channels';
import type { ChannelList } from '#libs/contracts';
import { editableParts, REQUIRED_PARTS } from '#libs/templates';
import { Scopes } from '../auth/scopes.js';

/**
 * The channel registry as callers and the template editor read it: each channel's labels,
 * address field, template parts and configured providers, and the webhook names in use.
 */
@Scopes('notifications:send', 'notifications:read', 'templates:edit', 'templates:approve', 'evidence:read')
@Controller('v1/channels')
export class ChannelsController {
  constructor(
    @Inject(CHANNEL_PLUGINS) private readonly plugins: readonly ChannelPlugin[],
    private readonly registry: ChannelRegistry,
  ) {}

  @Get()
  list(): ChannelList {
    return {
      items: this.plugins.map((p) => ({
        channel: p.channel,
        labels: { ...p.labels },
        addressField: p.addressField,
        parts: editableParts(p.channel),
        requiredParts: [...REQUIRED_PARTS[p.channel]],
        providers: this.registry.providerNames(p.channel),
        sandbox: this.registry.get(p.channel).sandbox,
      })),
      webhooks: this.registry.webhookNames(),
    };
  }
}
