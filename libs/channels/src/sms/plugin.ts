import type { AppConfig, MainlandSmsSettings } from '#libs/config';
import { maskPhone } from '#libs/core';
import { required } from '../address-rules.js';
import { breakerFor, FailoverProvider } from '../failover.js';
import type { ChannelPlugin } from '../plugin.js';
import type { ChannelProvider } from '../provider.js';
import { AliyunSmsProvider } from './aliyun/aliyun.sms.js';
import { RegionRouter } from './region-router.js';
import { SandboxSmsProvider } from './sandbox.sms.js';
import { TencentSmsProvider } from './tencent/tencent.sms.js';
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

function mainlandGateway(s: MainlandSmsSettings): ChannelProvider {
  switch (s.kind) {
    case 'tencent': {
      const { kind: _kind, maxVariableLength: _max, ...settings } = s;
      return new TencentSmsProvider(settings);
    }
    case 'aliyun': {
      const { kind: _kind, maxVariableLength: _max, ...settings } = s;
      return new AliyunSmsProvider(settings);
    }
  }
}

/**
 * The configured SMS route: mainland numbers through the SMS_CN_PROVIDERS gateways (the first,
 * then the next when its breaker opens), others through SMS_PROVIDER (Twilio or the sandbox).
 */
function smsProvider(config: AppConfig): ChannelProvider {
  const international = twilioProvider(config) ?? new SandboxSmsProvider(config.sandbox.receiptDelayMs);
  const gateways = config.smsMainland.map(mainlandGateway);
  if (gateways.length === 0) return international;
  const mainland = gateways.reduceRight(
    (secondary, primary) => new FailoverProvider(primary, secondary, breakerFor(config)),
  );
  return new RegionRouter(mainland, international);
}

/** SMS: addressed by `recipient.phone` (E.164, normalised at accept). */
export const smsChannel: ChannelPlugin = {
  channel: 'sms',
  addressField: 'phone',
  labels: { 'zh-CN': '短信', en: 'Text message' },
  maskedAddress: (r) => (r.phone ? maskPhone(r.phone) : null),
  reachable: (r) => Boolean(r.phone),
  address(r) {
    if (!r.phone) throw required('sms', 'An SMS', 'phone');
    return r.phone;
  },
  provider: smsProvider,
};
