import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ValidationError } from '#libs/core';
import { EvidenceService } from '#libs/evidence';

const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function caseIdOf(raw: unknown, path: string): string {
  if (typeof raw !== 'string' || !CASE_ID.test(raw)) {
    throw new ValidationError('caseId is invalid', [
      { path, message: 'letters, digits, dot, dash, underscore; 1-64' },
    ]);
  }
  return raw;
}

@Controller()
export class EvidenceController {
  constructor(private readonly evidence: EvidenceService) {}

  @Get('v1/cases/:caseId/evidence')
  async caseEvidence(@Param('caseId') caseId: string) {
    const id = caseIdOf(caseId, 'caseId');
    const [events, verification] = await Promise.all([
      this.evidence.caseEvents(id),
      this.evidence.verifyCase(id),
    ]);
    return { caseId: id, verification, events };
  }

  @Post('v1/evidence/verify')
  @HttpCode(200)
  async verify(@Body() body: { caseId?: unknown } | undefined) {
    return this.evidence.verifyCase(caseIdOf(body?.caseId, 'caseId'));
  }
}
