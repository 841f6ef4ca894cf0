import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { parseCreateNotification } from '#libs/contracts';
import { ValidationError } from '#libs/core';
import { NotificationsService } from '#libs/notifications';
import { Scopes } from '../auth/scopes.js';
import { toProblem } from '../problem.js';
import { idempotencyScopeOf } from './actor.js';

/** Lines accepted concurrently; results stream back as they complete (each names its line). */
const IN_FLIGHT = 32;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * `POST /v1/notifications/batch`: NDJSON in, NDJSON out. A monthly letter run is 100k rows,
 * so neither side is buffered: lines are read as they arrive, at most IN_FLIGHT are being
 * accepted at once (backpressure on the request), and each result is written as soon as it is
 * known (backpressure on the response). A line may carry `idempotencyKey`; a bad line gets a
 * problem object on its result line and never stops the others. The last line is a summary.
 */
@Controller()
export class BatchController {
  constructor(
    private readonly notifications: NotificationsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('v1/notifications/batch')
  @HttpCode(200)
  @Scopes('notifications:send')
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
    const lines = createInterface({ input: req, crlfDelay: Infinity });
    const inFlight = new Set<Promise<void>>();
    let line = 0;
    let accepted = 0;
    let replayed = 0;
    let failed = 0;
    for await (const text of lines) {
      line += 1;
      if (text.trim() === '') continue;
      const n = line;
      const task = this.one(n, text, idempotencyScopeOf(req.apiKey)).then(async (out) => {
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
    await write({ summary: { lines: line, accepted, replayed, failed } });
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
      if (text.length > this.config.http.maxBodyBytes) {
        throw new ValidationError(`Line ${line} exceeds ${this.config.http.maxBodyBytes} bytes`, [
          { path: '(line)', message: 'too large' },
        ]);
      }
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
      );
      return { line, id: notification.id, status: notification.status, replayed: !created };
    } catch (err) {
      return { line, error: toProblem(err) };
    }
  }
}
