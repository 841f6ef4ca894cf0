import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CircuitBreaker, FailoverProvider } from './failover.js';
import { SandboxEmailProvider } from './email/sandbox.email.js';
import { SmtpEmailProvider } from './email/smtp.email.js';
import { PrintRoomProvider } from './post/print-room.js';
import { PrintVendorProvider } from './post/print-vendor.js';
import { SandboxPostProvider } from './post/sandbox.post.js';
import { SMS_PROVIDER, type ChannelProvider } from './provider.js';
import { ChannelRegistry } from './registry.js';
import { SandboxSmsProvider } from './sms/sandbox.sms.js';
import { TwilioSmsProvider } from './sms/twilio.sms.js';

function breaker(config: AppConfig): CircuitBreaker {
  return new CircuitBreaker(config.breaker.threshold, config.breaker.cooldownMs);
}

function smsProvider(config: AppConfig): ChannelProvider {
  if (config.sms.provider !== 'twilio') return new SandboxSmsProvider(config.sandbox.receiptDelayMs);
  const primary = new TwilioSmsProvider(config.sms);
  const second = config.sms.secondary;
  if (!second) return primary;
  const secondary = new TwilioSmsProvider({ ...second, timeoutMs: config.sms.timeoutMs }, 'twilio-secondary');
  return new FailoverProvider(primary, secondary, breaker(config), (url) => `${url}&acct=secondary`);
}

function emailProvider(config: AppConfig): ChannelProvider {
  const e = config.email;
  if (e.provider === 'sandbox') return new SandboxEmailProvider(config.sandbox.receiptDelayMs);
  const settings = {
    host: e.host,
    port: e.port,
    secure: e.secure,
    auth: e.auth,
    from: e.from,
    messageIdDomain: e.messageIdDomain,
    maxConnections: e.poolSize,
    dkim: e.dkim,
    connectionTimeoutMs: e.timeoutMs,
    greetingTimeoutMs: e.timeoutMs,
    socketTimeoutMs: e.timeoutMs,
  };
  const primary = new SmtpEmailProvider(settings);
  if (!config.smtpSecondary) return primary;
  const secondary = new SmtpEmailProvider({ ...settings, ...config.smtpSecondary });
  return new FailoverProvider(primary, secondary, breaker(config));
}

function letterProvider(config: AppConfig): ChannelProvider {
  const l = config.letter;
  if (l.provider === 'print-vendor' && l.vendor) {
    return new PrintVendorProvider({
      apiBaseUrl: l.vendor.url,
      apiKey: l.vendor.apiKey,
      timeoutMs: l.vendor.timeoutMs,
      webhookSecret: l.vendor.webhookSecret,
    });
  }
  if (l.provider === 'print-room') return new PrintRoomProvider({ root: l.printRoomDir });
  return new SandboxPostProvider(config.sandbox.receiptDelayMs);
}

@Global()
@Module({
  providers: [
    {
      provide: ChannelRegistry,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new ChannelRegistry({
          sms: smsProvider(config),
          email: emailProvider(config),
          letter: letterProvider(config),
        }),
    },
    { provide: SMS_PROVIDER, inject: [ChannelRegistry], useFactory: (r: ChannelRegistry) => r.get('sms') },
  ],
  exports: [ChannelRegistry, SMS_PROVIDER],
})
export class ChannelsModule {}
