import type { Request } from 'express';

/**
 * Who is acting on this request: the name of the authenticated API key (set by the global
 * ApiKeyGuard). Headers the caller sends (such as `X-User`) are never trusted for identity.
 */
export function actorOf(req: Request): string {
  return req.apiKey?.name ?? 'anonymous';
}

/**
 * The idempotency scope of a caller (docs/api.md, "Idempotency"): the tenant its API key belongs
 * to when it has one, else the key itself. Never taken from a header.
 */
export function idempotencyScopeOf(p: { id: string; tenant?: string | null } | undefined): string {
  if (!p) return 'anonymous';
  return p.tenant ? `tenant:${p.tenant}` : `key:${p.id}`;
}
