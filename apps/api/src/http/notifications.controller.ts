import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  CursorKeys,
  type NotificationView,
  pageOf,
  pageRequestOf,
  parseCreateNotification,
} from '#libs/contracts';
import { ValidationError } from '#libs/core';
import { NotificationsService } from '#libs/notifications';
import { Scopes } from '../auth/scopes.js';
import { Docs } from '../observability/api-docs.js';
import { idempotencyScopeOf } from './actor.js';
import { UuidPipe } from './uuid.pipe.js';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

@Docs.notifications()
@Controller('v1/notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post()
  @HttpCode(202)
  @Scopes('notifications:send')
  @Docs.createNotification()
  async create(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<NotificationView> {
    if (idempotencyKey !== undefined && !KEY_PATTERN.test(idempotencyKey)) {
      throw new ValidationError('Idempotency-Key must be 1-255 visible ASCII characters', [
        { path: 'Idempotency-Key', message: 'invalid' },
      ]);
    }
    const input = parseCreateNotification(body);
    const caller = idempotencyScopeOf(req.apiKey);
    const { notification, created } = await this.notifications.accept(
      input,
      idempotencyKey ? { scope: caller, key: idempotencyKey } : null,
      null,
      caller,
    );
    res.setHeader('Location', `/v1/notifications/${notification.id}`);
    if (!created) res.setHeader('Idempotent-Replayed', 'true');
    return notification;
  }

  @Get(':id')
  @Scopes('notifications:read')
  @Docs.getNotification()
  get(@Param('id', UuidPipe) id: string): Promise<NotificationView> {
    return this.notifications.view(id);
  }

  @Get()
  @Scopes('notifications:read')
  @Docs.listNotifications()
  async list(
    @Query('caseId') caseId: string | undefined,
    @Query('limit') limit: unknown,
    @Query('cursor') cursor: unknown,
  ) {
    if (!caseId || typeof caseId !== 'string') {
      throw new ValidationError('caseId is required', [
        { path: 'caseId', message: 'required query parameter' },
      ]);
    }
    const req = pageRequestOf({ limit, cursor }, 'notifications.byCase', CursorKeys.timeAndId);
    const rows = await this.notifications.listByCase(caseId, req);
    const page = pageOf(rows, req, (n) => [Date.parse(n.createdAt), n.id] as const);
    return { caseId, items: page.items, next: page.next };
  }

  @Post(':id/cancel')
  @Scopes('notifications:send')
  @Docs.cancelNotification()
  @HttpCode(200)
  cancel(@Param('id', UuidPipe) id: string, @Body() body: { reason?: unknown } | undefined) {
    const reason =
      typeof body?.reason === 'string' && body.reason.length <= 500 ? body.reason : 'cancelled by caller';
    return this.notifications.cancel(id, reason);
  }
}
