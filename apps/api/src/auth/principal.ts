import type { RateLimit } from './rate-limiter.js';
import type { Scope } from './scopes.js';

/** The authenticated caller of a request: what `req.apiKey` holds. */
export interface ApiKeyPrincipal {
  id: string;
  name: string;
  scopes: Scope[];
  /** The key's own rate limit (null: the configured default); handlers that count notices use it. */
  rateLimit?: RateLimit | null;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the global ApiKeyGuard on every authenticated route. */
    apiKey?: ApiKeyPrincipal;
  }
}

/** gRPC: the guard records the caller against the call's metadata object. */
const grpcCallers = new WeakMap<object, ApiKeyPrincipal>();

export function setGrpcCaller(metadata: object, p: ApiKeyPrincipal): void {
  grpcCallers.set(metadata, p);
}

export function grpcCaller(metadata: object): ApiKeyPrincipal | undefined {
  return grpcCallers.get(metadata);
}
