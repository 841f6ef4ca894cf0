import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import {
  CursorKeys,
  HoldBodySchema,
  type OptOutBody,
  OptOutBodySchema,
  pageOf,
  pageRequestOf,
  parseStrict,
} from '#libs/contracts';
import { ValidationError } from '#libs/core';
import { HoldsService, OptOutsService, type OptOutReason, parseHoldKind } from '#libs/notifications';
import { actorOf } from './actor.js';
import { Scopes } from '../auth/scopes.js';
import { Docs } from '../observability/api-docs.js';

const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function caseIdOf(raw: string): string {
  if (!CASE_ID.test(raw))
    throw new ValidationError('caseId is invalid', [{ path: 'caseId', message: 'invalid' }]);
  return raw;
}

@Docs.cases()
@Controller()
export class CasesController {
  constructor(
    private readonly holds: HoldsService,
    private readonly optOuts: OptOutsService,
  ) {}

  /** Places (or updates) a hold: pending notices are cancelled, new ones refused with 409. */
  @Put('v1/cases/:caseId/hold')
  @Scopes('notifications:send')
  @Docs.placeHold()
  @HttpCode(200)
  place(
    @Param('caseId') caseId: string,
    @Body() body: Record<string, unknown> | undefined,
    @Req() req: Request,
  ) {
    const parsed = parseStrict(HoldBodySchema, body, 'hold');
    const kind = parseHoldKind(parsed.kind);
    const until = parsed.until ?? undefined;
    return this.holds.place(caseIdOf(caseId), { kind, until, reason: parsed.reason }, actorOf(req));
  }

  /** Releases the case's hold of `kind` (every active hold when absent); notices it cancelled resume. */
  @Delete('v1/cases/:caseId/hold')
  @Scopes('notifications:send')
  @Docs.releaseHold()
  @HttpCode(200)
  async release(
    @Param('caseId') caseId: string,
    @Query('kind') kind: string | undefined,
    @Req() req: Request,
  ) {
    const k = kind === undefined ? undefined : parseHoldKind(kind);
    return { released: await this.holds.release(caseIdOf(caseId), k, actorOf(req)) };
  }

  @Get('v1/cases/:caseId/holds')
  @Scopes('notifications:read')
  @Docs.listHolds()
  async list(
    @Param('caseId') caseId: string,
    @Query('limit') limit: unknown,
    @Query('cursor') cursor: unknown,
  ) {
    const id = caseIdOf(caseId);
    const req = pageRequestOf({ limit, cursor }, 'holds.byCase', CursorKeys.timeAndId);
    const rows = await this.holds.listPage(id, req.after, req.limit + 1);
    const page = pageOf(rows, req, (h) => [Date.parse(h.createdAt), h.id] as const);
    return { caseId, holds: page.items, next: page.next };
  }

  /** Records an opt-out (or a contact's refusal) for an address on a channel (`*` = all). */
  @Post('v1/opt-outs')
  @Scopes('notifications:send')
  @Docs.optOut()
  @HttpCode(201)
  async optOut(@Body() body: Record<string, unknown> | undefined, @Req() req: Request) {
    const { address, channel, reason } = parseStrict(OptOutBodySchema, body, 'opt-out') as OptOutBody;
    // Stored (and answered) under the key sends match on: `139-4332-1315` -> `+8613943321315`.
    const key = await this.optOuts.add(address, channel, reason as OptOutReason, `api:${actorOf(req)}`);
    return { address: key, channel, reason };
  }
}
