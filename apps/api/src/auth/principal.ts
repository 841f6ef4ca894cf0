import type { Scope } from './scopes.js';

/** The authenticated caller of a request: what `req.apiKey` holds. */
export interface ApiKeyPrincipal {
  id: string;
  name: string;
  scopes: Scope[];
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
