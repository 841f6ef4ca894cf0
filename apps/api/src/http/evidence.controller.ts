import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { parseStrict, VerifyBodySchema } from '#libs/contracts';
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
  async caseEvidence(@Param('caseId') caseId: string) {
    const id = caseIdOf(caseId, 'caseId');
    const [events, verification] = await Promise.all([
      this.evidence.caseEvents(id),
      this.evidence.verifyCase(id),
    ]);
    return { caseId: id, verification, events };
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
