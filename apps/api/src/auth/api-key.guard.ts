import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ForbiddenError, RateLimitedError } from '#libs/core';
import { ApiKeysService, keyFromAuthorization } from './api-keys.service.js';
import { setGrpcCaller } from './principal.js';
import { PER_NOTICE_KEY, RateLimiter, rateLimitHeaders, type RateState } from './rate-limiter.js';
import { allows, ANY_KEY, PUBLIC_KEY, type Scope, SCOPES_KEY } from './scopes.js';

interface GrpcMetadata {
  get(key: string): (string | Buffer)[];
}

/**
 * Global guard for REST and gRPC: every handler needs an API key with one of its `@Scopes`
 * (admin when it has none), except `@Public` ones (no key) and `@AnyKey` ones (any valid key).
 * Sets `req.apiKey` (REST) or the gRPC caller. Then the key's rate limit: one token per request,
 * or, on `@PerNotice` handlers, only a check (the handler takes one token per notice). REST
 * answers carry the `RateLimit-*` headers, 429s too.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
    private readonly limiter: RateLimiter,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const anyKey = this.reflector.getAllAndOverride<boolean>(ANY_KEY, targets) === true;
    const required = this.reflector.getAllAndOverride<Scope[]>(SCOPES_KEY, targets) ?? ['admin'];
    let header: string | undefined;
    let req: Request | undefined;
    let metadata: GrpcMetadata | undefined;
    if (ctx.getType() === 'rpc') {
      metadata = ctx.getArgByIndex<GrpcMetadata>(1);
      const v = metadata?.get('authorization')[0];
      header = typeof v === 'string' ? v : undefined;
    } else {
      req = ctx.switchToHttp().getRequest<Request>();
      header = req.headers.authorization;
    }
    const key = await this.keys.authenticate(keyFromAuthorization(header));
    const principal = { id: key.id, name: key.name, scopes: key.scopes, rateLimit: key.rateLimit };
    if (!anyKey && !allows(key.scopes, required)) {
      throw new ForbiddenError(`This API key lacks the scope ${required.join(' or ')}`, [], {
        requiredScopes: required,
      });
    }
    if (req) req.apiKey = principal;
    if (metadata) setGrpcCaller(metadata, principal);
    const perNotice = this.reflector.getAllAndOverride<boolean>(PER_NOTICE_KEY, targets) === true;
    const res = req ? ctx.switchToHttp().getResponse<Response>() : undefined;
    let state: RateState | null;
    try {
      state = perNotice
        ? await this.limiter.check(key.id, key.rateLimit)
        : await this.limiter.take(key.id, key.rateLimit);
    } catch (err) {
      const s = err instanceof RateLimitedError ? (err.extra.rateLimit as RateState | undefined) : undefined;
      if (res && s) res.set(rateLimitHeaders(s));
      throw err;
    }
    if (res && state) res.set(rateLimitHeaders(state));
    return true;
  }
}
