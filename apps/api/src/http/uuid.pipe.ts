import { type ArgumentMetadata, Injectable, type PipeTransform } from '@nestjs/common';
import { ValidationError } from '#libs/core';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A UUID path parameter, in either case (RFC 4122 says UUIDs compare case-insensitively and are
 * written in lower case), answered under its lower-case form: ids are stored lower-case, so
 * `/v1/notifications/0F3A…` finds the notice `0f3a…`. Anything else is a 400 naming the parameter.
 */
@Injectable()
export class UuidPipe implements PipeTransform<unknown, string> {
  transform(value: unknown, meta: ArgumentMetadata): string {
    const name = meta.data ?? 'id';
    if (typeof value !== 'string' || !UUID.test(value)) {
      throw new ValidationError(`${name} must be a UUID`, [{ path: name, message: 'not a UUID' }]);
    }
    return value.toLowerCase();
  }
}
