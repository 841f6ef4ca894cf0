import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { PROBLEM_TYPES, problemType, problemTypeUri, type ProblemType } from '#libs/contracts';
import { NotFoundError } from '#libs/core';
import { Public } from '../auth/scopes.js';
import { escapeHtml } from '../web/verify/verify-page.js';

const CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

function page(t: ProblemType): string {
  const others = PROBLEM_TYPES.map(
    (o) => `<li><a href="${escapeHtml(o.code)}">${escapeHtml(o.code)}</a>: ${escapeHtml(o.title)}</li>`,
  ).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(t.title)} (${escapeHtml(t.code)})</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem">
<h1>${escapeHtml(t.title)}</h1>
<p>Problem type <code>${escapeHtml(problemTypeUri(t.code))}</code>, code <code>${escapeHtml(t.code)}</code>,
HTTP ${t.status.map(String).join(' / ')}.</p>
<p>${escapeHtml(t.explanation)}</p>
<p>Answers of this type are <code>application/problem+json</code> (RFC 9457) with
<code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code>,
<code>code</code> and, for invalid input, <code>errors</code> naming each field.</p>
<h2>Every problem type</h2><ul>${others}</ul>
</body></html>
`;
}

/**
 * The problem types every error's `type` points to (`/problems/<code>`): an HTML page, or the
 * entry as JSON with `Accept: application/json`. Public: a problem type says nothing about data.
 */
@ApiTags('problems')
@Public()
@Controller('problems')
export class ProblemsController {
  @Get(':code')
  @ApiOperation({ summary: 'What a problem type means (the `type` of an error answer)' })
  @ApiParam({ name: 'code', example: 'validation', enum: PROBLEM_TYPES.map((t) => t.code) })
  @ApiProduces('text/html', 'application/json')
  @ApiResponse({ status: 200, description: 'The problem type (HTML, or JSON on Accept: application/json)' })
  @ApiResponse({ status: 404, description: 'Not a problem type of this service' })
  show(@Param('code') code: string, @Req() req: Request, @Res() res: Response): void {
    const t = problemType(code);
    if (!t) throw new NotFoundError(`No problem type ${code}`);
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.setHeader('Vary', 'Accept');
    if (req.accepts(['text/html', 'application/json', 'application/problem+json']) === 'text/html') {
      res.setHeader('Content-Security-Policy', CSP);
      res.type('text/html; charset=utf-8').send(page(t));
      return;
    }
    res.type('application/json').send(JSON.stringify({ type: problemTypeUri(t.code), ...t }));
  }
}
