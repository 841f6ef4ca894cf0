/**
 * One typed error hierarchy for the whole service. Each error knows its problem type and
 * HTTP status; the gRPC mapping lives next to the HTTP one in apps/api (one place).
 */

export interface ProblemField {
  /** JSON pointer-ish path of the offending input, e.g. `recipient.phone` or `data.amountDue`. */
  path: string;
  message: string;
}

export type ErrorCode =
  | 'validation'
  | 'template_data'
  | 'unknown_template'
  | 'not_found'
  | 'idempotency_conflict'
  | 'idempotency_in_progress'
  | 'conflict'
  | 'case_on_hold'
  | 'compliance_refused'
  | 'unauthenticated'
  | 'forbidden'
  | 'rate_limited'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'provider'
  | 'internal';

export abstract class AppError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly status: number;
  abstract readonly title: string;
  readonly fields: ProblemField[];
  readonly extra: Record<string, unknown>;

  constructor(detail: string, fields: ProblemField[] = [], extra: Record<string, unknown> = {}) {
    super(detail);
    this.name = new.target.name;
    this.fields = fields;
    this.extra = extra;
  }
}

export class ValidationError extends AppError {
  readonly code = 'validation';
  readonly status = 400;
  readonly title = 'Invalid request';
}

/** A body in a media type the route does not read (input policy: JSON routes take JSON). */
export class UnsupportedMediaTypeError extends AppError {
  readonly code = 'unsupported_media_type';
  readonly status = 415;
  readonly title = 'Unsupported media type';
}

/** The request is well-formed but the template data does not satisfy the template. */
export class TemplateDataError extends AppError {
  readonly code = 'template_data';
  readonly status = 422;
  readonly title = 'Template data is invalid';
}

export class UnknownTemplateError extends AppError {
  readonly code = 'unknown_template';
  readonly status = 422;
  readonly title = 'Unknown template';
}

export class NotFoundError extends AppError {
  readonly code = 'not_found';
  readonly status = 404;
  readonly title = 'Not found';
}

export class IdempotencyConflictError extends AppError {
  readonly code = 'idempotency_conflict';
  readonly status = 422;
  readonly title = 'Idempotency key reused with a different request';
}

export class ConflictError extends AppError {
  readonly code = 'conflict';
  readonly status = 409;
  readonly title = 'Conflict';
}

export class CaseOnHoldError extends AppError {
  readonly code = 'case_on_hold';
  readonly status = 409;
  readonly title = 'Case is on hold';
}

/** The compliance gate refuses this notice outright (e.g. a debtor template to a third party). */
export class ComplianceRefusedError extends AppError {
  readonly code = 'compliance_refused';
  readonly status = 422;
  readonly title = 'Refused by the compliance gate';
}

export class UnauthenticatedError extends AppError {
  readonly code = 'unauthenticated';
  readonly status = 401;
  readonly title = 'Authentication required';
}

export class ForbiddenError extends AppError {
  readonly code = 'forbidden';
  readonly status = 403;
  readonly title = 'Forbidden';
}

export class RateLimitedError extends AppError {
  readonly code = 'rate_limited';
  readonly status = 429;
  readonly title = 'Too many requests';
}

export class PayloadTooLargeError extends AppError {
  readonly code = 'payload_too_large';
  readonly status = 413;
  readonly title = 'Payload too large';
}

/** A provider call failed. `retryable` tells the pipeline whether trying again may help. */
export class ProviderError extends AppError {
  readonly code = 'provider';
  readonly status = 502;
  readonly title = 'Provider error';
  constructor(
    detail: string,
    readonly retryable: boolean,
    extra: Record<string, unknown> = {},
  ) {
    super(detail, [], extra);
  }
}
