import { Controller, Get, Req } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { UnauthenticatedError } from '#libs/core';
import { AnyKey, type Scope, SCOPES } from './scopes.js';

/** Who am I: the name and scopes of the calling API key (the editor page shows them). */
@ApiTags('auth')
@Controller('v1/auth')
export class WhoamiController {
  @AnyKey()
  @Get('whoami')
  @ApiOperation({ summary: 'The name and scopes of the calling API key (any valid key may ask)' })
  @ApiResponse({
    status: 200,
    description: 'The calling key',
    schema: {
      type: 'object',
      required: ['name', 'scopes'],
      properties: {
        name: { type: 'string', example: 'editor.zhang' },
        scopes: { type: 'array', items: { type: 'string', enum: [...SCOPES] }, example: ['templates:edit'] },
      },
    },
  })
  whoami(@Req() req: Request): { name: string; scopes: Scope[] } {
    const key = req.apiKey;
    if (!key) throw new UnauthenticatedError('An API key is required (Authorization: Bearer <key>)');
    return { name: key.name, scopes: [...key.scopes] };
  }
}
