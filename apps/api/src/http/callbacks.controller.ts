import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { z } from 'zod';
import { CursorKeys, pageOf, pageRequestOf, parseStrict } from '#libs/contracts';
import { STATUSES as NOTIFICATION_STATUSES, ValidationError } from '#libs/core';
import { type CallbackDeliveryStatus, CALLBACK_EVENT_TYPES, CallbacksService } from '#libs/notifications';
import { Scopes } from '../auth/scopes.js';
import { idempotencyScopeOf } from './actor.js';
import { UuidPipe } from './uuid.pipe.js';

const Instant = z.string().meta({ format: 'date-time', example: '2026-11-24T02:00:00.000Z' });
const Uuid = z.string().meta({ format: 'uuid' });

/** `POST /v1/callbacks/endpoints` (the URL itself is checked by `parseCallbackUrl`). */
export const CallbackEndpointBodySchema = z.strictObject({
  url: z.string().meta({ format: 'uri', example: 'https://crm.example.com/hooks/notices' }),
});

export const CallbackEndpointSchema = z.object({
  id: Uuid,
  url: z.string().meta({ format: 'uri', example: 'https://crm.example.com/hooks/notices' }),
  createdAt: Instant,
  disabledAt: Instant.nullable(),
});

/** The signed body of a callback (docs/api.md, "Callbacks"). */
export const CallbackEventSchema = z.object({
  id: Uuid.meta({ description: 'Event id: deduplicate on it' }),
  type: z.enum(CALLBACK_EVENT_TYPES),
  createdAt: Instant,
  notificationId: Uuid,
  caseId: z.string(),
  status: z.enum(NOTIFICATION_STATUSES).meta({ description: "The notice's status after the event" }),
  data: z.record(z.string(), z.unknown()),
  evidence: z.object({ caseId: z.string(), seq: z.number().int() }),
});

export const CallbackDeliverySchema = z.object({
  id: z.string(),
  eventId: Uuid,
  type: z.enum(CALLBACK_EVENT_TYPES),
  notificationId: Uuid,
  url: z.string().meta({ format: 'uri' }),
  endpointId: Uuid.nullable(),
  status: z.enum(['pending', 'delivered', 'dead']),
  attempts: z.number().int(),
  nextAttemptAt: Instant.nullable(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: Instant,
  deliveredAt: Instant.nullable(),
  event: CallbackEventSchema,
  attemptLog: z
    .array(
      z.object({
        attempt: z.number().int(),
        startedAt: Instant,
        durationMs: z.number().int(),
        statusCode: z.number().int().nullable(),
        error: z.string().nullable(),
      }),
    )
    .optional()
    .meta({ description: 'Every attempt (one delivery only)' }),
});

/** The callback answers, as OpenAPI components (apps/api/src/observability/openapi.ts). */
export const CALLBACK_RESPONSE_SCHEMAS = {
  CallbackEndpoint: CallbackEndpointSchema,
  CallbackEvent: CallbackEventSchema,
  CallbackDelivery: CallbackDeliverySchema,
  CallbackSecret: z.object({
    secret: z.string().meta({ description: 'HMAC-SHA256 key of X-Callback-Signature' }),
  }),
  CallbackEndpointCreated: z.object({ endpoint: CallbackEndpointSchema, secret: z.string() }),
  CallbackEndpoints: z.object({ items: z.array(CallbackEndpointSchema) }),
  CallbackDeliveryPage: z.object({
    items: z.array(CallbackDeliverySchema),
    next: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page' }),
  }),
} as const satisfies Record<string, z.ZodType>;

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
  async secret(@Req() req: Request) {
    return { secret: await this.callbacks.secret(idempotencyScopeOf(req.apiKey)) };
  }

  @Post('endpoints')
  @HttpCode(201)
  @ApiOperation({ summary: 'Register an endpoint for the status callbacks of all of this caller’s notices' })
  @ApiResponse({ status: 409, description: 'The URL is registered already' })
  add(@Body() body: unknown, @Req() req: Request) {
    const { url } = parseStrict(CallbackEndpointBodySchema, body, 'callback endpoint');
    return this.callbacks.addEndpoint(idempotencyScopeOf(req.apiKey), url);
  }

  @Get('endpoints')
  @ApiOperation({ summary: "The caller's callback endpoints, disabled ones included" })
  async endpoints(@Req() req: Request) {
    return { items: await this.callbacks.endpoints(idempotencyScopeOf(req.apiKey)) };
  }

  @Delete('endpoints/:id')
  @ApiOperation({ summary: 'Disable an endpoint (queued deliveries to it still go out)' })
  @ApiParam({ name: 'id', format: 'uuid' })
  disable(@Param('id', UuidPipe) id: string, @Req() req: Request) {
    return this.callbacks.disableEndpoint(idempotencyScopeOf(req.apiKey), id);
  }

  @Get('deliveries')
  @ApiOperation({ summary: 'Callback deliveries with their state; status=dead is the dead-letter view' })
  @ApiQuery({ name: 'notificationId', required: false })
  @ApiQuery({ name: 'status', required: false, enum: [...STATUSES] })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 500 } })
  @ApiQuery({ name: 'cursor', required: false })
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
  delivery(@Param('id') id: string, @Req() req: Request) {
    return this.callbacks.delivery(idempotencyScopeOf(req.apiKey), id);
  }

  @Post('deliveries/:id/replay')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send a dead or delivered callback again (same event id and body)' })
  @ApiResponse({ status: 409, description: 'The delivery is still pending' })
  replay(@Param('id') id: string, @Req() req: Request) {
    return this.callbacks.replay(idempotencyScopeOf(req.apiKey), id);
  }
}
