import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Logger,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import {
  CaseFactsBodySchema,
  CursorKeys,
  encodeCursor,
  PAGE_MAX_LIMIT,
  pageOf,
  pageRequestOf,
  parseStrict,
} from '#libs/contracts';
import { NotFoundError, PayloadTooLargeError, ValidationError } from '#libs/core';
import {
  type BundleVerification,
  CheckpointService,
  checkpointView,
  EvidenceBundleService,
  EvidenceSigningKeys,
  LegalEvidenceService,
  RetentionService,
  verifyEvidenceBundle,
} from '#libs/evidence';
import { actorOf } from './actor.js';
import { Public, Scopes } from '../auth/scopes.js';
import { PagedQuery } from '../observability/api-docs.js';

const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function caseIdOf(raw: unknown): string {
  if (typeof raw !== 'string' || !CASE_ID.test(raw)) {
    throw new ValidationError('caseId is invalid', [
      { path: 'caseId', message: 'letters, digits, dot, dash, underscore; 1-64' },
    ]);
  }
  return raw;
}

function langOf(raw: unknown): 'zh-CN' | 'en' {
  if (raw === undefined || raw === '') return 'zh-CN';
  if (raw !== 'zh-CN' && raw !== 'en') {
    throw new ValidationError('lang is invalid', [{ path: 'lang', message: 'zh-CN or en' }]);
  }
  return raw;
}

/** Largest evidence bundle `POST /v1/evidence/bundles/verify` reads (streamed to a temp file). */
export const MAX_BUNDLE_UPLOAD_BYTES = 512 * 1024 * 1024;

/** Streams a request body into `path`; a 413 past `max` bytes. */
async function saveBody(req: Request, path: string, max: number): Promise<number> {
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size <= max) done(null, chunk);
      else {
        done(
          new PayloadTooLargeError(`The bundle is larger than ${max} bytes`, [
            { path: '(body)', message: 'too large' },
          ]),
        );
      }
    },
  });
  await pipeline(req, cap, createWriteStream(path));
  return size;
}

export function intOf(raw: unknown, path: string, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ValidationError(`${path} is invalid`, [{ path, message: `an integer ${min}..${max}` }]);
  }
  return n;
}

/**
 * The legal team's evidence routes (docs/evidence.md): bundles, checkpoints and inclusion proofs,
 * the public key, legal-action eligibility, the timeline, case search and the retention report.
 * Reading needs `evidence:read`; taking a checkpoint on demand needs `admin` (bundles take a fresh
 * one themselves when needed); the public key is public on purpose, so verifiers can fetch it
 * independently of any bundle.
 */
@ApiTags('evidence')
@Controller()
export class LegalController {
  private readonly log = new Logger('LegalController');

  constructor(
    private readonly bundles: EvidenceBundleService,
    private readonly checkpoints: CheckpointService,
    private readonly keys: EvidenceSigningKeys,
    private readonly legal: LegalEvidenceService,
    private readonly retention: RetentionService,
  ) {}

  @Get('v1/cases/:caseId/evidence.zip')
  @Scopes('evidence:read')
  @ApiOperation({
    summary:
      "A case's evidence bundle (zip, streamed): events, artifacts, checkpoint proof, signed manifest, certificate",
  })
  @ApiProduces('application/zip')
  @ApiResponse({ status: 200, description: 'The bundle; verify with `npm run evidence:verify -- <zip>`' })
  @ApiQuery({
    name: 'lang',
    required: false,
    enum: ['zh-CN', 'en'],
    description: 'Language of certificate.pdf',
  })
  async bundle(
    @Param('caseId') raw: string,
    @Res() res: Response,
    @Query('lang') lang?: string,
  ): Promise<void> {
    const caseId = caseIdOf(raw);
    const language = langOf(lang);
    const plan = await this.bundles.plan(caseId);
    res.status(200);
    res.setHeader('Content-Type', 'application/zip');
    res.setHeader('Content-Disposition', `attachment; filename="evidence-${caseId}.zip"`);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Evidence-Head-Seq', String(plan.head.seq));
    res.setHeader('X-Checkpoint-Id', String(plan.checkpoint.id));
    res.on('error', () => undefined);
    try {
      await this.bundles.write(plan, res, { lang: language });
    } catch (err) {
      if (!res.headersSent) {
        res.removeHeader('Content-Disposition');
        throw err;
      }
      // Mid-stream: the zip is cut short (the client sees an aborted transfer, never a valid zip).
      this.log.error(`bundle for ${caseId} failed mid-stream: ${String(err)}`);
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  @Get('v1/cases/:caseId/legal-eligibility')
  @Scopes('evidence:read')
  @ApiOperation({
    summary:
      'Legal-action eligibility from the evidence: each criterion, the value found and the proving seqs',
  })
  async eligibility(@Param('caseId') raw: string) {
    return this.legal.eligibility(caseIdOf(raw));
  }

  @Get('v1/cases/:caseId/timeline')
  @Scopes('evidence:read')
  @ApiOperation({
    summary:
      "A case's delivery timeline (time, channel, event and its name, provider id, receipt) and one summary per notice (channel, template and version, status, receipts), labelled in `lang`",
  })
  @ApiQuery({ name: 'lang', required: false, enum: ['zh-CN', 'en'], description: 'Language of the labels' })
  async timeline(@Param('caseId') raw: string, @Query('lang') lang?: string) {
    return this.legal.timeline(caseIdOf(raw), langOf(lang));
  }

  @Put('v1/cases/:caseId/facts')
  @Scopes('notifications:send')
  @ApiOperation({
    summary:
      "Record a case's last payment date and/or outstanding principal (a case.facts.recorded evidence event the legal-action eligibility reads)",
  })
  @ApiResponse({ status: 404, description: 'The case has no evidence' })
  async recordFacts(@Param('caseId') raw: string, @Body() body: unknown, @Req() req: Request) {
    const caseId = caseIdOf(raw);
    const facts = parseStrict(CaseFactsBodySchema, body, 'case facts');
    return this.legal.recordFacts(caseId, facts, actorOf(req));
  }

  @Post('v1/evidence/bundles/verify')
  @Scopes('evidence:read')
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Verify an evidence bundle (the zip as the body) against this service's public key: signatures, files, chain, checkpoint, time stamp",
  })
  @ApiConsumes('application/zip')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  async verifyBundle(@Req() req: Request): Promise<BundleVerification & { bytes: number }> {
    const dir = await mkdtemp(join(tmpdir(), 'cns-bundle-'));
    try {
      const path = join(dir, 'bundle.zip');
      const bytes = await saveBody(req, path, MAX_BUNDLE_UPLOAD_BYTES);
      if (bytes === 0) {
        throw new ValidationError('No bundle in the body', [
          { path: '(body)', message: 'the zip as the body' },
        ]);
      }
      const v = await verifyEvidenceBundle(path, { publicKeyPem: this.keys.signer().publicKeyPem });
      return { ...v, bytes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  @Get('v1/cases/:caseId/inclusion-proof')
  @Scopes('evidence:read')
  @ApiOperation({ summary: "Inclusion proof of the case's head in a checkpoint (the latest by default)" })
  @ApiQuery({ name: 'checkpoint', required: false, type: Number })
  async inclusionProof(@Param('caseId') raw: string, @Query('checkpoint') cp?: string) {
    const caseId = caseIdOf(raw);
    const id = cp === undefined ? undefined : intOf(cp, 'checkpoint', 0, 1, Number.MAX_SAFE_INTEGER);
    const found = await this.checkpoints.proof(caseId, id);
    if (!found) {
      throw new NotFoundError(`No checkpoint${id ? ` ${id}` : ''} covers case ${caseId}`, [
        { path: 'caseId', message: 'not in the checkpoint' },
      ]);
    }
    return { caseId, checkpoint: checkpointView(found.checkpoint), proof: found.proof };
  }

  @Get('v1/evidence/public-key')
  @Public()
  @Header('Content-Type', 'application/x-pem-file')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOperation({ summary: "The service's Ed25519 evidence public key (SPKI PEM); public, for verifiers" })
  @ApiProduces('application/x-pem-file')
  publicKey(@Res({ passthrough: true }) res: Response): string {
    const key = this.keys.signer();
    res.setHeader('X-Key-Id', key.keyId);
    return key.publicKeyPem;
  }

  @Post('v1/evidence/checkpoints')
  @Scopes('admin')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Take a signed (and, with TSA_URL, time-stamped) checkpoint over all case heads now',
  })
  async createCheckpoint() {
    const c = await this.checkpoints.create('on_demand');
    if (!c) throw new Error('checkpoint not created');
    return checkpointView(c);
  }

  @Get('v1/evidence/checkpoints/latest')
  @Scopes('evidence:read')
  @ApiOperation({ summary: 'The latest checkpoint' })
  async latestCheckpoint() {
    const c = await this.checkpoints.latest();
    if (!c) throw new NotFoundError('No checkpoint has been taken yet');
    return checkpointView(c);
  }

  @Get('v1/evidence/checkpoints/:id')
  @Scopes('evidence:read')
  @ApiOperation({ summary: 'One checkpoint' })
  async checkpoint(@Param('id') raw: string) {
    const c = await this.checkpoints.get(intOf(raw, 'id', 0, 1, Number.MAX_SAFE_INTEGER));
    if (!c) throw new NotFoundError(`Checkpoint ${raw} does not exist`);
    return checkpointView(c);
  }

  @Get('v1/evidence/cases')
  @Scopes('evidence:read')
  @ApiOperation({ summary: 'Find cases by case-id prefix' })
  @ApiQuery({ name: 'prefix', required: false })
  @PagedQuery({ defaultLimit: 20, list: { field: 'cases', description: 'Cases in id order' } })
  async findCases(
    @Query('prefix') prefix?: unknown,
    @Query('limit') limit?: unknown,
    @Query('cursor') cursor?: unknown,
  ) {
    const p = prefix ?? '';
    if (typeof p !== 'string' || p.length > 64 || !/^[A-Za-z0-9_.-]*$/.test(p)) {
      throw new ValidationError('prefix is invalid', [
        { path: 'prefix', message: 'letters, digits, . _ -; up to 64' },
      ]);
    }
    const req = pageRequestOf({ limit, cursor }, 'evidence.cases', CursorKeys.text, { defaultLimit: 20 });
    const rows = await this.legal.findCases(p, req.limit + 1, req.after ?? undefined);
    const page = pageOf(rows, req, (c) => c.caseId);
    return { cases: page.items, next: page.next };
  }

  @Get('v1/evidence/retention')
  @Scopes('evidence:read')
  @ApiOperation({
    summary:
      'Retention report: cases past EVIDENCE_RETENTION_YEARS and not on legal hold (nothing is deleted)',
  })
  @ApiQuery({
    name: 'after',
    required: false,
    description: 'Deprecated: a case id to start after; use `cursor`',
  })
  @PagedQuery({ defaultLimit: PAGE_MAX_LIMIT })
  async retentionReport(
    @Query('after') after?: unknown,
    @Query('limit') limit?: unknown,
    @Query('cursor') cursor?: unknown,
  ) {
    const req = pageRequestOf({ limit, cursor }, 'evidence.retention', CursorKeys.text, {
      defaultLimit: PAGE_MAX_LIMIT,
    });
    const start = req.after ?? (after !== undefined && after !== '' ? caseIdOf(after) : undefined);
    const report = await this.retention.report({ after: start, limit: req.limit });
    return { ...report, next: report.next === null ? null : encodeCursor(req.kind, report.next) };
  }
}
