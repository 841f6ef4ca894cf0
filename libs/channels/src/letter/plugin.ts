import type { AppConfig } from '#libs/config';
import { maskPostalAddress, ValidationError } from '#libs/core';
import { required } from '../address-rules.js';
import type { ChannelPlugin } from '../plugin.js';
import type { ChannelProvider } from '../provider.js';
import { postalKey, validatePostalAddress } from './address.js';
import { PrintRoomProvider } from './print-room.js';
import { PrintVendorProvider } from './print-vendor.js';
import { SandboxPostProvider } from './sandbox.post.js';

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

/** Letters: addressed by `recipient.address`, checked for the envelope window and normalised. */
export const letterChannel: ChannelPlugin = {
  channel: 'letter',
  addressField: 'address',
  labels: { 'zh-CN': '信函', en: 'Letter' },
  maskedAddress: (r) => (r.address ? maskPostalAddress(r.address) : null),
  reachable: (r) => Boolean(r.address),
  address(r) {
    const a = r.address;
    if (!a) throw required('letter', 'A letter', 'address');
    const checked = validatePostalAddress(a, r.name);
    if (!checked.ok) {
      throw new ValidationError(
        'The postal address is not deliverable',
        checked.problems.map((p) => ({
          path: `recipient.address.${p.path}`.replace(/\.$/, ''),
          message: p.message,
        })),
      );
    }
    return postalKey(a);
  },
  provider: letterProvider,
};
