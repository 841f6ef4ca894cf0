import type { AppConfig } from '#libs/config';
import { maskEmail } from '#libs/core';
import { required } from '../address-rules.js';
import { breakerFor, FailoverProvider } from '../failover.js';
import type { ChannelPlugin } from '../plugin.js';
import type { ChannelProvider } from '../provider.js';
import { EmailEventsInbound } from './email-events.inbound.js';
import { SandboxEmailProvider } from './sandbox.email.js';
import { SmtpEmailProvider } from './smtp.email.js';

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
  return new FailoverProvider(primary, secondary, breakerFor(config));
}

/** Email: addressed by `recipient.email`; delivery events come signed to `/webhooks/email`. */
export const emailChannel: ChannelPlugin = {
  channel: 'email',
  addressField: 'email',
  labels: { 'zh-CN': '电子邮件', en: 'Email' },
  maskedAddress: (r) => (r.email ? maskEmail(r.email) : null),
  reachable: (r) => Boolean(r.email),
  address(r) {
    if (!r.email) throw required('email', 'An email', 'email');
    return r.email;
  },
  provider: emailProvider,
  inbound: (config, provider) => [
    new EmailEventsInbound({
      secret: config.email.webhookSecret,
      provider: provider.name,
      messageIdDomain: config.email.messageIdDomain,
    }),
  ],
};
