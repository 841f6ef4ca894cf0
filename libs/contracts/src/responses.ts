/**
 * What the REST answers look like, as zod schemas: the OpenAPI components are generated from
 * them (apps/api/src/observability/openapi.ts), and the e2e suites validate every answer against
 * that document, so a field the service adds or drops without saying so fails a test.
 */
import { z } from 'zod';
import { CHANNELS, type ErrorCode, LOCALES, RECIPIENT_ROLES, STATUSES } from '#libs/core';
import type { NotificationEventView, NotificationView } from './notification.dto.js';
import { PROBLEM_TYPES } from './problems.js';

const Instant = z.string().meta({ format: 'date-time', example: '2026-11-24T02:00:00.000Z' });
const Uuid = z.string().meta({ format: 'uuid', example: '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11' });
const Json = z.unknown();

/** `next` of a paged list (docs/api.md, "Pagination"). */
export const NextCursor = z.string().nullable().meta({
  description: 'Pass as `cursor` for the next page; null on the last page',
  example: 'eyJrIjoibm90aWZpY2F0aW9ucy5ieUNhc2UiLCJ2IjpbMTc2NDc0MjQwMDAwMCwiNmYxYyJdfQ',
});

export const ProblemFieldSchema = z.object({
  path: z.string().meta({ example: 'recipient.phone' }),
  message: z.string(),
});

export const ProblemSchema = z
  .looseObject({
    type: z.string().meta({ example: '/problems/validation', description: 'GET it for the explanation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    code: z.enum(PROBLEM_TYPES.map((t) => t.code) as [ErrorCode, ...ErrorCode[]]).meta({
      description: 'Stable error code; the gRPC status is derived from it (docs/api.md)',
    }),
    errors: z.array(ProblemFieldSchema).optional(),
    retryAfter: z.number().int().optional().meta({ description: 'Seconds (429 only; also Retry-After)' }),
  })
  .meta({ description: 'RFC 9457 problem details (application/problem+json)' });

export const NotificationEventSchema = z.object({
  seq: z.number().int(),
  type: z.string().meta({ example: 'notification.accepted' }),
  occurredAt: Instant,
  recordedAt: Instant,
  payload: Json,
  hash: z.string(),
});

const ComplianceSchema = z.object({
  phase: z.string(),
  outcome: z.string(),
  ruleId: z.string().nullable(),
  until: z.string().nullable(),
  reason: z.string().nullable(),
});

const notificationShape = {
  id: Uuid,
  caseId: z.string().meta({ example: 'C-2026-000123' }),
  channel: z.enum(CHANNELS),
  status: z.enum(STATUSES),
  statusReason: z.string().nullable(),
  template: z.object({ key: z.string(), version: z.number().int(), locale: z.enum(LOCALES) }),
  recipient: z.object({ role: z.enum(RECIPIENT_ROLES), name: z.string(), address: z.string() }),
  provider: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  notBefore: Instant.nullable(),
  createdAt: Instant,
  updatedAt: Instant,
};

export const NotificationSchema = z.object({
  ...notificationShape,
  compliance: ComplianceSchema.nullable().meta({
    description: 'The latest compliance gate decision (also in `events` as `compliance.decision`)',
  }),
  events: z.array(NotificationEventSchema),
});

/** A list item: a notification without its events and gate decision. */
export const NotificationSummarySchema = z.object(notificationShape);

export const NotificationPageSchema = z.object({
  caseId: z.string(),
  items: z.array(NotificationSummarySchema),
  next: NextCursor,
});

export const EvidenceEventSchema = z.object({
  seq: z.number().int(),
  caseId: z.string(),
  notificationId: z.string().nullable(),
  type: z.string(),
  occurredAt: Instant,
  recordedAt: Instant,
  payload: Json,
  prevHash: z.string(),
  hash: z.string(),
});

export const ChainVerificationSchema = z.object({
  ok: z.boolean(),
  caseId: z.string(),
  events: z.number().int(),
  headHash: z.string(),
  brokenSeq: z.number().int().optional().meta({ description: 'The first broken seq, when not ok' }),
  failure: z
    .enum([
      'seq_gap',
      'prev_hash_mismatch',
      'hash_mismatch',
      'case_mismatch',
      'head_mismatch',
      'forged',
      'truncated',
    ])
    .optional(),
  detail: z.string().optional(),
});

/** `POST /v1/evidence/verify` with `{ "all": true }`. */
export const LedgerVerificationSchema = z.object({
  ok: z.boolean(),
  cases: z.number().int(),
  events: z.number().int(),
  failures: z.array(ChainVerificationSchema),
  next: z.string().nullable().meta({ description: 'Pass as `after` to verify the next cases' }),
});

export const CaseEvidencePageSchema = z.object({
  caseId: z.string(),
  verification: ChainVerificationSchema.nullable().meta({
    description: 'Of the whole chain, on the first page; null on later ones',
  }),
  events: z.array(EvidenceEventSchema),
  next: NextCursor,
});

export const HoldSchema = z.object({
  id: Uuid,
  caseId: z.string(),
  kind: z.string().meta({ example: 'repayment_plan' }),
  until: Instant.nullable(),
  reason: z.string().nullable(),
  createdBy: z.string(),
  createdAt: Instant,
  releasedAt: Instant.nullable(),
});

export const HoldResultSchema = z.object({
  hold: HoldSchema,
  notifications: z
    .array(Uuid)
    .meta({ description: 'Notifications cancelled by placing the hold, or resumed by releasing it' }),
});

export const HoldsPageSchema = z.object({ caseId: z.string(), holds: z.array(HoldSchema), next: NextCursor });

export const ReleasedHoldsSchema = z.object({ released: z.array(HoldResultSchema) });

export const OptOutSchema = z.object({
  address: z.string().meta({ description: 'The key sends match on (E.164, lower-case email, …)' }),
  channel: z.string(),
  reason: z.string(),
});

export const TemplateSummarySchema = z.object({
  key: z.string(),
  locale: z.enum(LOCALES),
  stage: z.string(),
  channel: z.enum(CHANNELS),
  audience: z.string(),
  description: z.string().nullable(),
  latestVersion: z.number().int().nullable(),
  publishedAt: Instant.nullable(),
  publishedBy: z.string().nullable(),
  openDraft: z
    .object({ id: Uuid, status: z.string(), revision: z.number().int(), updatedAt: Instant })
    .nullable(),
});

export const TemplatePageSchema = z.object({ items: z.array(TemplateSummarySchema), next: NextCursor });

/**
 * The named response schemas, as OpenAPI components (`#/components/schemas/<name>`): a schema
 * listed here is referenced wherever it is used.
 */
export const RESPONSE_SCHEMAS = {
  Problem: ProblemSchema,
  ProblemField: ProblemFieldSchema,
  NotificationEvent: NotificationEventSchema,
  Notification: NotificationSchema,
  NotificationSummary: NotificationSummarySchema,
  NotificationPage: NotificationPageSchema,
  EvidenceEvent: EvidenceEventSchema,
  ChainVerification: ChainVerificationSchema,
  LedgerVerification: LedgerVerificationSchema,
  CaseEvidencePage: CaseEvidencePageSchema,
  Hold: HoldSchema,
  HoldResult: HoldResultSchema,
  HoldsPage: HoldsPageSchema,
  ReleasedHolds: ReleasedHoldsSchema,
  OptOut: OptOutSchema,
  TemplateSummary: TemplateSummarySchema,
  TemplatePage: TemplatePageSchema,
} as const satisfies Record<string, z.ZodType>;

// The views the services build and the schemas agree (a compile error when one changes alone).
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
const agree: [
  SameKeys<z.output<typeof NotificationSchema>, NotificationView>,
  SameKeys<z.output<typeof NotificationEventSchema>, NotificationEventView>,
  z.output<typeof NotificationSchema> extends NotificationView ? true : false,
] = [true, true, true];
void agree;

/* Templates (the store's records; `definition` is the template as stored). */

export const TemplateDefinitionSchema = z.looseObject({
  key: z.string(),
  locale: z.enum(LOCALES),
  stage: z.string(),
  channel: z.enum(CHANNELS),
  audience: z.string(),
  version: z.number().int(),
  schema: z.record(z.string(), Json).meta({ description: "JSON Schema of the template's data" }),
  exampleData: z.record(z.string(), Json),
  parts: z.record(z.string(), Json),
  description: z.string().optional(),
});

export const TemplateDraftSchema = z.object({
  id: Uuid,
  key: z.string(),
  locale: z.enum(LOCALES),
  baseVersion: z.number().int().nullable(),
  status: z.enum(['draft', 'in_review', 'approved', 'published', 'withdrawn']),
  definition: TemplateDefinitionSchema,
  revision: z.number().int().meta({ description: 'Pass it back on update to detect concurrent edits' }),
  createdBy: z.string(),
  authors: z.array(z.string()),
  submittedBy: z.string().nullable(),
  submittedAt: Instant.nullable(),
  approvedBy: z.string().nullable(),
  approvedAt: Instant.nullable(),
  publishedVersion: z.number().int().nullable(),
  lint: z.array(z.record(z.string(), Json)).nullable(),
  createdAt: Instant,
  updatedAt: Instant,
});

export const TemplateVersionSchema = z.object({
  key: z.string(),
  locale: z.enum(LOCALES),
  version: z.number().int(),
  stage: z.string(),
  channel: z.enum(CHANNELS),
  audience: z.string(),
  contentSha256: z.string(),
  source: z.string(),
  draftId: z.string().nullable(),
  basedOnVersion: z.number().int().nullable(),
  authors: z.array(z.string()),
  approvedBy: z.string().nullable(),
  publishedBy: z.string(),
  publishedAt: Instant,
  definition: TemplateDefinitionSchema,
});

const LintFindingSchema = z.object({
  ruleId: z.string(),
  severity: z.string(),
  message: z.string(),
  location: z.record(z.string(), Json),
});

/** One channel of the registry, as the editor and callers see it (`GET /v1/channels`). */
export const ChannelInfoSchema = z.object({
  channel: z.enum(CHANNELS),
  labels: z.object({ 'zh-CN': z.string(), en: z.string() }),
  /** The recipient field that addresses it. */
  addressField: z.enum(['phone', 'email', 'address']),
  /** The template parts a template of this channel is written in, and which of them it must have. */
  parts: z.array(z.string()),
  requiredParts: z.array(z.string()),
  /** The providers configured for it (failover and routing order), and whether all are sandboxes. */
  providers: z.array(z.string()),
  sandbox: z.boolean(),
});

export const ChannelListSchema = z.object({
  items: z.array(ChannelInfoSchema),
  /** `POST /webhooks/<name>` names that something configured answers. */
  webhooks: z.array(z.string()),
});

export type ChannelList = z.output<typeof ChannelListSchema>;

export const TemplatePreviewSchema = z.object({
  key: z.string(),
  locale: z.string(),
  version: z.number().int(),
  channel: z.enum(CHANNELS),
  sms: z
    .object({ text: z.string(), encoding: z.string(), segments: z.number().int(), length: z.number().int() })
    .optional(),
  email: z.object({ subject: z.string(), html: z.string(), text: z.string() }).optional(),
  letter: z
    .object({
      title: z.string(),
      markdown: z.string(),
      attachments: z.array(z.object({ title: z.string(), markdown: z.string() })),
    })
    .optional(),
  /** SMS: the registration at each mainland gateway and the lint problems about it. */
  registrations: z
    .array(
      z.object({
        kind: z.string(),
        templateCode: z.string().nullable(),
        signName: z.string().nullable(),
        text: z.string().nullable(),
        problems: z.array(z.string()),
        configured: z.boolean(),
      }),
    )
    .optional(),
  /** Voice: what the call says (read by text-to-speech). */
  voice: z.object({ text: z.string() }).optional(),
  findings: z.array(LintFindingSchema),
});

const FieldDiffSchema = z.object({
  field: z.string().meta({ example: 'parts.sms' }),
  change: z.enum(['added', 'removed', 'changed']),
  lines: z.array(z.object({ op: z.enum([' ', '-', '+']), text: z.string() })),
});

export const DraftDiffSchema = z.object({ draftId: z.string(), changes: z.array(FieldDiffSchema) });
export const VersionDiffSchema = z.object({
  key: z.string(),
  locale: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  changes: z.array(FieldDiffSchema),
});
export const TemplateLocalesSchema = z.object({ key: z.string(), locales: z.array(TemplateSummarySchema) });

/** The named template schemas (components, like RESPONSE_SCHEMAS). */
export const TEMPLATE_RESPONSE_SCHEMAS = {
  TemplateDefinition: TemplateDefinitionSchema,
  TemplateDraft: TemplateDraftSchema,
  TemplateVersion: TemplateVersionSchema,
  TemplatePreview: TemplatePreviewSchema,
  ChannelList: ChannelListSchema,
  DraftDiff: DraftDiffSchema,
  VersionDiff: VersionDiffSchema,
  TemplateLocales: TemplateLocalesSchema,
} as const satisfies Record<string, z.ZodType>;

/* Webhooks and the print room. */

export const EmailEventsResultSchema = z.object({ received: z.number().int(), matched: z.number().int() });
export const PostEventsResultSchema = z.object({
  received: z.number().int(),
  replay: z.literal(true).optional().meta({ description: 'The delivery was seen before' }),
});
export const UnsubscribeResultSchema = z.object({
  unsubscribed: z.literal(true),
  channel: z.literal('email'),
});
export const TrackingImportSchema = z.object({
  applied: z.number().int().meta({ description: 'Rows that became receipts' }),
  matched: z.number().int().meta({ description: 'Receipts that matched a letter' }),
  errors: z.array(z.object({ line: z.number().int(), message: z.string() })),
});

export const CHANNEL_RESPONSE_SCHEMAS = {
  EmailEventsResult: EmailEventsResultSchema,
  PostEventsResult: PostEventsResultSchema,
  UnsubscribeResult: UnsubscribeResultSchema,
  TrackingImport: TrackingImportSchema,
} as const satisfies Record<string, z.ZodType>;

/* Evidence for the legal team: eligibility, timeline, facts, checkpoints, proofs, retention. */

export const EligibilityCriterionSchema = z.object({
  id: z.enum(['outstanding_principal', 'delivered_notices', 'months_without_payment']),
  met: z.boolean(),
  threshold: z.number(),
  value: z.number().nullable().meta({ description: 'The value found; null when the evidence lacks it' }),
  unit: z.enum(['CNY', 'notices', 'months']),
  source: z.string().nullable().meta({ example: 'data.outstandingPrincipal' }),
  evidenceSeqs: z.array(z.number().int()).meta({ description: 'The evidence events that prove the value' }),
  reason: z.string(),
  sandboxOnly: z
    .number()
    .int()
    .optional()
    .meta({ description: 'Delivered notices only: notices proven by a sandbox receipt alone (not counted)' }),
  lastPaymentDate: z.string().nullable().optional().meta({ description: 'Months only' }),
});

export const EligibilityReportSchema = z.object({
  caseId: z.string(),
  eligible: z.boolean(),
  asOf: Instant,
  head: z.object({ seq: z.number().int(), hash: z.string().nullable() }),
  criteria: z.array(EligibilityCriterionSchema),
  note: z.string(),
});

const TimelineRowSchema = z.object({
  seq: z.number().int(),
  time: Instant,
  notificationId: z.string().nullable(),
  channel: z.string().nullable(),
  event: z.string().meta({ example: 'provider.response' }),
  label: z.string().meta({ description: 'The event type in words', example: '收到回执' }),
  detail: z.string(),
  providerId: z.string().nullable(),
  receipt: z.string().nullable(),
});

const NoticeReceiptSchema = z.object({
  seq: z.number().int(),
  time: z.string(),
  outcome: z.string(),
  outcomeLabel: z.string(),
  providerStatus: z.string().nullable(),
  source: z.string().nullable().meta({ example: 'webhook' }),
  sourceLabel: z.string().nullable(),
  sandbox: z.boolean(),
});

const NoticeViewSchema = z.object({
  notificationId: z.string(),
  channel: z.string().nullable(),
  role: z.string().nullable(),
  maskedAddress: z.string().nullable().meta({ example: '138****8000' }),
  timeZone: z.string(),
  templateKey: z.string().nullable(),
  templateVersion: z.number().int().nullable(),
  acceptedAt: z.string().nullable(),
  sentAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  status: z.string().nullable(),
  provider: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  receipts: z.array(NoticeReceiptSchema),
  artifactSha256: z.string().nullable(),
  proof: z.enum(['legal', 'sandbox', 'none']),
  seqs: z
    .tuple([z.number().int(), z.number().int()])
    .meta({ description: "First and last evidence seq of the notice's delivery record" }),
  verifications: z.number().int(),
  labels: z.object({
    channel: z.string().nullable(),
    role: z.string().nullable(),
    status: z.string().nullable(),
    proof: z.string(),
    receipt: z.string().nullable(),
  }),
});

export const CaseTimelineSchema = z.object({
  caseId: z.string(),
  lang: z.enum(['zh-CN', 'en']),
  rows: z.array(TimelineRowSchema),
  notices: z.array(NoticeViewSchema),
});

export const RecordedFactsSchema = z.object({
  caseId: z.string(),
  lastPaymentDate: z.string().optional(),
  principal: z.string().optional(),
  note: z.string().optional(),
  actor: z.string(),
  seq: z.number().int().meta({ description: 'The case.facts.recorded evidence event' }),
  hash: z.string(),
  recordedAt: Instant,
});

const CheckSchema = z.object({ element: z.string(), ok: z.boolean(), detail: z.string() });

export const BundleVerificationSchema = z.object({
  ok: z.boolean(),
  firstError: z.object({ element: z.string(), detail: z.string() }).optional(),
  checks: z.array(CheckSchema),
  caseId: z.string().optional(),
  head: z.object({ seq: z.number().int(), hash: z.string() }).optional(),
  events: z.number().int().optional(),
  keyId: z.string().optional(),
  checkpoint: z
    .object({ treeSize: z.number().int(), rootHash: z.string(), createdAt: z.string() })
    .optional(),
  timestamp: z
    .object({
      genTime: z.string(),
      serialNumber: z.string(),
      policy: z.string(),
      tsaSubject: z.string(),
      chainVerified: z.boolean(),
    })
    .optional(),
  log: z
    .object({
      origin: z.string().optional(),
      size: z.number().int().optional(),
      signedBy: z.array(z.string()).optional(),
      unverifiedCosigners: z.array(z.string()).optional(),
      trusted: z.object({ size: z.number().int(), ok: z.boolean() }).optional(),
    })
    .optional(),
  bytes: z.number().int().meta({ description: 'Size of the uploaded bundle' }),
});

export const CheckpointSchema = z.object({
  id: z.number().int(),
  reason: z.enum(['scheduled', 'on_demand', 'bundle']),
  checkpoint: z.object({
    version: z.literal(1),
    treeSize: z.number().int(),
    rootHash: z.string(),
    createdAt: Instant,
    keyId: z.string(),
    logSize: z.number().int().optional(),
    logRoot: z.string().optional(),
  }),
  body: z.string().meta({ description: 'The exact signed bytes (canonical JSON of `checkpoint`)' }),
  signature: z.string().meta({ description: 'Base64 Ed25519 signature over `body`' }),
  timestamp: z
    .union([
      z.object({ genTime: z.string().nullable(), token: z.string().meta({ description: 'Base64 DER' }) }),
      z.object({ error: z.string() }),
    ])
    .nullable()
    .meta({ description: 'The RFC 3161 time stamp, the TSA error, or null without a TSA' }),
});

export const InclusionProofSchema = z.object({
  caseId: z.string(),
  checkpoint: CheckpointSchema,
  proof: z.object({
    head: z.object({ caseId: z.string(), seq: z.number().int(), hash: z.string() }),
    leafIndex: z.number().int(),
    treeSize: z.number().int(),
    auditPath: z.array(z.string()).meta({ description: 'Hex SHA-256, from the leaf up (RFC 6962)' }),
  }),
});

const RetentionCaseSchema = z.object({
  caseId: z.string(),
  events: z.number().int(),
  lastEvidenceAt: Instant,
  retainUntil: Instant,
});

export const RetentionReportSchema = z.object({
  asOf: Instant,
  retentionYears: z.number().int(),
  cutoff: Instant,
  pastRetention: z.array(RetentionCaseSchema),
  onLegalHold: z.array(RetentionCaseSchema),
  next: NextCursor,
  deleted: z.literal(0),
  note: z.string(),
});

export const EVIDENCE_RESPONSE_SCHEMAS = {
  EligibilityReport: EligibilityReportSchema,
  CaseTimeline: CaseTimelineSchema,
  RecordedFacts: RecordedFactsSchema,
  BundleVerification: BundleVerificationSchema,
  Checkpoint: CheckpointSchema,
  InclusionProof: InclusionProofSchema,
  RetentionReport: RetentionReportSchema,
} as const satisfies Record<string, z.ZodType>;

/* Template lookups and the test send; the print room's batch. */

export const TemplateCurrentSchema = z.object({
  key: z.string(),
  locale: z.string(),
  latest: TemplateVersionSchema.nullable(),
  openDraft: TemplateDraftSchema.nullable(),
});

export const TestSendResultSchema = z.object({
  testId: Uuid,
  channel: z.enum(CHANNELS),
  provider: z.string(),
  sandbox: z.literal(true),
  providerMessageId: z.string(),
  to: z.string().meta({ description: 'The destination, masked', example: '138****8000' }),
  sha256: z.string().meta({ description: 'SHA-256 of the content sent' }),
  sms: z.object({ encoding: z.string(), segments: z.number().int() }).optional(),
  findings: z.array(LintFindingSchema),
});

export const ClosedBatchSchema = z.union([
  z.object({
    batchId: z.string(),
    dir: z.string(),
    count: z.number().int(),
    manifestSha256: z.string(),
    closedAt: Instant,
  }),
  z.object({ closed: z.null(), detail: z.literal('no open batch') }),
]);

export const MORE_RESPONSE_SCHEMAS = {
  TemplateCurrent: TemplateCurrentSchema,
  TestSendResult: TestSendResultSchema,
  ClosedBatch: ClosedBatchSchema,
} as const satisfies Record<string, z.ZodType>;
