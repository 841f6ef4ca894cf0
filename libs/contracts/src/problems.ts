/**
 * The problem types (RFC 9457) of every error answer: the `type` of a problem is
 * `/problems/<code>`, and `GET /problems/<code>` answers with the entry below (an HTML page, or
 * JSON with `Accept: application/json`). One entry per ErrorCode, so a new code cannot ship
 * without its page.
 */
import { z } from 'zod';
import type { ErrorCode } from '#libs/core';

export interface ProblemType {
  code: ErrorCode;
  /** The `title` of every problem of this type. */
  title: string;
  /** The HTTP statuses it is answered with (the first is the usual one). */
  status: number[];
  /** What it means and what the caller can do about it. */
  explanation: string;
}

/** The path of a problem type's page (and the problem's `type`). */
export const problemTypeUri = (code: ErrorCode): string => `/problems/${code}`;

const TYPES: Record<ErrorCode, Omit<ProblemType, 'code'>> = {
  validation: {
    title: 'Invalid request',
    status: [400, 422],
    explanation:
      'A field, header, path or query parameter is invalid, missing or unknown (objects are strict). ' +
      '`errors` names every offending field (`recipient.phone`, `limit`, `cursor`, `(body)`). Fix the request; repeating it unchanged fails again.',
  },
  template_data: {
    title: 'Template data is invalid',
    status: [422],
    explanation:
      "`data` does not satisfy the template's data schema (a required field missing, a wrong format). `errors` names the fields, e.g. `data.amountDue`.",
  },
  unknown_template: {
    title: 'Unknown template',
    status: [422],
    explanation:
      'No published template for this key, channel and locale (or the stage policy picks none for the given dpd / stage). See `GET /v1/templates`.',
  },
  not_found: {
    title: 'Not found',
    status: [404],
    explanation:
      'The notification, case, hold, template, checkpoint or route does not exist (or is not visible to this API key).',
  },
  idempotency_conflict: {
    title: 'Idempotency key reused with a different request',
    status: [422],
    explanation:
      'This caller already used the Idempotency-Key with another body. Use a new key for a new notice; the same body with the same key replays the first answer.',
  },
  idempotency_in_progress: {
    title: 'Request with this idempotency key in progress',
    status: [409],
    explanation:
      'The first request with this Idempotency-Key is still being processed. Retry after a short wait: the retry replays its answer.',
  },
  conflict: {
    title: 'Conflict',
    status: [409],
    explanation:
      'The resource is in a state that does not allow the operation, e.g. cancelling a notification that already reached a provider, or publishing a draft that is not approved.',
  },
  case_on_hold: {
    title: 'Case is on hold',
    status: [409],
    explanation:
      'The case has an active hold (repayment plan, dispute, ...): new notices are refused until it is released (`DELETE /v1/cases/{caseId}/hold`) or expires.',
  },
  compliance_refused: {
    title: 'Refused by the compliance gate',
    status: [422],
    explanation:
      'The compliance gate refuses this notice outright (e.g. a debtor template to a third party, an opted-out address). The decision and its rule are in the evidence.',
  },
  unauthenticated: {
    title: 'Authentication required',
    status: [401],
    explanation:
      'No API key, a malformed Authorization header, or an unknown or revoked key. Send `Authorization: Bearer <key>`.',
  },
  forbidden: {
    title: 'Forbidden',
    status: [403],
    explanation:
      'The API key lacks the scope the route needs (`x-required-scopes` in the OpenAPI), or a webhook signature is invalid.',
  },
  rate_limited: {
    title: 'Too many requests',
    status: [429],
    explanation:
      'The API key exceeded its rate limit (counted in notices; a batch line takes a token). Wait `retryAfter` seconds (also the Retry-After header).',
  },
  payload_too_large: {
    title: 'Payload too large',
    status: [413],
    explanation: 'The request body (or a batch line) exceeds the size limit. Split the request.',
  },
  unsupported_media_type: {
    title: 'Unsupported media type',
    status: [415],
    explanation:
      'The route reads application/json (or application/*+json) and the body was sent with another Content-Type.',
  },
  provider: {
    title: 'Provider error',
    status: [502],
    explanation:
      'An external provider (SMS, email, print vendor, time-stamp authority) failed to answer. The operation may be retried later.',
  },
  internal: {
    title: 'Internal error',
    status: [500, 503],
    explanation:
      'The service could not process the request; it has been logged with the request id. 503 while the service is not ready.',
  },
};

/** Every problem type, in a stable order. */
export const PROBLEM_TYPES: readonly ProblemType[] = (Object.keys(TYPES) as ErrorCode[]).map((code) => ({
  code,
  ...TYPES[code],
}));

/** The problem type of `code`, or null when it is not one of ours. */
export function problemType(code: string): ProblemType | null {
  return Object.prototype.hasOwnProperty.call(TYPES, code)
    ? { code: code as ErrorCode, ...TYPES[code as ErrorCode] }
    : null;
}

/** `GET /problems/{code}` with `Accept: application/json`. */
export const ProblemTypeSchema = z
  .object({
    type: z.string().meta({ example: '/problems/validation' }),
    code: z.enum(Object.keys(TYPES) as [ErrorCode, ...ErrorCode[]]),
    title: z.string(),
    status: z.array(z.number().int()),
    explanation: z.string(),
  })
  .meta({ description: 'A problem type: what a problem with this `type` means' });
