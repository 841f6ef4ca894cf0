import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ValidationError } from '#libs/core';
import { ALERT_KINDS, EvidenceIntegrity } from '#libs/evidence';
import { Scopes } from '../auth/scopes.js';
import { actorOf } from './actor.js';

const alertSchema = {
  type: 'object',
  required: ['id', 'createdAt', 'kind', 'detail', 'acknowledged'],
  properties: {
    id: { type: 'integer', example: 1 },
    createdAt: { type: 'string', format: 'date-time' },
    kind: {
      type: 'string',
      enum: [...ALERT_KINDS],
    },
    detail: { type: 'string', example: 'log leaf 41 (case C-1 seq 9, event row 42): the event row is gone' },
    acknowledged: {
      type: 'object',
      nullable: true,
      properties: { at: { type: 'string', format: 'date-time' }, by: { type: 'string' } },
    },
  },
};

/**
 * Evidence integrity alerts (docs/evidence.md, "Transparency log"): while one is open, new
 * checkpoints and bundle downloads are refused. Acknowledging records who and when; the alert
 * stays in the history.
 */
@ApiTags('admin')
@Scopes('admin')
@Controller('v1/admin/evidence/alerts')
export class EvidenceAlertsController {
  constructor(private readonly integrity: EvidenceIntegrity) {}

  @Get()
  @ApiOperation({ summary: 'Evidence integrity alerts, acknowledged ones included' })
  @ApiResponse({
    status: 200,
    description: 'Every alert, oldest first',
    schema: { type: 'object', properties: { items: { type: 'array', items: alertSchema } } },
  })
  async list() {
    return { items: await this.integrity.alerts() };
  }

  @Post(':id/ack')
  @HttpCode(200)
  @ApiOperation({ summary: 'Acknowledge an evidence integrity alert (unblocks checkpoints and bundles)' })
  @ApiParam({ name: 'id', example: 1 })
  @ApiResponse({ status: 200, description: 'The acknowledged alert', schema: alertSchema })
  @ApiResponse({ status: 404, description: 'No such alert' })
  async ack(@Param('id') id: string, @Req() req: Request) {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) {
      throw new ValidationError('id is invalid', [{ path: 'id', message: 'a positive integer' }]);
    }
    return this.integrity.acknowledge(Number(id), actorOf(req));
  }
}
