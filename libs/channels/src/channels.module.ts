import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { SMS_PROVIDER, type SmsProvider } from './provider.js';
import { SandboxSmsProvider } from './sms/sandbox.sms.js';
import { TwilioSmsProvider } from './sms/twilio.sms.js';

@Global()
@Module({
  providers: [
    {
      provide: SMS_PROVIDER,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): SmsProvider =>
        config.sms.provider === 'twilio'
          ? new TwilioSmsProvider(config.sms)
          : new SandboxSmsProvider(config.sandbox.receiptDelayMs),
    },
  ],
  exports: [SMS_PROVIDER],
})
export class ChannelsModule {}
