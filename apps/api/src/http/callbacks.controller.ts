import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { CursorKeys, pageOf, pageRequestOf } from '#libs/contracts';
import { ValidationError } from '#libs/core';
import { type CallbackDeliveryStatus, CALLBACK_EVENT_TYPES, CallbacksService } from '#libs/notifications';
import { Scopes } from '../auth/scopes.js';
import { idempotencyScopeOf } from './actor.js';
import { UuidPipe } from './uuid.pipe.js';

const endpointSchema = {
  type: 'object',
  required: ['id', 'url', 'createdAt', 'disabledAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    url: { type: 'string', format: 'uri', example: 'https://crm.example.com/hooks/notices' },
    createdAt: { type: 'string', format: 'date-time' },
    disabledAt: { type: 'string', format: 'date-time', nullable: true },
  },
};

const eventSchema = {
  type: 'object',
  required: ['id', 'type', 'createdAt', 'notificationId', 'caseId', 'status', 'data', 'evidence'],
  properties: {
    id: { type: 'string', format: 'uuid', description: 'Event id: deduplicate on it' },
    type: { type: 'string', enum: [...CALLBACK_EVENT_TYPES] },
    createdAt: { type: 'string', format: 'date-time' },
    notificationId: { type: 'string', format: 'uuid' },
    caseId: { type: 'string' },
    status: { type: 'string' },
    data: { type: 'object', additionalProperties: true },
    evidence: {
      type: 'object',
      properties: { caseId: { type: 'string' }, seq: { type: 'integer' } },
    },
  },
};

const deliverySchema = {
  type: 'object',
  required: ['id', 'eventId', 'type', 'notificationId', 'url', 'status', 'attempts', 'createdAt', 'event'],
  properties: {
    id: { type: 'string' },
    eventId: { type: 'string', format: 'uuid' },
    type: { type: 'string', enum: [...CALLBACK_EVENT_TYPES] },
    notificationId: { type: 'string', format: 'uuid' },
    url: { type: 'string', format: 'uri' },
    endpointId: { type: 'string', format: 'uuid', nullable: true },
    status: { type: 'string', enum: ['pending', 'delivered', 'dead'] },
    attempts: { type: 'integer' },
    nextAttemptAt: { type: 'string', format: 'date-time', nullable: true },
    lastStatusCode: { type: 'integer', nullable: true },
    lastError: { type: 'string', nullable: true },
    createdAt: { type: 'string', format: 'date-time' },
    deliveredAt: { type: 'string', format: 'date-time', nullable: true },
    event: eventSchema,
    attemptLog: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          attempt: { type: 'integer' },
          startedAt: { type: 'string', format: 'date-time' },
          durationMs: { type: 'integer' },
          statusCode: { type: 'integer', nullable: true },
          error: { type: 'string', nullable: true },
        },
      },
    },
  },
};

const STATUSES: readonly CallbackDeliveryStatus[] = ['pending', 'delivered', 'dead'];

/**
 * Status callbacks of the calling service (docs/api.md, "Callbacks"): its signing secret, its
 * endpoints, every delivery with its attempts (the dead letters are `status=dead`) and replays.
 * A caller sees only its own (its tenant's, or its key's).
 */
@ApiTags('callbacks')
@Scopes('notifications:send')
@Controller('v1/callbacks')
export class CallbacksController {
  constructor(private readonly callbacks: CallbacksService) {}

  @Get('secret')
  @ApiOperation({ summary: "The caller's callback signing secret (made on first use)" })
  @ApiResponse({
    status: 200,
    description: 'HMAC-SHA256 key of the X-Callback-Signature header',
    schema: { type: 'object', required: ['secret'], properties: { secret: { type: 'string' } } },
  })
  async secret(@Req() req: Request) {
    return { secret: await this.callbacks.secret(idempotencyScopeOf(req.apiKey)) };
  }

  @Post('endpoints')
  @HttpCode(201)
  @ApiOperation({ summary: 'Register an endpoint for the status callbacks of all of this caller’s notices' })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['url'],
      additionalProperties: false,
      properties: { url: { type: 'string', format: 'uri' } },
    },
  })
  @ApiResponse({
    status: 201,
    description: 'The endpoint and the signing secret',
    schema: {
      type: 'object',
      properties: { endpoint: endpointSchema, secret: { type: 'string' } },
    },
  })
  @ApiResponse({ status: 409, description: 'The URL is registered already' })
  add(@Body() body: unknown, @Req() req: Request) {
    const fields = body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : null;
    if (!fields || fields.some((f) => f !== 'url')) {
      throw new ValidationError('The body is {"url": "https://…"}', [
        { path: '(body)', message: 'only url' },
      ]);
    }
    return this.callbacks.addEndpoint(idempotencyScopeOf(req.apiKey), (body as { url?: unknown }).url);
  }

  @Get('endpoints')
  @ApiOperation({ summary: "The caller's callback endpoints, disabled ones included" })
  @ApiResponse({
    status: 200,
    description: 'Oldest first',
    schema: { type: 'object', properties: { items: { type: 'array', items: endpointSchema } } },
  })
  async endpoints(@Req() req: Request) {
    return { items: await this.callbacks.endpoints(idempotencyScopeOf(req.apiKey)) };
  }

  @Delete('endpoints/:id')
  @ApiOperation({ summary: 'Disable an endpoint (queued deliveries to it still go out)' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 200, description: 'The disabled endpoint', schema: endpointSchema })
  disable(@Param('id', UuidPipe) id: string, @Req() req: Request) {
    return this.callbacks.disableEndpoint(idempotencyScopeOf(req.apiKey), id);
  }

  @Get('deliveries')
  @ApiOperation({ summary: 'Callback deliveries with their state; status=dead is the dead-letter view' })
  @ApiQuery({ name: 'notificationId', required: false })
  @ApiQuery({ name: 'status', required: false, enum: [...STATUSES] })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 500 } })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiResponse({
    status: 200,
    description: 'One page, oldest first',
    schema: {
      type: 'object',
      properties: {
        items: { type: 'array', items: deliverySchema },
        next: { type: 'string', nullable: true },
      },
    },
  })
  async deliveries(
    @Req() req: Request,
    @Query('notificationId') notificationId: unknown,
    @Query('status') status: unknown,
    @Query('limit') limit: unknown,
    @Query('cursor') cursor: unknown,
  ) {
    if (status !== undefined && !STATUSES.includes(status as CallbackDeliveryStatus)) {
      throw new ValidationError(`status must be one of ${STATUSES.join(', ')}`, [
        { path: 'status', message: `one of ${STATUSES.join(', ')}` },
      ]);
    }
    const nid =
      notificationId === undefined
        ? undefined
        : new UuidPipe().transform(notificationId, { type: 'query', data: 'notificationId' });
    const page = pageRequestOf({ limit, cursor }, 'callbacks.deliveries', CursorKeys.timeAndId);
    const rows = await this.callbacks.deliveries(
      idempotencyScopeOf(req.apiKey),
      { notificationId: nid, status: status as CallbackDeliveryStatus | undefined },
      page.after,
      page.limit + 1,
    );
    return pageOf(rows, page, (d) => [Date.parse(d.createdAt), d.id] as const);
  }

  @Get('deliveries/:id')
  @ApiOperation({ summary: 'One delivery with every attempt' })
  @ApiResponse({ status: 200, description: 'The delivery', schema: deliverySchema })
  delivery(@Param('id') id: string, @Req() req: Request) {
    return this.callbacks.delivery(idempotencyScopeOf(req.apiKey), id);
  }

  @Post('deliveries/:id/replay')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send a dead or delivered callback again (same event id and body)' })
  @ApiResponse({ status: 202, description: 'Queued again', schema: deliverySchema })
  @ApiResponse({ status: 409, description: 'The delivery is still pending' })
  replay(@Param('id') id: string, @Req() req: Request) {
    return this.callbacks.replay(idempotencyScopeOf(req.apiKey), id);
  }
}
