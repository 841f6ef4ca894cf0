import { type Channel, ValidationError } from '#libs/core';

/** The problem for a recipient without the field a channel is addressed by. */
export function required(channel: Channel, what: string, field: string): ValidationError {
  return new ValidationError(`${what} needs recipient.${field}`, [
    { path: `recipient.${field}`, message: `required for channel ${channel}` },
  ]);
}
