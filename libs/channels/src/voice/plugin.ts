import type { AppConfig } from '#libs/config';
import { maskPhone } from '#libs/core';
import { required } from '../address-rules.js';
import type { ChannelPlugin } from '../plugin.js';
import type { ChannelProvider } from '../provider.js';
import { SandboxVoiceProvider } from './sandbox.voice.js';
import { TwilioVoiceProvider } from './twilio.voice.js';

function voiceProvider(config: AppConfig): ChannelProvider {
  if (config.voice) return new TwilioVoiceProvider(config.voice);
  return new SandboxVoiceProvider(config.sandbox.receiptDelayMs);
}

/**
 * Voice reminders (电话提醒): a call that reads the template's text to whoever answers; the call
 * is `delivered` when answered, `undelivered` on no answer or busy (escalation then tries the
 * next channel of the stage, SMS first), `failed` when it could not be placed.
 */
export const voiceChannel: ChannelPlugin = {
  channel: 'voice',
  addressField: 'phone',
  labels: { 'zh-CN': '语音电话', en: 'Voice call' },
  maskedAddress: (r) => (r.phone ? maskPhone(r.phone) : null),
  reachable: (r) => Boolean(r.phone),
  address(r) {
    if (!r.phone) throw required('voice', 'A voice call', 'phone');
    return r.phone;
  },
  provider: voiceProvider,
};
