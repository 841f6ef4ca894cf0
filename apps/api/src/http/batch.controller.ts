import { once } from 'node:events';
import { Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { parseCreateNotification } from '#libs/contracts';
import { PayloadTooLargeError, RateLimitedError, ValidationError } from '#libs/core';
import { NotificationsService } from '#libs/notifications';
import { PerNotice, RateLimiter } from '../auth/rate-limiter.js';
import { Scopes } from '../auth/scopes.js';
import { toProblem } from '../problem.js';
import { idempotencyScopeOf } from './actor.js';

/** Lines accepted concurrently; results stream back as they complete (each names its line). */
const IN_FLIGHT = 32;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const NEWLINE = 0x0a;

/** One NDJSON line: its text, or `tooLarge` as soon as it passes the cap (the rest is skipped unread). */
export type NdjsonLine = { n: number; text: string } | { n: number; tooLarge: true };

/**
 * Splits a byte stream into lines while counting bytes: a line over `maxBytes` is reported the
 * moment it passes the cap and the rest of it is dropped chunk by chunk up to its newline, so a
 * 40 MB line never sits in memory (readline would buffer it whole before anyone could check).
 */
export async function* ndjsonLines(
  input: AsyncIterable<Buffer | string>,
  maxBytes: number,
): AsyncGenerator<NdjsonLine> {
  let parts: Buffer[] = [];
  let size = 0;
  let skipping = false;
  let n = 1;
  const text = () => {
    const s = Buffer.concat(parts, size).toString('utf8');
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (!skipping) {
        if (size + (end - pos) > maxBytes) {
          skipping = true;
          parts = [];
          size = 0;
          yield { n, tooLarge: true };
        } else if (end > pos) {
          parts.push(chunk.subarray(pos, end));
          size += end - pos;
        }
      }
      if (nl < 0) break;
      if (!skipping) yield { n, text: text() };
      parts = [];
      size = 0;
      skipping = false;
      n += 1;
      pos = nl + 1;
    }
  }
  if (!skipping && size > 0) yield { n, text: text() };
}

/**
 * `POST /v1/notifications/batch`: NDJSON in, NDJSON out. A monthly letter run is 100k rows,
 * so neither side is buffered: lines are read as they arrive, at most IN_FLIGHT are being
 * accepted at once (backpressure on the request), and each result is written as soon as it is
 * known (backpressure on the response). A line may carry `idempotencyKey`; a bad line gets a
 * problem object on its result line and never stops the others. The last line is a summary.
 *
 * Rate limit: every line takes one token of the key's limit (the request itself takes none), so
 * a batch cannot send more notices than single requests could. A line without a token is not
 * accepted: its result is a `rate_limited` problem with `retryAfter`; resend it (with its
 * idempotency key) later. A line over MAX_BODY_BYTES is refused (413 problem) as it streams.
 */
@Controller()
export class BatchController {
  constructor(
    private readonly notifications: NotificationsService,
    private readonly limiter: RateLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('v1/notifications/batch')
  @HttpCode(200)
  @Scopes('notifications:send')
  @PerNotice()
  async batch(@Req() req: Request, @Res() res: Response): Promise<void> {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!['application/x-ndjson', 'application/jsonl', 'application/json-seq', 'text/plain'].includes(type)) {
      const p = toProblem(
        new ValidationError('Send one notification per line as application/x-ndjson', [
          { path: 'Content-Type', message: 'expected application/x-ndjson' },
        ]),
        req.path,
      );
      res
        .status(415)
        .type('application/problem+json')
        .send(JSON.stringify({ ...p, status: 415 }));
      return;
    }
    res.status(200).type('application/x-ndjson');
    const write = async (obj: unknown) => {
      if (!res.write(JSON.stringify(obj) + '\n')) await once(res, 'drain');
    };
    const caller = req.apiKey;
    const inFlight = new Set<Promise<void>>();
    let line = 0;
    let accepted = 0;
    let replayed = 0;
    let failed = 0;
    let rateLimited = 0;
    for await (const item of ndjsonLines(req, this.config.http.maxBodyBytes)) {
      line = item.n;
      if ('tooLarge' in item) {
        failed += 1;
        const err = new PayloadTooLargeError(
          `Line ${item.n} exceeds ${this.config.http.maxBodyBytes} bytes (MAX_BODY_BYTES); it was skipped unread`,
          [{ path: '(line)', message: 'too large' }],
        );
        await write({ line: item.n, error: toProblem(err) });
        continue;
      }
      if (item.text.trim() === '') continue;
      if (caller) {
        try {
          await this.limiter.take(caller.id, caller.rateLimit ?? null);
        } catch (err) {
          if (!(err instanceof RateLimitedError)) throw err;
          rateLimited += 1;
          failed += 1;
          await write({ line: item.n, error: toProblem(err) });
          continue;
        }
      }
      const n = item.n;
      const task = this.one(n, item.text, idempotencyScopeOf(req.apiKey)).then(async (out) => {
        if ('error' in out) failed += 1;
        else if (out.replayed) replayed += 1;
        else accepted += 1;
        await write(out);
      });
      const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await write({ summary: { lines: line, accepted, replayed, failed, rateLimited } });
    res.end();
  }

  private async one(
    line: number,
    text: string,
    scope: string,
  ): Promise<
    { line: number; id: string; status: string; replayed: boolean } | { line: number; error: unknown }
  > {
    try {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ValidationError(`Line ${line} is not valid JSON`, [
          { path: '(line)', message: 'malformed JSON' },
        ]);
      }
      let key: string | null = null;
      if (body && typeof body === 'object' && 'idempotencyKey' in body) {
        const { idempotencyKey, ...rest } = body as Record<string, unknown>;
        if (typeof idempotencyKey !== 'string' || !KEY_PATTERN.test(idempotencyKey)) {
          throw new ValidationError('idempotencyKey must be 1-255 visible ASCII characters', [
            { path: 'idempotencyKey', message: 'invalid' },
          ]);
        }
        key = idempotencyKey;
        body = rest;
      }
      const { notification, created } = await this.notifications.accept(
        parseCreateNotification(body),
        key ? { scope, key } : null,
        null,
        scope,
      );
      return { line, id: notification.id, status: notification.status, replayed: !created };
    } catch (err) {
      return { line, error: toProblem(err) };
    }
  }
}
