import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { CursorKeys, pageOf, pageRequestOf, parseStrict, VerifyBodySchema } from '#libs/contracts';
import { ValidationError } from '#libs/core';
import { EvidenceService, LegalEvidenceService } from '#libs/evidence';
import { Scopes } from '../auth/scopes.js';
import { Docs } from '../observability/api-docs.js';

const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function caseIdOf(raw: unknown, path: string): string {
  if (typeof raw !== 'string' || !CASE_ID.test(raw)) {
    throw new ValidationError('caseId is invalid', [
      { path, message: 'letters, digits, dot, dash, underscore; 1-64' },
    ]);
  }
  return raw;
}

@Docs.evidence()
@Scopes('evidence:read')
@Controller()
export class EvidenceController {
  constructor(
    private readonly evidence: EvidenceService,
    private readonly legal: LegalEvidenceService,
  ) {}

  @Get('v1/cases/:caseId/evidence')
  @Docs.caseEvidence()
  async caseEvidence(
    @Param('caseId') caseId: string,
    @Query('limit') limit: unknown,
    @Query('cursor') cursor: unknown,
  ) {
    const id = caseIdOf(caseId, 'caseId');
    const req = pageRequestOf({ limit, cursor }, 'evidence.events', CursorKeys.seq);
    // `verification` recomputes the whole chain: on the first page only (null on later ones), so
    // walking a long chain costs one verification, not one per page.
    const [rows, verification] = await Promise.all([
      this.evidence.caseEventsPage(id, req.after ?? 0, req.limit + 1),
      req.after === null ? this.evidence.verifyCase(id) : Promise.resolve(null),
    ]);
    const page = pageOf(rows, req, (e) => e.seq);
    return { caseId: id, verification, events: page.items, next: page.next };
  }

  @Post('v1/evidence/verify')
  @Docs.verifyEvidence()
  @HttpCode(200)
  async verify(
    @Body() body: { caseId?: unknown; all?: unknown; after?: unknown; limit?: unknown } | undefined,
  ) {
    // `{ "all": true }` walks every case chain in pages (`after`/`limit` to do one page per call).
    const v = parseStrict(VerifyBodySchema, body, 'verification request');
    if ('all' in v) return this.legal.verifyAll({ after: v.after, limit: v.limit });
    return this.evidence.verifyCase(v.caseId);
  }
}
