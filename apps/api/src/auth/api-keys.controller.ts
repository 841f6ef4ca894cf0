import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { NotFoundError, ValidationError } from '#libs/core';
import { ApiKeysService } from './api-keys.service.js';
import { parseKeyName, parseScopes } from './api-keys.store.js';
import { Scopes, SCOPES } from './scopes.js';

const ID = /^[0-9a-f]{16}$/;

const recordSchema = {
  type: 'object',
  required: ['id', 'name', 'scopes', 'createdBy', 'createdAt', 'revokedAt'],
  properties: {
    id: { type: 'string', example: '3f9c2a1b7d4e8f60' },
    name: { type: 'string', example: 'crm-prod' },
    scopes: { type: 'array', items: { type: 'string', enum: [...SCOPES] }, example: ['notifications:send'] },
    rateLimit: {
      type: 'object',
      nullable: true,
      properties: { perSecond: { type: 'integer' }, burst: { type: 'integer' } },
    },
    createdBy: { type: 'string', example: 'admin' },
    createdAt: { type: 'string', format: 'date-time' },
    revokedAt: { type: 'string', format: 'date-time', nullable: true },
    revokedBy: { type: 'string', nullable: true },
  },
};

function idOf(raw: string): string {
  if (!ID.test(raw))
    throw new ValidationError('id is invalid', [{ path: 'id', message: '16 hex characters' }]);
  return raw;
}

function actorOf(req: Request): string {
  return req.apiKey?.name ?? 'unknown';
}

@ApiTags('admin')
@Scopes('admin')
@Controller('v1/admin/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create an API key (the key is returned once, only its hash is stored)' })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['name', 'scopes'],
      properties: {
        name: { type: 'string', example: 'crm-prod' },
        scopes: { type: 'array', items: { type: 'string', enum: [...SCOPES] } },
        rateLimit: {
          type: 'object',
          required: ['perSecond', 'burst'],
          properties: { perSecond: { type: 'integer', minimum: 0 }, burst: { type: 'integer', minimum: 1 } },
        },
      },
      example: { name: 'crm-prod', scopes: ['notifications:send', 'notifications:read'] },
    },
  })
  @ApiResponse({
    status: 201,
    description: 'The new key',
    schema: {
      allOf: [recordSchema, { type: 'object', required: ['key'], properties: { key: { type: 'string' } } }],
    },
  })
  @ApiResponse({ status: 400, description: 'Invalid name, scopes or rate limit' })
  async create(@Body() body: Record<string, unknown> | undefined, @Req() req: Request) {
    const rl = body?.rateLimit as { perSecond?: unknown; burst?: unknown } | undefined;
    let rateLimit: { perSecond: number; burst: number } | undefined;
    if (rl !== undefined) {
      const ok =
        typeof rl === 'object' &&
        rl !== null &&
        Number.isInteger(rl.perSecond) &&
        Number.isInteger(rl.burst) &&
        (rl.perSecond as number) >= 0 &&
        (rl.burst as number) >= 1;
      if (!ok) {
        throw new ValidationError('rateLimit is invalid', [
          { path: 'rateLimit', message: '{ perSecond: integer >= 0, burst: integer >= 1 }' },
        ]);
      }
      rateLimit = { perSecond: rl.perSecond as number, burst: rl.burst as number };
    }
    const { key, record } = await this.keys.create(
      { name: parseKeyName(body?.name), scopes: parseScopes(body?.scopes), rateLimit },
      actorOf(req),
    );
    return { ...record, key };
  }

  @Get()
  @ApiOperation({ summary: 'List API keys (never their secrets)' })
  @ApiResponse({
    status: 200,
    description: 'Every key, revoked ones included',
    schema: { type: 'object', properties: { items: { type: 'array', items: recordSchema } } },
  })
  async list() {
    return { items: await this.keys.list() };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One API key' })
  @ApiParam({ name: 'id', example: '3f9c2a1b7d4e8f60' })
  @ApiResponse({ status: 200, description: 'The key', schema: recordSchema })
  @ApiResponse({ status: 404, description: 'No such key' })
  async get(@Param('id') id: string) {
    const rec = await this.keys.store.get(idOf(id));
    if (!rec) throw new NotFoundError(`No API key ${id}`);
    return rec;
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke an API key (effective within API_KEY_CACHE_MS in other processes)' })
  @ApiParam({ name: 'id', example: '3f9c2a1b7d4e8f60' })
  @ApiResponse({ status: 200, description: 'The revoked key', schema: recordSchema })
  @ApiResponse({ status: 404, description: 'No such key' })
  revoke(@Param('id') id: string, @Req() req: Request) {
    return this.keys.revoke(idOf(id), actorOf(req));
  }
}
