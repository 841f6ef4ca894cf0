import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';

/**
 * OpenAPI descriptions of the REST routes, kept out of the controllers (one line there per
 * route). Error answers get their problem+json schema and example in openapi.ts.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const caseIdParam = ApiParam({
  name: 'caseId',
  example: 'C-2026-000123',
  description: '1-64 of letters, digits, . _ -',
});
const idParam = ApiParam({ name: 'id', format: 'uuid', example: '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11' });

/** `next` of a paged list (docs/api.md, "Pagination"). */
const nextCursor = {
  type: 'string',
  nullable: true,
  description: 'Pass as `cursor` for the next page; null on the last page',
  example: 'eyJrIjoibm90aWZpY2F0aW9ucy5ieUNhc2UiLCJ2IjpbMTc2NDc0MjQwMDAwMCwiNmYxYyJdfQ',
};

/**
 * `limit` and `cursor` of a paged list: limit 1..500 (over the cap, or a cursor this API did not
 * issue for this list, is a 400 naming the parameter), the stable order is the route's. With
 * `list`, also the 200 answer: `{ <field>: [...], next }`. `badRequest: false` when the route
 * documents its own 400.
 */
export function PagedQuery(
  opts: {
    defaultLimit?: number;
    list?: { field: string; description: string; item?: Record<string, unknown> };
    badRequest?: boolean;
  } = {},
) {
  const decorators = [
    ApiQuery({
      name: 'limit',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: 500, default: opts.defaultLimit ?? 50 },
      description: 'Items per page (1..500)',
    }),
    ApiQuery({
      name: 'cursor',
      required: false,
      schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
      description: 'The `next` of the previous page (opaque)',
    }),
  ];
  if (opts.badRequest !== false) {
    decorators.push(
      ApiResponse({ status: 400, description: 'limit not an integer 1..500, or an invalid cursor' }),
    );
  }
  if (opts.list) {
    decorators.push(
      ApiResponse({
        status: 200,
        description: opts.list.description,
        schema: {
          type: 'object',
          properties: {
            [opts.list.field]: { type: 'array', items: opts.list.item ?? { type: 'object' } },
            next: nextCursor,
          },
        },
      }),
    );
  }
  return applyDecorators(...decorators);
}

export const Docs = {
  notifications: () => ApiTags('notifications'),
  evidence: () => ApiTags('evidence'),
  cases: () => ApiTags('cases'),
  webhooks: () => ApiTags('webhooks'),

  createNotification: () =>
    applyDecorators(
      ApiOperation({
        summary: 'Accept a notice',
        description:
          'Validates, renders once, pins the template version, stores the notice and its evidence, and queues it. ' +
          'A repeated Idempotency-Key from the same caller returns the first result (Idempotent-Replayed: true).',
      }),
      ApiHeader({
        name: 'Idempotency-Key',
        required: false,
        description:
          '1-255 visible ASCII characters. Scoped to the caller: the tenant of the API key, or the key ' +
          'itself when it has no tenant. The same key from two callers makes two notifications; from the ' +
          'same caller with another body it is a 422.',
      }),
      ApiBody({ schema: ref('CreateNotification') }),
      ApiResponse({
        status: 202,
        description: 'Accepted (or replayed)',
        schema: ref('Notification'),
        headers: {
          Location: { description: 'URL of the notification', schema: { type: 'string' } },
          'Idempotent-Replayed': { description: '`true` on a replay', schema: { type: 'string' } },
        },
      }),
      ApiResponse({ status: 400, description: 'Invalid body; `errors` names every field' }),
      ApiResponse({ status: 409, description: 'The case is on hold, or the compliance gate refuses' }),
      ApiResponse({ status: 413, description: 'Body too large' }),
      ApiResponse({
        status: 422,
        description: 'Template data invalid, unknown template, or Idempotency-Key reused',
      }),
    ),

  getNotification: () =>
    applyDecorators(
      ApiOperation({ summary: 'A notification with its status, pinned template and timeline' }),
      idParam,
      ApiResponse({ status: 200, description: 'The notification', schema: ref('Notification') }),
      ApiResponse({ status: 400, description: 'Not a UUID' }),
      ApiResponse({ status: 404, description: 'Unknown notification' }),
    ),

  listNotifications: () =>
    applyDecorators(
      ApiOperation({
        summary: "A case's notifications (without their events), a page at a time in (createdAt, id) order",
      }),
      ApiQuery({ name: 'caseId', required: true, example: 'C-2026-000123' }),
      PagedQuery({ badRequest: false }),
      ApiResponse({
        status: 200,
        description: 'A page of the notifications',
        schema: ref('NotificationPage'),
      }),
      ApiResponse({ status: 400, description: 'caseId missing, limit over 500, or an invalid cursor' }),
    ),

  cancelNotification: () =>
    applyDecorators(
      ApiOperation({ summary: 'Cancel a notification that has not reached a provider' }),
      idParam,
      ApiBody({
        required: false,
        schema: ref('CancelRequest'),
        examples: { reason: { value: { reason: 'paid in full' } } },
      }),
      ApiResponse({ status: 200, description: 'Cancelled', schema: ref('Notification') }),
      ApiResponse({ status: 400, description: 'Not a UUID' }),
      ApiResponse({ status: 404, description: 'Unknown notification' }),
      ApiResponse({ status: 409, description: 'Already with the provider (or final)' }),
    ),

  caseEvidence: () =>
    applyDecorators(
      ApiOperation({
        summary:
          "A case's hash-chained evidence, a page at a time in seq order; the first page carries the whole chain's verification",
      }),
      caseIdParam,
      PagedQuery({ badRequest: false }),
      ApiResponse({
        status: 200,
        description:
          'A page of the chain; `verification` (of the whole chain) on the first page, null on later ones',
        schema: ref('CaseEvidencePage'),
      }),
      ApiResponse({ status: 400, description: 'Invalid caseId, limit over 500, or an invalid cursor' }),
    ),

  verifyEvidence: () =>
    applyDecorators(
      ApiOperation({ summary: "Recompute a case's chain; names the first broken seq" }),
      ApiBody({
        schema: ref('VerifyRequest'),
        examples: { case: { value: { caseId: 'C-2026-000123' } }, all: { value: { all: true, limit: 100 } } },
      }),
      ApiResponse({
        status: 200,
        description: 'The case chain, or with `all` the cases verified (and `next`)',
        schema: { oneOf: [ref('ChainVerification'), ref('LedgerVerification')] },
      }),
      ApiResponse({ status: 400, description: 'Invalid caseId' }),
    ),

  placeHold: () =>
    applyDecorators(
      ApiOperation({
        summary: 'Place (or update) a hold on a case: pending notices are cancelled, new ones refused',
      }),
      caseIdParam,
      ApiBody({
        schema: ref('HoldRequest'),
        examples: {
          plan: { value: { kind: 'repayment_plan', until: '2027-03-01T00:00:00Z', reason: 'plan agreed' } },
        },
      }),
      ApiResponse({
        status: 200,
        description: 'The hold and the notices it cancelled',
        schema: ref('HoldResult'),
      }),
      ApiResponse({ status: 400, description: 'Invalid kind, until or reason' }),
    ),

  releaseHold: () =>
    applyDecorators(
      ApiOperation({
        summary: "Release a case's hold of one kind (all when absent); notices it cancelled resume",
      }),
      caseIdParam,
      ApiQuery({ name: 'kind', required: false, example: 'repayment_plan' }),
      ApiResponse({
        status: 200,
        description: 'Released holds',
        schema: ref('ReleasedHolds'),
      }),
      ApiResponse({ status: 400, description: 'Invalid kind' }),
      ApiResponse({ status: 404, description: 'No active hold' }),
    ),

  listHolds: () =>
    applyDecorators(
      ApiOperation({ summary: "A case's holds, released ones included, in (createdAt, id) order" }),
      caseIdParam,
      PagedQuery({ badRequest: false }),
      ApiResponse({
        status: 200,
        description: 'A page of the holds',
        schema: ref('HoldsPage'),
      }),
      ApiResponse({ status: 400, description: 'Invalid caseId, limit over 500, or an invalid cursor' }),
    ),

  optOut: () =>
    applyDecorators(
      ApiOperation({ summary: 'Record an opt-out, complaint or contact refusal for an address' }),
      ApiBody({
        schema: ref('OptOutRequest'),
        examples: { sms: { value: { address: '+8613800138000', channel: 'sms', reason: 'opt_out' } } },
      }),
      ApiResponse({
        status: 201,
        description: 'Recorded',
        schema: ref('OptOut'),
      }),
      ApiResponse({ status: 400, description: 'Invalid address, channel or reason' }),
    ),

  webhookIngress: () =>
    applyDecorators(
      ApiOperation({
        summary:
          'Delivery reports of one provider (no API key): the provider that owns the name verifies the request (signature or callback token) and parses it',
      }),
      ApiParam({
        name: 'provider',
        description:
          'twilio, twilio-secondary, aliyun, tencent, print-vendor or email, as configured (docs/channels.md)',
      }),
      ApiResponse({ status: 200, description: "Stored; the body is the provider's expected answer" }),
      ApiResponse({ status: 204, description: 'Stored (providers that expect an empty answer)' }),
      ApiResponse({ status: 400, description: 'Malformed body' }),
      ApiResponse({ status: 401, description: 'Bad or missing signature or callback token' }),
      ApiResponse({ status: 403, description: 'Bad or missing signature (Twilio, email events)' }),
      ApiResponse({ status: 404, description: 'Nothing configured takes webhooks under this name' }),
    ),

  twilioStatus: () =>
    applyDecorators(
      ApiOperation({ summary: 'Twilio status callback (X-Twilio-Signature verified; no API key)' }),
      ApiHeader({ name: 'X-Twilio-Signature', required: true }),
      ApiQuery({
        name: 'nid',
        required: false,
        description: 'Our notification id, echoed by the callback URL',
      }),
      ApiBody({
        schema: { type: 'object', additionalProperties: { type: 'string' } },
        examples: {
          delivered: {
            value: { MessageSid: 'SM0123456789abcdef0123456789abcdef', MessageStatus: 'delivered' },
          },
        },
      }),
      ApiResponse({ status: 204, description: 'Stored' }),
      ApiResponse({ status: 403, description: 'Bad or missing signature' }),
      ApiResponse({ status: 404, description: 'Twilio is not configured' }),
    ),
};
