import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { BUILT_IN_CHANNELS } from './definitions.js';
import { CHANNEL_PLUGINS, type ChannelPlugin } from './plugin.js';
import { SMS_PROVIDER } from './provider.js';
import { ChannelRegistry } from './registry.js';

@Global()
@Module({
  providers: [
    { provide: CHANNEL_PLUGINS, useValue: BUILT_IN_CHANNELS },
    {
      provide: ChannelRegistry,
      inject: [CHANNEL_PLUGINS, APP_CONFIG],
      useFactory: (plugins: readonly ChannelPlugin[], config: AppConfig) =>
        new ChannelRegistry(plugins, config),
    },
    { provide: SMS_PROVIDER, inject: [ChannelRegistry], useFactory: (r: ChannelRegistry) => r.get('sms') },
  ],
  exports: [CHANNEL_PLUGINS, ChannelRegistry, SMS_PROVIDER],
})
export class ChannelsModule {}
