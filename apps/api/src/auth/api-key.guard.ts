import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ForbiddenError } from '#libs/core';
import { ApiKeysService, keyFromAuthorization } from './api-keys.service.js';
import { setGrpcCaller } from './principal.js';
import { allows, ANY_KEY, PUBLIC_KEY, type Scope, SCOPES_KEY } from './scopes.js';

interface GrpcMetadata {
  get(key: string): (string | Buffer)[];
}

/**
 * Global guard for REST and gRPC: every handler needs an API key with one of its `@Scopes`
 * (admin when it has none), except `@Public` ones (no key) and `@AnyKey` ones (any valid key).
 * Sets `req.apiKey` (REST) or the gRPC caller.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
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
    const principal = { id: key.id, name: key.name, scopes: key.scopes };
    if (!anyKey && !allows(key.scopes, required)) {
      throw new ForbiddenError(`This API key lacks the scope ${required.join(' or ')}`, [], {
        requiredScopes: required,
      });
    }
    if (req) req.apiKey = principal;
    if (metadata) setGrpcCaller(metadata, principal);
    return true;
  }
}
