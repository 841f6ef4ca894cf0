import { Controller, Get, Header, Query } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { NotFoundError, ValidationError } from '#libs/core';
import {
  CheckpointService,
  EvidenceIntegrity,
  EvidenceSigningKeys,
  logVerifierKey,
  MerkleLevels,
  WitnessPublisher,
} from '#libs/evidence';
import { Public, Scopes } from '../auth/scopes.js';
import { intOf } from './legal.controller.js';

/**
 * The global evidence log as a transparency log (docs/witness.md): its checkpoint notes with the
 * witnesses' cosignatures, consistency proofs between any two sizes, and the note verifier key a
 * witness or an auditor configures. Reading needs `evidence:read`; the key is public.
 */
@ApiTags('evidence')
@Controller('v1/evidence/log')
export class EvidenceLogController {
  constructor(
    private readonly checkpoints: CheckpointService,
    private readonly witnesses: WitnessPublisher,
    private readonly integrity: EvidenceIntegrity,
    private readonly keys: EvidenceSigningKeys,
  ) {}

  @Get('vkey')
  @Public()
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: "The log's C2SP note verifier key (what a witness is configured with); public" })
  @ApiProduces('text/plain')
  vkey(): string {
    return `${logVerifierKey(this.witnesses.origin, this.keys.signer())}\n`;
  }

  @Get('checkpoint')
  @Scopes('evidence:read')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({
    summary: 'The latest (or `?checkpoint=`) C2SP checkpoint note of the log, with every witness cosignature',
  })
  @ApiQuery({ name: 'checkpoint', required: false, description: 'checkpoint id (default: the latest)' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'The signed note (tlog-checkpoint)' })
  @ApiResponse({ status: 404, description: 'No checkpoint note yet' })
  async checkpoint(@Query('checkpoint') raw?: unknown): Promise<string> {
    const id =
      raw === undefined ? (await this.checkpoints.latest())?.id : intOf(raw, 'checkpoint', 0, 1, 2 ** 53);
    const found = id === undefined ? null : await this.witnesses.cosignedNote(id);
    if (!found) throw new NotFoundError('No checkpoint note of the evidence log yet');
    return found.note;
  }

  @Get('consistency')
  @Scopes('evidence:read')
  @ApiOperation({ summary: 'RFC 9162 consistency proof between two sizes of the log (from <= to)' })
  @ApiQuery({ name: 'from', required: true })
  @ApiQuery({ name: 'to', required: true })
  @ApiResponse({
    status: 200,
    description: 'The proof (base64 node hashes, in order) and both roots',
    schema: {
      type: 'object',
      properties: {
        from: { type: 'integer' },
        to: { type: 'integer' },
        fromRoot: { type: 'string' },
        toRoot: { type: 'string' },
        proof: { type: 'array', items: { type: 'string' } },
      },
    },
  })
  @ApiResponse({ status: 400, description: 'from/to not integers, from > to, or to beyond the log' })
  async consistency(@Query('from') rawFrom?: unknown, @Query('to') rawTo?: unknown) {
    const leaves = (await this.integrity.leafHashes()).map((h) => Buffer.from(h, 'hex'));
    const to = intOf(rawTo, 'to', -1, 0, leaves.length);
    const from = intOf(rawFrom, 'from', -1, 0, Math.max(to, 0));
    if (to < 0 || from < 0) {
      throw new ValidationError('from and to are required', [
        { path: to < 0 ? 'to' : 'from', message: 'is required' },
      ]);
    }
    const tree = MerkleLevels.fromLeafHashes(leaves.slice(0, to));
    return {
      from,
      to,
      fromRoot: tree.root(from).toString('base64'),
      toRoot: tree.root(to).toString('base64'),
      proof: from === 0 ? [] : tree.consistencyProof(from, to).map((p) => p.toString('base64')),
    };
  }
}
