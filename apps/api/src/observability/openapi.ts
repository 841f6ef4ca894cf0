import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';
import { CreateNotificationSchema } from '#libs/contracts';
import { BEARER_SCHEME } from '../auth/scopes.js';
import { NON_JSON_BODY_PATHS } from '../http/json-only.js';

/** Where the interactive docs and the JSON document are served (no key needed). */
export const DOCS_PATH = 'docs';
export const DOCS_JSON_PATH = 'docs/openapi.json';

type Json = Record<string, unknown>;

const problemRef = { $ref: '#/components/schemas/Problem' };

const TITLES: Record<number, [string, string, string]> = {
  400: ['validation', 'Invalid request', 'The request has 1 invalid field: recipient.phone'],
  401: ['unauthenticated', 'Authentication required', 'An API key is required (Authorization: Bearer <key>)'],
  403: ['forbidden', 'Forbidden', 'This API key lacks the scope notifications:send'],
  404: ['not_found', 'Not found', 'No notification 00000000-0000-4000-8000-000000000000'],
  409: ['conflict', 'Conflict', 'Notification is sent and can no longer be cancelled'],
  413: ['payload_too_large', 'Payload too large', 'The request body exceeds the limit of 262144 bytes'],
  415: [
    'unsupported_media_type',
    'Unsupported media type',
    'This route reads application/json, not text/plain',
  ],
  422: ['template_data', 'Template data is invalid', 'data.amountDue is required'],
  429: ['rate_limited', 'Too many requests', 'Rate limit of API key crm-prod exceeded'],
  500: ['internal', 'Internal error', 'The service could not process the request; it has been logged.'],
  502: ['provider', 'Provider error', 'The provider did not answer'],
  503: ['internal', 'Service unavailable', 'Not ready'],
};

function problemExample(status: number, instance: string): Json {
  const [code, title, detail] = TITLES[status] ?? ['internal', 'Error', 'Error'];
  return {
    type: `/problems/${code}`,
    title,
    status,
    detail,
    instance,
    code,
    ...(status === 400 ? { errors: [{ path: 'recipient.phone', message: 'not a valid phone number' }] } : {}),
    ...(status === 429 ? { retryAfter: 1 } : {}),
    ...(status === 415 ? { errors: [{ path: 'Content-Type', message: 'expected application/json' }] } : {}),
  };
}

/** The `RateLimit-*` answer headers (draft-ietf-httpapi-ratelimit-headers), counted in notices. */
const RATE_LIMIT_HEADERS: Record<string, Json> = {
  'RateLimit-Limit': { description: 'Notices the API key may send per window', schema: { type: 'integer' } },
  'RateLimit-Remaining': { description: 'Notices left in the window', schema: { type: 'integer' } },
  'RateLimit-Reset': { description: 'Seconds until the window resets', schema: { type: 'integer' } },
  'RateLimit-Policy': { description: '`<limit>;w=<window seconds>`', schema: { type: 'string' } },
};

const schemas: Record<string, Json> = {
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details (application/problem+json)',
    required: ['type', 'title', 'status', 'detail', 'code'],
    properties: {
      type: { type: 'string', example: '/problems/validation' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      instance: { type: 'string' },
      code: {
        type: 'string',
        description: 'Stable error code; the gRPC status is derived from it (docs/api.md)',
        example: 'validation',
      },
      errors: { type: 'array', items: { $ref: '#/components/schemas/ProblemField' } },
      retryAfter: { type: 'integer', description: 'Seconds (429 only; also the Retry-After header)' },
    },
    additionalProperties: true,
  },
  ProblemField: {
    type: 'object',
    required: ['path', 'message'],
    properties: { path: { type: 'string', example: 'recipient.phone' }, message: { type: 'string' } },
  },
  NotificationEvent: {
    type: 'object',
    required: ['seq', 'type', 'occurredAt', 'recordedAt', 'payload', 'hash'],
    properties: {
      seq: { type: 'integer', example: 1 },
      type: { type: 'string', example: 'notification.accepted' },
      occurredAt: { type: 'string', format: 'date-time' },
      recordedAt: { type: 'string', format: 'date-time' },
      payload: { type: 'object', additionalProperties: true },
      hash: { type: 'string', example: 'a3f1…' },
    },
  },
  Notification: {
    type: 'object',
    required: ['id', 'caseId', 'channel', 'status', 'template', 'recipient', 'createdAt', 'updatedAt'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      caseId: { type: 'string', example: 'C-2026-000123' },
      channel: { type: 'string', enum: ['sms', 'email', 'letter'] },
      status: {
        type: 'string',
        enum: [
          'accepted',
          'scheduled',
          'sending',
          'sent',
          'delivered',
          'undelivered',
          'failed',
          'suppressed',
          'cancelled',
        ],
      },
      statusReason: { type: 'string', nullable: true },
      template: {
        type: 'object',
        properties: { key: { type: 'string' }, version: { type: 'integer' }, locale: { type: 'string' } },
      },
      recipient: {
        type: 'object',
        properties: { role: { type: 'string' }, name: { type: 'string' }, address: { type: 'string' } },
      },
      provider: { type: 'string', nullable: true },
      providerMessageId: { type: 'string', nullable: true },
      notBefore: { type: 'string', format: 'date-time', nullable: true },
      compliance: { type: 'object', nullable: true, additionalProperties: true },
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      events: { type: 'array', items: { $ref: '#/components/schemas/NotificationEvent' } },
    },
    example: {
      id: '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11',
      caseId: 'C-2026-000123',
      channel: 'sms',
      status: 'accepted',
      statusReason: null,
      template: { key: 'early.sms.reminder', version: 1, locale: 'zh-CN' },
      recipient: { role: 'debtor', name: '张三', address: '+8613800138000' },
      provider: null,
      providerMessageId: null,
      notBefore: null,
      createdAt: '2026-11-24T02:00:00.000Z',
      updatedAt: '2026-11-24T02:00:00.000Z',
      events: [],
    },
  },
};

function createNotificationSchema(): Json {
  const s = z.toJSONSchema(CreateNotificationSchema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'any',
  }) as Json;
  delete s.$schema;
  s.example = {
    caseId: 'C-2026-000123',
    channel: 'sms',
    templateKey: 'early.sms.reminder',
    locale: 'zh-CN',
    recipient: { role: 'debtor', name: '张三', phone: '+8613800138000', timeZone: 'Asia/Shanghai' },
    data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
  };
  return s;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'] as const;

/**
 * Completes what the decorators say: problem+json bodies (schema + example) on every error
 * answer, 500 everywhere, and routes without `@Scopes`/`@Public` documented as admin-only
 * (which is what the guard enforces).
 */
function complete(doc: OpenAPIObject): OpenAPIObject {
  const components = (doc.components ??= {}) as { schemas?: Record<string, unknown> };
  components.schemas = {
    ...(components.schemas ?? {}),
    ...schemas,
    CreateNotification: createNotificationSchema(),
  };
  for (const [path, item] of Object.entries(doc.paths) as [string, Record<string, Json>][]) {
    for (const m of METHODS) {
      const op = item[m] as (Json & { responses?: Record<string, Json>; security?: unknown[] }) | undefined;
      if (!op) continue;
      op.responses ??= {};
      // @Scopes on both the class and the method adds the scheme twice.
      if (op.security) op.security = [...new Map(op.security.map((x) => [JSON.stringify(x), x])).values()];
      if (!op['x-public'] && !op.security) {
        op.security = [{ [BEARER_SCHEME]: [] }];
        op['x-required-scopes'] = ['admin'];
        op.responses['401'] ??= { description: 'No API key, or an unknown or revoked one' };
        op.responses['403'] ??= { description: 'The API key lacks the scope (admin)' };
        op.responses['429'] ??= { description: 'Rate limit of the API key exceeded (see Retry-After)' };
      }
      op.responses['500'] ??= { description: 'Unexpected error (logged)' };
      const jsonBody =
        (m === 'post' || m === 'put' || m === 'patch') &&
        path.startsWith('/v1/') &&
        !NON_JSON_BODY_PATHS.some((p) => path === `/v1${p}`);
      if (jsonBody) {
        op.responses['415'] ??= {
          description: 'A body that is not application/json (or application/*+json)',
        };
      }
      for (const [status, res] of Object.entries(op.responses)) {
        const code = Number(status);
        if (code < 400 || res.content) continue;
        res.content = {
          'application/problem+json': { schema: problemRef, example: problemExample(code, path) },
        };
        if (code === 429) {
          res.headers = {
            'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } },
            ...RATE_LIMIT_HEADERS,
          };
        }
      }
      if (op.security && !op['x-public']) {
        for (const [status, res] of Object.entries(op.responses)) {
          const code = Number(status);
          if (code >= 200 && code < 300)
            res.headers = { ...RATE_LIMIT_HEADERS, ...((res.headers as Json) ?? {}) };
        }
      }
    }
  }
  return doc;
}

/** The OpenAPI document of the app (no listener needed). */
export function buildOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Collection-notice service')
    .setDescription(
      'SMS, email and registered-mail letters for credit-card collection, with a compliance gate and a hash-chained evidence ledger. ' +
        'Every route except health, webhooks and /docs needs an API key (`Authorization: Bearer <key>`) with the scope named in `x-required-scopes` (admin implies all). ' +
        'Errors are RFC 9457 application/problem+json. The same operations are on gRPC (libs/contracts/proto/notices.proto).',
    )
    .setVersion('1.0.0')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'An API key (`npm run apikeys -- create`)' },
      BEARER_SCHEME,
    )
    .build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controller: string, method: string) =>
      `${controller.replace(/Controller$/, '')}_${method}`,
  });
  return complete(doc);
}

/** Serves the Swagger UI at /docs and the document at /docs/openapi.json. */
export function setupOpenApi(app: INestApplication): OpenAPIObject {
  const doc = buildOpenApi(app);
  SwaggerModule.setup(DOCS_PATH, app, doc, {
    jsonDocumentUrl: DOCS_JSON_PATH,
    yamlDocumentUrl: 'docs/openapi.yaml',
  });
  return doc;
}
