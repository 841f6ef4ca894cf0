import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { type Channel, CHANNELS, ValidationError } from '#libs/core';
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
    const kind = parseHoldKind(body?.kind);
    let until: Date | undefined;
    if (body?.until !== undefined && body.until !== null) {
      const d = typeof body.until === 'string' ? new Date(body.until) : new Date(NaN);
      if (Number.isNaN(d.getTime())) {
        throw new ValidationError('until must be an ISO-8601 instant', [
          { path: 'until', message: 'not a date-time' },
        ]);
      }
      until = d;
    }
    if (body?.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 500)) {
      throw new ValidationError('reason must be a string of at most 500 characters', [
        { path: 'reason', message: 'invalid' },
      ]);
    }
    return this.holds.place(
      caseIdOf(caseId),
      { kind, until, reason: body?.reason as string | undefined },
      actorOf(req),
    );
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
  async list(@Param('caseId') caseId: string) {
    return { caseId, holds: await this.holds.list(caseIdOf(caseId)) };
  }

  /** Records an opt-out (or a contact's refusal) for an address on a channel (`*` = all). */
  @Post('v1/opt-outs')
  @Scopes('notifications:send')
  @Docs.optOut()
  @HttpCode(201)
  async optOut(@Body() body: Record<string, unknown> | undefined, @Req() req: Request) {
    const address = typeof body?.address === 'string' ? body.address.trim() : '';
    const channel = body?.channel ?? '*';
    const reason = body?.reason ?? 'opt_out';
    const fields = [];
    if (!address || address.length > 320) fields.push({ path: 'address', message: 'required' });
    if (channel !== '*' && !(CHANNELS as readonly unknown[]).includes(channel)) {
      fields.push({ path: 'channel', message: `one of *, ${CHANNELS.join(', ')}` });
    }
    if (!['opt_out', 'complaint', 'contact_refused'].includes(reason as string)) {
      fields.push({ path: 'reason', message: 'one of opt_out, complaint, contact_refused' });
    }
    if (fields.length) throw new ValidationError('Invalid opt-out', fields);
    await this.optOuts.add(address, channel as Channel | '*', reason as OptOutReason, `api:${actorOf(req)}`);
    return { address, channel, reason };
  }
}
