import { channelDefinition } from '#libs/channels';
import { Inject, Injectable } from '@nestjs/common';
import { postalKey, validatePostalAddress } from '#libs/channels';
import {
  addressKey,
  type Channel,
  CLOCK,
  type Clock,
  type PostalAddress,
  storedAddressKey,
  ValidationError,
} from '#libs/core';
import { Db } from '#libs/persistence';
import { OptOutRepository } from './repositories.js';

export type OptOutReason = 'opt_out' | 'complaint' | 'hard_bounce' | 'contact_refused';

/**
 * The matching key of an opt-out as given by a caller: the same normalisation as the address a
 * send goes to (libs/core/src/address-key.ts for numbers and email, `postalKey` for letters), so
 * `139-4332-1315` stops an SMS to `+8613943321315`. Anything else is a ValidationError on `path`.
 */
export function optOutKey(address: string | PostalAddress, channel: Channel | '*', path = 'address'): string {
  if (typeof address !== 'string') {
    if (channel !== 'letter') {
      throw new ValidationError('A postal address opts out of letters only', [
        { path: 'channel', message: 'must be letter for a postal address' },
      ]);
    }
    const checked = validatePostalAddress(address);
    if (!checked.ok) {
      throw new ValidationError(
        'The postal address is not valid',
        checked.problems.map((p) => ({ path: `${path}.${p.path}`.replace(/\.$/, ''), message: p.message })),
      );
    }
    return postalKey(address);
  }
  if (channel === 'letter') {
    throw new ValidationError('A letter opt-out needs a postal address object', [
      { path, message: 'a postal address object (country, street, postcode, …) is expected for letters' },
    ]);
  }
  const field = channel === '*' ? undefined : channelDefinition(channel).addressField;
  const k = addressKey(address, field === 'phone' || field === 'email' ? field : undefined);
  if (!k.ok)
    throw new ValidationError(`${path} is not a phone number or email address`, [
      { path, message: k.message },
    ]);
  return k.key;
}

/** Opt-outs per address and channel (`*` = every channel), and contacts who refused. */
@Injectable()
export class OptOutsService {
  constructor(
    private readonly db: Db,
    private readonly optOuts: OptOutRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Records an opt-out under its normalised key and returns that key. */
  async add(
    address: string | PostalAddress,
    channel: Channel | '*',
    reason: OptOutReason,
    source: string,
  ): Promise<string> {
    const key = optOutKey(address, channel);
    await this.optOuts.add(this.db, { key, channel, reason, source, at: this.clock.now().getTime() });
    return key;
  }

  async list(address: string): Promise<{ channel: string; reason: string; createdAt: string }[]> {
    const rows = await this.optOuts.ofAddress(storedAddressKey('*', address));
    return rows.map((r) => ({
      channel: r.channel,
      reason: r.reason,
      createdAt: new Date(Number(r.created_at)).toISOString(),
    }));
  }
}
