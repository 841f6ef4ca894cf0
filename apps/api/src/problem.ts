import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import { Catch, HttpException, Logger } from '@nestjs/common';
import { Metadata } from '@grpc/grpc-js';
import type { Request, Response } from 'express';
import { type Observable, throwError } from 'rxjs';
import { AppError, type ErrorCode, type ProblemField } from '#libs/core';

/** RFC 9457 problem details, the body of every error answer. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: ErrorCode;
  errors?: ProblemField[];
  [extra: string]: unknown;
}

/** gRPC status codes (numeric, as in grpc/status.proto) for each error code: the one mapping table. */
export const GRPC_STATUS: Record<ErrorCode, number> = {
  validation: 3, // INVALID_ARGUMENT
  template_data: 3,
  unknown_template: 3,
  not_found: 5, // NOT_FOUND
  idempotency_conflict: 6, // ALREADY_EXISTS
  idempotency_in_progress: 10, // ABORTED
  conflict: 9, // FAILED_PRECONDITION
  case_on_hold: 9,
  compliance_refused: 9,
  unauthenticated: 16, // UNAUTHENTICATED
  forbidden: 7, // PERMISSION_DENIED
  rate_limited: 8, // RESOURCE_EXHAUSTED
  payload_too_large: 8,
  unsupported_media_type: 3, // INVALID_ARGUMENT (gRPC has no media types)
  provider: 14, // UNAVAILABLE
  internal: 13, // INTERNAL
};

const HTTP_CODES: Record<number, ErrorCode> = {
  400: 'validation',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation',
  429: 'rate_limited',
};

/** Titles of the problems the framework raises itself (404 for an unknown route, 400 from a pipe). */
const HTTP_TITLES: Record<number, string> = {
  400: 'Invalid request',
  401: 'Authentication required',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Invalid request',
  429: 'Too many requests',
};

export function toProblem(err: unknown, instance?: string): Problem {
  if (err instanceof AppError) {
    return {
      type: `/problems/${err.code}`,
      title: err.title,
      status: err.status,
      detail: err.message,
      instance,
      code: err.code,
      ...(err.fields.length ? { errors: err.fields } : {}),
      ...err.extra,
    };
  }
  // Body-parser errors (express): oversized or malformed bodies.
  const bp = err as { type?: string; status?: number; limit?: number };
  if (bp && bp.type === 'entity.too.large') {
    return {
      type: '/problems/payload_too_large',
      title: 'Payload too large',
      status: 413,
      detail: `The request body exceeds the limit of ${bp.limit ?? '?'} bytes`,
      instance,
      code: 'payload_too_large',
      errors: [{ path: '(body)', message: 'too large' }],
    };
  }
  if (
    bp &&
    (bp.type === 'entity.parse.failed' ||
      bp.type === 'encoding.unsupported' ||
      bp.type === 'charset.unsupported')
  ) {
    return {
      type: '/problems/validation',
      title: 'Invalid request',
      status: 400,
      detail: 'The request body is not valid JSON',
      instance,
      code: 'validation',
      errors: [{ path: '(body)', message: 'malformed JSON' }],
    };
  }
  if (err instanceof HttpException) {
    // The framework wraps errors thrown by a body parser (malformed JSON, the input policy's
    // depth and NUL scan in bootstrap.ts): answer with the error it wraps.
    const cause = err.cause as { type?: unknown } | undefined;
    if (cause instanceof AppError || (cause && typeof cause.type === 'string' && cause !== err)) {
      return toProblem(cause, instance);
    }
    const status = err.getStatus();
    const code = HTTP_CODES[status] ?? (status >= 500 ? 'internal' : 'validation');
    return {
      type: `/problems/${code}`,
      // Stable per type: the framework's text goes in `detail`, never in `title`.
      title: HTTP_TITLES[status] ?? (status >= 500 ? 'Internal error' : 'Request refused'),
      status,
      detail: err.message,
      instance,
      code,
      ...(status === 400 || status === 422 ? { errors: [{ path: '(request)', message: err.message }] } : {}),
    };
  }
  return {
    type: '/problems/internal',
    title: 'Internal error',
    status: 500,
    detail: 'The service could not process the request; it has been logged.',
    instance,
    code: 'internal',
  };
}

/** What a gRPC handler fails with: grpc-js reads `code`, `details` and `metadata`. */
export interface GrpcError {
  code: number;
  message: string;
  details: string;
  /** The problem (JSON) in the `problem-bin` trailer, `retry-after` when rate limited. */
  metadata: Metadata;
  problem: Problem;
}

/** The gRPC status for an error, from the same table as the HTTP answer. */
export function toGrpcError(err: unknown): GrpcError {
  const problem = toProblem(err);
  const code = GRPC_STATUS[problem.code] ?? 13;
  const metadata = new Metadata();
  metadata.set('problem-bin', Buffer.from(JSON.stringify(problem), 'utf8'));
  if (typeof problem.retryAfter === 'number') metadata.set('retry-after', String(problem.retryAfter));
  return { code, message: problem.detail, details: problem.detail, metadata, problem };
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly log = new Logger('Problem');

  catch(err: unknown, host: ArgumentsHost): void | Observable<never> {
    if (host.getType() === 'rpc') {
      const g = toGrpcError(err);
      if (g.code === 13) {
        this.log.error(`gRPC: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      return throwError(() => g);
    }
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request>();
    const res = ctx.getResponse<Response>();
    const problem = toProblem(err, req.path);
    if (problem.status >= 500) {
      this.log.error(
        `${req.method} ${req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
    if (res.headersSent) return;
    if (typeof problem.retryAfter === 'number') res.setHeader('Retry-After', String(problem.retryAfter));
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  }
}
