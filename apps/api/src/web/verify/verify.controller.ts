import { Controller, Get, Inject, Logger, Module, Param, Post, Query, Req, Res } from '@nestjs/common';
import { IssuedNoticeRepository } from './document.repository.js';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { RateLimitedError } from '#libs/core';
import {
  type CheckResult,
  checkDocument,
  clientPseudonym,
  type DocumentView,
  type IssuedDocument,
  type LookupMethod,
  normaliseSha256,
  publicView,
  verificationPayload,
  type VerifyLang,
} from '#libs/evidence';
import { NotificationsModule } from '#libs/notifications';
import { AuthModule } from '../../auth/auth.module.js';
import { type RateLimit, RateLimiter, type RateState, rateLimitHeaders } from '../../auth/rate-limiter.js';
import { Public } from '../../auth/scopes.js';
import { DocumentVerifier } from './document-verifier.js';
import { type PageOutcome, renderVerifyPage } from './verify-page.js';
import { readVerifyInput } from './upload.js';

/** Lookups per client IP: 30 per 10 minutes (a debtor checking a letter needs a handful). */
export const VERIFY_RATE_LIMIT: RateLimit = { perSecond: 30 / 600, burst: 30 };
/** Largest upload read (a letter PDF is well under 1 MB). */
export const VERIFY_MAX_BYTES = 10 * 1024 * 1024;

/** No script at all; forms post back to this page only. */
const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; " +
  "form-action 'self'; frame-ancestors 'none'";

function langOf(raw: unknown): VerifyLang {
  return raw === 'en' ? 'en' : 'zh-CN';
}

/**
 * The public verification page at the letters' QR target (docs/evidence.md, "Verification page").
 * No API key; rate-limited per client IP; every lookup of a known notice is appended to its case's
 * evidence as `document.verified` (with the client as a keyed pseudonym, never its address).
 * `Accept: application/json` gets the same answer as JSON.
 */
@Public()
@ApiExcludeController()
@Controller('verify')
export class VerifyController {
  private readonly log = new Logger('VerifyPage');

  constructor(
    private readonly verifier: DocumentVerifier,
    private readonly limiter: RateLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get(':documentId')
  async page(
    @Param('documentId') documentId: string,
    @Query('lang') lang: unknown,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const l = langOf(lang);
    const client = this.client(req);
    const rate = await this.take(client, documentId, l, res);
    if (!rate) return;
    const doc = await this.verifier.load(documentId);
    const view = publicView(doc, this.bankName(l), l);
    await this.audit(doc, documentId, 'view', view, null, null, null, client, l);
    this.send(res, req, 200, documentId, l, view, { kind: 'view' }, rate);
  }

  @Post(':documentId')
  async check(
    @Param('documentId') documentId: string,
    @Query('lang') lang: unknown,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const l = langOf(lang);
    const client = this.client(req);
    const rate = await this.take(client, documentId, l, res);
    if (!rate) {
      req.resume();
      return;
    }
    const input = await readVerifyInput(req, VERIFY_MAX_BYTES);
    const doc = await this.verifier.load(documentId);
    const view = publicView(doc, this.bankName(l), l);
    let sha256: string | null;
    let method: LookupMethod;
    let bytes: number | null = null;
    if (input.kind === 'file') {
      sha256 = input.sha256;
      bytes = input.bytes;
      method = 'upload';
    } else if (input.kind === 'hash') {
      sha256 = normaliseSha256(input.text);
      method = 'hash';
      if (!sha256) {
        this.send(res, req, 422, documentId, l, view, { kind: 'invalid_hash' }, rate);
        return;
      }
    } else {
      const [status, outcome]: [number, PageOutcome] =
        input.kind === 'too_large'
          ? [413, { kind: 'too_large', maxBytes: VERIFY_MAX_BYTES }]
          : input.kind === 'unsupported'
            ? [415, { kind: 'unsupported_type' }]
            : [422, { kind: 'no_input' }];
      if (input.kind === 'too_large') {
        // The rest of the body is not read: close the connection after the answer.
        res.setHeader('Connection', 'close');
        res.on('finish', () => req.destroy());
      }
      this.send(res, req, status, documentId, l, view, outcome, rate);
      return;
    }
    const check = checkDocument(doc, sha256);
    await this.audit(doc, documentId, method, view, check, sha256, bytes, client, l);
    this.send(res, req, 200, documentId, l, view, { kind: 'checked', check, sha256, method }, rate);
  }

  private bankName(l: VerifyLang): string {
    return l === 'en' ? this.config.bank.nameEn : this.config.bank.name;
  }

  private client(req: Request): string {
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    return clientPseudonym(ip, this.verifier.pseudonymKey());
  }

  /** Takes a token for the client; answers 429 (page or JSON) and returns null when none is left. */
  private async take(
    client: string,
    documentId: string,
    l: VerifyLang,
    res: Response,
  ): Promise<RateState | null> {
    try {
      const s = await this.limiter.take(`verify:${client}`, VERIFY_RATE_LIMIT);
      return s ?? { limit: 0, remaining: 0, reset: 0, window: 0 };
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      const state = err.extra.rateLimit as RateState;
      const retryAfter = Number(err.extra.retryAfter ?? state.reset);
      res.set(rateLimitHeaders(state));
      res.setHeader('Retry-After', String(retryAfter));
      this.log.warn(`verification rate limit reached by client ${client}`);
      const req = res.req;
      this.send(
        res,
        req,
        429,
        documentId,
        l,
        { issued: false, bankName: this.bankName(l) },
        { kind: 'rate_limited', retryAfter },
        null,
      );
      return null;
    }
  }

  private async audit(
    doc: IssuedDocument | null,
    documentId: string,
    method: LookupMethod,
    view: DocumentView,
    check: CheckResult | null,
    sha256: string | null,
    bytes: number | null,
    client: string,
    l: VerifyLang,
  ): Promise<void> {
    const payload = verificationPayload({
      documentId: doc?.documentId ?? documentId,
      method,
      view,
      check,
      sha256Checked: sha256,
      bytes,
      client,
      lang: l,
    });
    // A notice of ours (issued or not) is logged in its case's chain; an unknown id has no case.
    if (doc) await this.verifier.record(doc, payload);
    else this.log.log(`verification of an unknown document id by client ${client} (${method})`);
  }

  private send(
    res: Response,
    req: Request,
    status: number,
    documentId: string,
    l: VerifyLang,
    view: DocumentView,
    outcome: PageOutcome,
    rate: RateState | null,
  ): void {
    if (rate && rate.limit > 0) res.set(rateLimitHeaders(rate));
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Vary', 'Accept');
    res.status(status);
    if (req.accepts(['text/html', 'application/json']) === 'application/json') {
      res.json({
        documentId,
        view,
        result:
          outcome.kind === 'checked'
            ? outcome.check.result
            : outcome.kind === 'view'
              ? view.issued
                ? 'issued'
                : 'not_issued'
              : outcome.kind,
        ...(outcome.kind === 'checked' ? { sha256Checked: outcome.sha256 } : {}),
      });
      return;
    }
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Content-Security-Policy', CSP);
    res.send(
      renderVerifyPage({
        documentId,
        lang: l,
        view,
        outcome,
        bankPhone: this.config.bank.phone,
        bankWebsite: this.config.bank.website,
        maxBytes: VERIFY_MAX_BYTES,
      }),
    );
  }
}

/** The verification page: registered once in ApiModule. */
@Module({
  imports: [NotificationsModule, AuthModule],
  controllers: [VerifyController],
  providers: [DocumentVerifier, IssuedNoticeRepository],
})
export class VerifyModule {}
