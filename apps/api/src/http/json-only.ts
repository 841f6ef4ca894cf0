import type { NextFunction, Request, Response } from 'express';
import { UnsupportedMediaTypeError } from '#libs/core';
import { toProblem } from '../problem.js';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/** Whether the request carries a body (RFC 9110: Content-Length > 0 or a transfer coding). */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Sub-paths of /v1 whose bodies are not JSON (NDJSON batches, the print room's CSV, an evidence bundle's zip). */
export const NON_JSON_BODY_PATHS: readonly string[] = [
  '/notifications/batch',
  '/post/print-room/tracking',
  '/evidence/bundles/verify',
];

/**
 * Express middleware: POST/PUT/PATCH bodies under its mount point must be JSON
 * (`application/json` or `application/*+json`), except on the listed sub-paths.
 */
export function jsonOnly(exempt: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!['POST', 'PUT', 'PATCH'].includes(req.method) || !hasBody(req) || exempt.includes(req.path)) {
      next();
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (JSON_TYPE.test(type)) {
      next();
      return;
    }
    const problem = toProblem(
      new UnsupportedMediaTypeError(
        `This route reads application/json, not ${type || 'a body without Content-Type'}`,
        [{ path: 'Content-Type', message: 'expected application/json' }],
      ),
      req.originalUrl,
    );
    res.status(415).type('application/problem+json').send(JSON.stringify(problem));
  };
}
