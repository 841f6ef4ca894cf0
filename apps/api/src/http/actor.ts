import type { Request } from 'express';

/**
 * Who is acting on this request: the name of the authenticated API key (set by the global
 * ApiKeyGuard). Headers the caller sends (such as `X-User`) are never trusted for identity.
 */
export function actorOf(req: Request): string {
  return req.apiKey?.name ?? 'anonymous';
}
