import type { AppConfig } from '#libs/config';
import { required } from '../address-rules.js';
import { breakerFor, FailoverProvider } from '../failover.js';
import type { ChannelPlugin } from '../plugin.js';
import type { ChannelProvider } from '../provider.js';
import { SandboxSmsProvider } from './sandbox.sms.js';
import { TwilioSmsProvider } from './twilio.sms.js';

function twilioProvider(config: AppConfig): ChannelProvider | null {
  const s = config.sms;
  if (s.provider !== 'twilio') return null;
  const primary = new TwilioSmsProvider(s);
  if (!s.secondary) return primary;
  // The second account has its own name, so its callbacks come to /webhooks/twilio-secondary and
  // verify with its own auth token.
  const secondary = new TwilioSmsProvider({ ...s.secondary, timeoutMs: s.timeoutMs }, 'twilio-secondary');
  return new FailoverProvider(primary, secondary, breakerFor(config));
}

/** SMS: addressed by `recipient.phone` (E.164, normalised at accept). */
export const smsChannel: ChannelPlugin = {
  channel: 'sms',
  addressField: 'phone',
  labels: { 'zh-CN': '短信', en: 'SMS' },
  reachable: (r) => Boolean(r.phone),
  address(r) {
    if (!r.phone) throw required('sms', 'An SMS', 'phone');
    return r.phone;
  },
  provider: (config) => twilioProvider(config) ?? new SandboxSmsProvider(config.sandbox.receiptDelayMs),
};
