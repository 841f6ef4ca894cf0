import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';
import {
  AutomaticNotificationSchema,
  CancelBodySchema,
  BundleVerificationSchema,
  CaseFactsBodySchema,
  CaseTimelineSchema,
  CheckpointSchema,
  ClosedBatchSchema,
  EligibilityReportSchema,
  InclusionProofSchema,
  RecordedFactsSchema,
  RetentionReportSchema,
  EVIDENCE_RESPONSE_SCHEMAS,
  MORE_RESPONSE_SCHEMAS,
  CreateNotificationSchema,
  HoldBodySchema,
  OptOutBodySchema,
  ProblemSchema,
  RESPONSE_SCHEMAS,
  TEMPLATE_RESPONSE_SCHEMAS,
  CHANNEL_RESPONSE_SCHEMAS,
  ProblemTypeSchema,
  VerifyBodySchema,
} from '#libs/contracts';
import type { ClosedBatch } from '#libs/channels';
import type { CallbackDeliveryView, CallbackEndpointView } from '#libs/notifications';
import { StagePolicySchema } from '#libs/config';
import type {
  BundleVerification,
  CaseInclusionProof,
  CaseTimeline,
  checkpointView,
  EligibilityReport,
  RecordedFacts,
  RetentionReport,
} from '#libs/evidence';
import { DraftCreateSchema, DraftPatchSchema } from '#libs/templates';
import { PreviewSchema, TestSendSchema } from '../http/templates.controller.js';
import {
  CALLBACK_RESPONSE_SCHEMAS,
  CallbackDeliverySchema,
  CallbackEndpointBodySchema,
  CallbackEndpointSchema,
} from '../http/callbacks.controller.js';
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

/** zod schemas as OpenAPI components (`#/components/schemas/<name>`), nested named ones by $ref. */
function componentsOf(named: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as unknown as { schemas: Record<string, Json> };
  for (const schema of Object.values(schemas)) {
    delete schema.$id;
    delete schema.$schema;
  }
  return schemas;
}

/** The bodies the routes validate with (the same zod schemas), as components. */
const REQUEST_SCHEMAS = {
  ExplicitNotification: CreateNotificationSchema,
  AutomaticNotification: AutomaticNotificationSchema,
  CreateNotification: z.union([CreateNotificationSchema, AutomaticNotificationSchema]).meta({
    description:
      'Explicit (`channel` + `templateKey`) or automatic (`dpd` and/or `stage`: the stage policy picks)',
    example: {
      caseId: 'C-2026-000123',
      channel: 'sms',
      templateKey: 'early.sms.reminder',
      locale: 'zh-CN',
      recipient: { role: 'debtor', name: '张三', phone: '+8613800138000', timeZone: 'Asia/Shanghai' },
      data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
    },
  }),
  CancelRequest: CancelBodySchema,
  HoldRequest: HoldBodySchema,
  OptOutRequest: OptOutBodySchema,
  VerifyRequest: VerifyBodySchema,
  DraftCreateRequest: DraftCreateSchema,
  DraftPatchRequest: DraftPatchSchema,
  PreviewRequest: PreviewSchema,
  TestSendRequest: TestSendSchema,
  FactsRequest: CaseFactsBodySchema,
  CallbackEndpointRequest: CallbackEndpointBodySchema,
  RejectRequest: z.strictObject({ reason: z.string().max(2000).optional() }),
  RollbackRequest: z.strictObject({ version: z.number().int().min(1) }),
} satisfies Record<string, z.ZodType>;

/** One line of the NDJSON answer of `POST /v1/notifications/batch`. */
const BatchLineResult = z.union([
  z.object({ line: z.number().int(), id: z.string(), status: z.string(), replayed: z.boolean() }),
  z.object({ line: z.number().int(), error: ProblemSchema }),
]);

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/**
 * Request bodies and success answers of the operations whose controllers carry no decorator for
 * them, by operationId. An id that names no operation fails the build of the document.
 */
const OPERATIONS: Record<string, { body?: Json; responses?: Record<string, Json> }> = {
  Batch_batch: {
    body: {
      required: true,
      description: 'One CreateNotification per line, each with an optional `idempotencyKey`',
      content: { 'application/x-ndjson': { schema: { type: 'string' } } },
    },
    responses: {
      200: {
        description: 'One result per line, in order, streamed (a line either an id or a problem)',
        content: {
          'application/x-ndjson': {
            schema: { type: 'string', 'x-line-schema': ref('BatchLineResult') },
          },
        },
      },
    },
  },
  Templates_list: { responses: { 200: ok('A page of templates', ref('TemplatePage')) } },
  Templates_createDraft: {
    body: body('DraftCreateRequest'),
    responses: { 201: ok('The draft', ref('TemplateDraft')) },
  },
  Templates_draft: { responses: { 200: ok('The draft', ref('TemplateDraft')) } },
  Templates_updateDraft: {
    body: body('DraftPatchRequest'),
    responses: { 200: ok('The draft', ref('TemplateDraft')) },
  },
  Templates_submit: {
    responses: { 200: ok('The draft, in review (with its lint findings)', ref('TemplateDraft')) },
  },
  Templates_approve: { responses: { 200: ok('The approved draft', ref('TemplateDraft')) } },
  Templates_reject: {
    body: body('RejectRequest', false),
    responses: { 200: ok('The draft, back to draft', ref('TemplateDraft')) },
  },
  Templates_withdraw: { responses: { 200: ok('The withdrawn draft', ref('TemplateDraft')) } },
  Templates_publish: { responses: { 200: ok('The published version', ref('TemplateVersion')) } },
  Templates_version: { responses: { 200: ok('The version', ref('TemplateVersion')) } },
  Templates_rollback: {
    body: body('RollbackRequest'),
    responses: { 202: ok('A draft of that content, submitted for review', ref('TemplateDraft')) },
  },
  Templates_preview: {
    body: body('PreviewRequest'),
    responses: { 200: ok('The rendered parts and the lint findings', ref('TemplatePreview')) },
  },
  Templates_draftDiff: {
    responses: { 200: ok("The draft's changes to its base version", ref('DraftDiff')) },
  },
  Templates_diff: { responses: { 200: ok('The changes from one version to another', ref('VersionDiff')) } },
  Templates_byKey: { responses: { 200: ok('The locales of a template key', ref('TemplateLocales')) } },
  Templates_previewPdf: {
    body: body('PreviewRequest'),
    responses: { 200: binary('application/pdf', 'The PDF') },
  },
  Channels_list: {
    responses: {
      200: ok(
        'Every channel: labels, address field, template parts, configured providers',
        ref('ChannelList'),
      ),
    },
  },
  Templates_policy: {
    responses: { 200: ok('The stage policy in force (STAGE_POLICY)', ref('StagePolicy')) },
  },
  Templates_get: {
    responses: { 200: ok('The latest version and the open draft', ref('TemplateCurrent')) },
  },
  Templates_testSend: {
    body: body('TestSendRequest'),
    responses: { 200: ok('Sent through the sandbox provider', ref('TestSendResult')) },
  },
  PrintRoom_close: {
    responses: { 200: ok('The closed batch, or `closed: null` without an open one', ref('ClosedBatch')) },
  },
  Legal_eligibility: {
    responses: { 200: ok('Each criterion, the value found and its proving seqs', ref('EligibilityReport')) },
  },
  Legal_timeline: {
    responses: { 200: ok('The labelled timeline and one summary per notice', ref('CaseTimeline')) },
  },
  Legal_recordFacts: {
    body: body('FactsRequest'),
    responses: { 200: ok('The recorded facts and the evidence seq that proves them', ref('RecordedFacts')) },
  },
  Legal_verifyBundle: {
    responses: { 200: ok('The verification: `ok`, `firstError`, every check', ref('BundleVerification')) },
  },
  Legal_inclusionProof: {
    responses: { 200: ok("The checkpoint and the case head's audit path", ref('InclusionProof')) },
  },
  Legal_createCheckpoint: { responses: { 201: ok('The new checkpoint', ref('Checkpoint')) } },
  Legal_latestCheckpoint: { responses: { 200: ok('The latest checkpoint', ref('Checkpoint')) } },
  Legal_checkpoint: { responses: { 200: ok('The checkpoint', ref('Checkpoint')) } },
  Legal_retentionReport: {
    responses: {
      200: ok('The report page; `next` is the cursor of the next page', ref('RetentionReport')),
    },
  },
  Callbacks_secret: {
    responses: { 200: ok('HMAC-SHA256 key of the X-Callback-Signature header', ref('CallbackSecret')) },
  },
  Callbacks_add: {
    body: body('CallbackEndpointRequest'),
    responses: { 201: ok('The endpoint and the signing secret', ref('CallbackEndpointCreated')) },
  },
  Callbacks_endpoints: { responses: { 200: ok('Oldest first', ref('CallbackEndpoints')) } },
  Callbacks_disable: { responses: { 200: ok('The disabled endpoint', ref('CallbackEndpoint')) } },
  Callbacks_deliveries: { responses: { 200: ok('One page, oldest first', ref('CallbackDeliveryPage')) } },
  Callbacks_delivery: { responses: { 200: ok('The delivery', ref('CallbackDelivery')) } },
  Callbacks_replay: { responses: { 202: ok('Queued again', ref('CallbackDelivery')) } },
  PrintRoom_tracking: {
    body: { required: true, content: { 'text/csv': { schema: { type: 'string' } } } },
    responses: { 200: ok('Rows applied; bad rows by line number', ref('TrackingImport')) },
  },
  Webhooks_ingressRoute: {
    body: {
      required: true,
      description:
        "The provider's own format, verified over the exact bytes: Twilio form parameters, Aliyun SmsReport and Tencent status reports (JSON arrays), print-vendor and email events (JSON), DSNs",
      content: {
        'application/json': { schema: {} },
        'application/x-www-form-urlencoded': {
          schema: { type: 'object', additionalProperties: { type: 'string' } },
        },
        'message/rfc822': { schema: { type: 'string' } },
      },
    },
    responses: {
      200: ok(
        'The answer the provider expects (Aliyun `{code: 0}`, Tencent `{result: 0}`, email and vendor counts)',
        { type: 'object', additionalProperties: true },
      ),
    },
  },
  Webhooks_emailEvents: {
    body: {
      required: true,
      description: 'Signed (timestamp + HMAC headers): JSON events, or a DSN / complaint message',
      content: {
        'application/json': { schema: { type: 'object', additionalProperties: true } },
        'message/rfc822': { schema: { type: 'string' } },
      },
    },
    responses: { 200: ok('Events received and how many matched a notice', ref('EmailEventsResult')) },
  },
  Webhooks_postEvents: {
    body: {
      required: true,
      description: 'Signed by the print vendor; verified over the exact bytes',
      content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } },
    },
    responses: { 200: ok('Events received', ref('PostEventsResult')) },
  },
  ChannelWebhooks_unsubscribe: {
    body: {
      required: false,
      description: 'RFC 8058 one-click (`List-Unsubscribe=One-Click`)',
      content: {
        'application/x-www-form-urlencoded': {
          schema: {
            type: 'object',
            properties: { 'List-Unsubscribe': { type: 'string', enum: ['One-Click'] } },
          },
        },
      },
    },
    responses: { 200: ok('Unsubscribed', ref('UnsubscribeResult')) },
  },
  Problems_show: {
    responses: {
      200: {
        description: 'The problem type: an HTML page, or JSON on Accept: application/json',
        content: {
          'application/json': { schema: ref('ProblemType') },
          'text/html': { schema: { type: 'string' } },
        },
      },
    },
  },
  Editor_page: { responses: { 200: text('text/html', 'The editor page') } },
  Editor_script: { responses: { 200: text('text/javascript', 'The editor script') } },
  ChannelWebhooks_unsubscribePage: {
    responses: {
      200: text('text/html', 'The confirmation page'),
      400: text('text/html', 'An invalid link: a page saying so (a person clicked it)'),
    },
  },
  Legal_bundle: { responses: { 200: binary('application/zip', 'The evidence bundle') } },
  Legal_publicKey: { responses: { 200: text('application/x-pem-file', 'The evidence public key (PEM)') } },
  EvidenceLog_vkey: { responses: { 200: text('text/plain', 'The log verifier key (note format)') } },
  EvidenceLog_checkpoint: { responses: { 200: text('text/plain', 'The signed checkpoint (note format)') } },
};

/** POST operations that read no body (documented with `x-no-body: true`). */
const BODYLESS = new Set([
  'Templates_submit',
  'Templates_approve',
  'Templates_withdraw',
  'Templates_publish',
  'EvidenceAlerts_ack',
  'Legal_createCheckpoint',
  'PrintRoom_close',
  'Callbacks_replay',
]);

function json(schema: Json): Json {
  return { 'application/json': { schema } };
}
function ok(description: string, schema: Json): Json {
  return { description, content: json(schema) };
}
function body(name: string, required = true): Json {
  return { required, content: json(ref(name)) };
}
function text(type: string, description: string): Json {
  return { description, content: { [type]: { schema: { type: 'string' } } } };
}
function binary(type: string, description: string): Json {
  return { description, content: { [type]: { schema: { type: 'string', format: 'binary' } } } };
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
    ...componentsOf(
      {
        ProblemType: ProblemTypeSchema,
        ...RESPONSE_SCHEMAS,
        ...TEMPLATE_RESPONSE_SCHEMAS,
        ...CHANNEL_RESPONSE_SCHEMAS,
        ...EVIDENCE_RESPONSE_SCHEMAS,
        ...MORE_RESPONSE_SCHEMAS,
        ...CALLBACK_RESPONSE_SCHEMAS,
        StagePolicy: StagePolicySchema,
        BatchLineResult,
      },
      'output',
    ),
    ...componentsOf(REQUEST_SCHEMAS, 'input'),
  };
  const unused = new Set([...Object.keys(OPERATIONS), ...BODYLESS]);
  for (const [path, item] of Object.entries(doc.paths) as [string, Record<string, Json>][]) {
    for (const m of METHODS) {
      const op = item[m] as (Json & { responses?: Record<string, Json>; security?: unknown[] }) | undefined;
      if (!op) continue;
      op.responses ??= {};
      if (BODYLESS.has(String(op.operationId))) {
        unused.delete(String(op.operationId));
        op['x-no-body'] = true;
      }
      const extra = OPERATIONS[String(op.operationId)];
      if (extra) {
        unused.delete(String(op.operationId));
        if (extra.body) op.requestBody = extra.body;
        for (const [status, res] of Object.entries(extra.responses ?? {}))
          op.responses[status] = { ...(op.responses[status] ?? {}), ...res };
      }
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
      // Every error is a problem: statuses an operation does not list (a 404 for an unknown
      // draft, a 409 of the workflow, ...) are still typed for a client.
      op.responses.default ??= { description: 'Any other error' };
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
        if (status === 'default') {
          res.content ??= { 'application/problem+json': { schema: problemRef } };
          continue;
        }
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
  if (unused.size) throw new Error(`openapi.ts: no operation ${[...unused].join(', ')}`);
  return doc;
}

type DocOperation = {
  'x-no-body'?: boolean;
  operationId?: string;
  requestBody?: unknown;
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
};

/**
 * Operations whose success answer has no schema (204 and redirects excepted), and POST/PUT/PATCH
 * operations without a request body that do not say they take none (`x-no-body`: submit,
 * approve, publish, ...). Empty for the committed document: `npm run openapi:check` and the authz
 * e2e suite fail otherwise, so a route cannot land untyped.
 */
export function openApiGaps(doc: unknown): string[] {
  const gaps: string[] = [];
  const paths = (doc as { paths: Record<string, Record<string, DocOperation>> }).paths;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      const ok = Object.entries(op.responses ?? {}).filter(([s]) => /^2\d\d$/.test(s) && s !== '204');
      const typed = ok.some(([, r]) => Object.values(r.content ?? {}).some((c) => c.schema));
      const what = [
        ...(ok.length && !typed ? ['no 2xx schema'] : []),
        ...(!ok.length && !('204' in (op.responses ?? {})) ? ['no 2xx answer'] : []),
        ...(['post', 'put', 'patch'].includes(method) && !op.requestBody && !op['x-no-body']
          ? ['no request body']
          : []),
      ];
      if (what.length)
        gaps.push(`${method.toUpperCase()} ${path} (${op.operationId ?? '?'}): ${what.join(', ')}`);
    }
  }
  return gaps;
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

// The answers the evidence services and the print room build agree with the schemas above: each
// view has the schema's keys and is one of its values (a compile error when one changes alone).
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Agrees<View, S extends z.ZodType> =
  SameKeys<View, z.output<S>> extends true ? (View extends z.output<S> ? true : false) : false;
const agree: [
  Agrees<EligibilityReport, typeof EligibilityReportSchema>,
  Agrees<CaseTimeline, typeof CaseTimelineSchema>,
  Agrees<RecordedFacts, typeof RecordedFactsSchema>,
  Agrees<BundleVerification & { bytes: number }, typeof BundleVerificationSchema>,
  Agrees<ReturnType<typeof checkpointView>, typeof CheckpointSchema>,
  Agrees<CaseInclusionProof, (typeof InclusionProofSchema)['shape']['proof']>,
  Agrees<RetentionReport, typeof RetentionReportSchema>,
  Agrees<ClosedBatch, (typeof ClosedBatchSchema)['options'][0]>,
  Agrees<CallbackEndpointView, typeof CallbackEndpointSchema>,
  // The view types `type` as a string (the schema names the event types) and `data` as JSON.
  SameKeys<CallbackDeliveryView, z.output<typeof CallbackDeliverySchema>>,
  SameKeys<CallbackDeliveryView['event'], z.output<typeof CallbackDeliverySchema>['event']>,
  Omit<CallbackDeliveryView, 'type' | 'event'> extends Omit<
    z.output<typeof CallbackDeliverySchema>,
    'type' | 'event'
  >
    ? true
    : false,
] = [true, true, true, true, true, true, true, true, true, true, true, true];
void agree;
