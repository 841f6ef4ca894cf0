import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from '#libs/config';
import { ForbiddenError } from '#libs/core';
import { JOB_NAMES } from '#libs/queue';
import type { ApiKeysService } from '../auth/api-keys.service.js';
import { keyFromAuthorization } from '../auth/api-keys.service.js';
import { allows } from '../auth/scopes.js';
import { toProblem } from '../problem.js';

export const QUEUES_PATH = '/admin/queues';

/**
 * The BullMQ dashboard (queue mode only) at /admin/queues, for admin keys. Browsers cannot
 * send a bearer token, so HTTP Basic with the key as password is accepted here too.
 */
export function queuesBoard(config: AppConfig, keys: ApiKeysService) {
  if (!config.queue.redisUrl) return null;
  const queues = JOB_NAMES.map(
    (name) =>
      new Queue(name, {
        connection: { url: config.queue.redisUrl, maxRetriesPerRequest: null },
        prefix: config.queue.prefix,
      }),
  );
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUES_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
    serverAdapter,
  });
  const router = serverAdapter.getRouter() as (req: Request, res: Response, next: NextFunction) => void;
  const guard = (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve()
      .then(() => keys.authenticate(keyFromAuthorization(req.headers.authorization, true)))
      .then((k) => {
        if (!allows(k.scopes, ['admin'])) {
          const p = toProblem(
            new ForbiddenError('The queue dashboard needs the admin scope', [], {
              requiredScopes: ['admin'],
            }),
            req.originalUrl,
          );
          res.status(p.status).type('application/problem+json').send(JSON.stringify(p));
          return;
        }
        req.apiKey = { id: k.id, name: k.name, scopes: k.scopes };
        router(req, res, next);
      })
      .catch((err: unknown) => {
        const p = toProblem(err, req.originalUrl);
        if (p.status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="queues", charset="UTF-8"');
        if (typeof p.retryAfter === 'number') res.setHeader('Retry-After', String(p.retryAfter));
        res.status(p.status).type('application/problem+json').send(JSON.stringify(p));
      });
  };
  return { guard, close: () => Promise.all(queues.map((q) => q.close())) };
}
