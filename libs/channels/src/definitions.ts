/**
 * What the pipeline knows about each channel, in one place: which recipient field addresses it,
 * how that address is checked and normalised, and where its provider's delivery reports come in.
 * The table is keyed by every `Channel` (a new channel does not compile until it is described),
 * and `channelDefinition` refuses a channel it does not know instead of falling into another
 * channel's branch. (Issue 14: the first step of channels as plugins.)
 */
import { type Channel, CHANNELS, type Recipient, ValidationError } from '#libs/core';
import { postalKey, validatePostalAddress } from './post/address.js';

export interface ChannelDefinition {
  channel: Channel;
  /** The recipient field the channel is addressed by (`recipient.<field>`). */
  addressField: 'phone' | 'email' | 'address';
  /** Whether a recipient can be reached on the channel at all (escalation asks before it starts one). */
  reachable(r: Recipient): boolean;
  /** The normalised address a notice goes to; a ValidationError naming the field when it cannot. */
  address(r: Recipient): string;
  /** The api route that takes this channel's delivery reports (`?nid=` is added where the provider echoes it). */
  receiptPath(notificationId: string): string;
}

function required(channel: Channel, what: string, field: string): ValidationError {
  return new ValidationError(`${what} needs recipient.${field}`, [
    { path: `recipient.${field}`, message: `required for channel ${channel}` },
  ]);
}

export const CHANNEL_DEFINITIONS: Readonly<Record<Channel, ChannelDefinition>> = {
  sms: {
    channel: 'sms',
    addressField: 'phone',
    reachable: (r) => Boolean(r.phone),
    address(r) {
      if (!r.phone) throw required('sms', 'An SMS', 'phone');
      return r.phone;
    },
    receiptPath: (id) => `/webhooks/twilio/status?nid=${id}`,
  },
  email: {
    channel: 'email',
    addressField: 'email',
    reachable: (r) => Boolean(r.email),
    address(r) {
      if (!r.email) throw required('email', 'An email', 'email');
      return r.email;
    },
    receiptPath: () => '/webhooks/email/events',
  },
  letter: {
    channel: 'letter',
    addressField: 'address',
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
    receiptPath: () => '/webhooks/post/events',
  },
};

/** The definition of `channel`; throws for a channel the service does not have. */
export function channelDefinition(channel: string): ChannelDefinition {
  if (!(CHANNELS as readonly string[]).includes(channel)) {
    throw new Error(`unknown channel '${channel}' (known: ${CHANNELS.join(', ')})`);
  }
  return CHANNEL_DEFINITIONS[channel as Channel];
}
