import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiResponse } from '@nestjs/swagger';

/** Every scope an API key can carry. `admin` implies all the others. */
export const SCOPES = [
  'notifications:send',
  'notifications:read',
  'templates:edit',
  'templates:approve',
  'evidence:read',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(s: unknown): s is Scope {
  return typeof s === 'string' && (SCOPES as readonly string[]).includes(s);
}

export const SCOPES_KEY = 'cns:scopes';
export const PUBLIC_KEY = 'cns:public';
/** Metadata of `@AnyKey`: any valid (unrevoked) API key may call the route, whatever its scopes. */
export const ANY_KEY = 'cns:any-key';
/** Name of the security scheme in the OpenAPI document. */
export const BEARER_SCHEME = 'apiKey';

/** True when a key with `granted` may call a route that needs any one of `required`. */
export function allows(granted: readonly Scope[], required: readonly Scope[]): boolean {
  if (granted.includes('admin')) return true;
  return required.some((s) => granted.includes(s));
}

/**
 * The scopes a route needs (any one of them; `admin` always passes). Routes without `@Scopes`
 * or `@Public` need `admin`, so a new route is closed until someone decides who may call it.
 * Also documents the route in OpenAPI (bearer auth, `x-required-scopes`, 401/403/429).
 */
export function Scopes(...scopes: Scope[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(SCOPES_KEY, scopes),
    ApiBearerAuth(BEARER_SCHEME),
    ApiExtension('x-required-scopes', scopes),
    ApiResponse({ status: 401, description: 'No API key, or an unknown or revoked one' }),
    ApiResponse({ status: 403, description: `The API key lacks the scope (${scopes.join(' or ')})` }),
    ApiResponse({ status: 429, description: 'Rate limit of the API key exceeded (see Retry-After)' }),
  );
}

/** A route anyone may call (health, provider webhooks). */
export function Public(): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(PUBLIC_KEY, true), ApiExtension('x-public', true));
}

/**
 * A route any authenticated API key may call, whatever its scopes (e.g. `GET /v1/auth/whoami`).
 * Still 401 without a valid key. Documented as `x-required-scopes: []` plus `x-any-key: true`.
 */
export function AnyKey(): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(ANY_KEY, true),
    ApiBearerAuth(BEARER_SCHEME),
    ApiExtension('x-required-scopes', []),
    ApiExtension('x-any-key', true),
    ApiResponse({ status: 401, description: 'No API key, or an unknown or revoked one' }),
    ApiResponse({ status: 429, description: 'Rate limit of the API key exceeded (see Retry-After)' }),
  );
}
