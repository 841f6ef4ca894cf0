import { createHash, randomUUID } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import {
  CHANNELS,
  CLOCK,
  type Clock,
  LOCALES,
  type Locale,
  maskEmail,
  maskPhone,
  STAGES,
  UnauthenticatedError,
  ValidationError,
} from '#libs/core';
import {
  type ChannelProvider,
  type OutboundMessage,
  SandboxEmailProvider,
  SandboxPostProvider,
  SandboxSmsProvider,
} from '#libs/channels';
import { type BankIdentity as LetterBank, renderLetterPdf } from '#libs/letters';
import { TemplateRegistry } from '#libs/notifications';
import {
  AUDIENCES,
  type DraftStatus,
  parseWith,
  partialClosure,
  TemplateRenderPool,
  sampleContext,
  TEMPLATE_KEY_RE,
  type TemplateDefinition,
  SmsRegistrationSchema,
  TemplatePartsSchema,
  type TemplatePreview,
  TemplateStore,
} from '#libs/templates';
import { CursorKeys, pageOf, pageRequestOf } from '#libs/contracts';
import { Scopes } from '../auth/scopes.js';
import { PagedQuery } from '../observability/api-docs.js';

/**
 * The user acting on templates: the name of the authenticated API key (set by the global
 * ApiKeyGuard). Nothing the caller sends (no `X-User` header) can claim another identity, so the
 * four-eyes rule means two different keys. Without an authenticated key: 401.
 */
export function actingUser(req: Request): string {
  const name = req.apiKey?.name;
  if (!name) {
    throw new UnauthenticatedError('Template changes need an API key (Authorization: Bearer <key>)', [
      { path: 'Authorization', message: 'required' },
    ]);
  }
  return name;
}

function locale(raw: string): Locale {
  if (!(LOCALES as readonly string[]).includes(raw)) {
    throw new ValidationError(`Unknown locale ${raw}`, [
      { path: 'locale', message: `one of ${LOCALES.join(', ')}` },
    ]);
  }
  return raw as Locale;
}

function key(raw: string): string {
  if (!TEMPLATE_KEY_RE.test(raw)) {
    throw new ValidationError(`Invalid template key ${raw}`, [
      { path: 'key', message: 'like early.sms.reminder' },
    ]);
  }
  return raw;
}

function positiveInt(raw: unknown, path: string): number {
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new ValidationError(`${path} must be a positive integer`, [{ path, message: 'invalid' }]);
  return n;
}

const DRAFT_STATUSES: DraftStatus[] = ['draft', 'in_review', 'approved', 'published', 'withdrawn'];

export const PreviewSchema = z.strictObject({
  /** Preview a stored draft … */
  draftId: z.uuid().optional(),
  /** … or a published version … */
  key: z.string().regex(TEMPLATE_KEY_RE).optional(),
  locale: z.enum(LOCALES).optional(),
  version: z.number().int().min(1).optional(),
  /** … or an unsaved definition (the editor's live preview). */
  definition: z
    .strictObject({
      key: z.string().regex(TEMPLATE_KEY_RE),
      locale: z.enum(LOCALES),
      stage: z.enum(STAGES),
      channel: z.enum(CHANNELS),
      audience: z.enum(AUDIENCES as unknown as ['debtor', 'third_party']),
      version: z.number().int().min(1).default(1),
      description: z.string().max(2000).optional(),
      schema: z.record(z.string(), z.unknown()),
      exampleData: z.record(z.string(), z.unknown()),
      parts: TemplatePartsSchema,
      partials: z.record(z.string(), z.string()).optional(),
      registrations: z.array(SmsRegistrationSchema).max(8).optional(),
    })
    .optional(),
  /** Data to render with (default: the template's exampleData). */
  data: z.record(z.string(), z.unknown()).optional(),
  recipientName: z.string().min(1).max(128).optional(),
});

/** `POST /v1/templates/test-send`: what to render (as for a preview) and, optionally, where to. */
export const TestSendSchema = PreviewSchema.extend({
  /** SMS: an E.164 number; email: an address. Default: the sandbox's own test address. */
  to: z.string().min(3).max(254).optional(),
});

const TEST_PHONE = '+8613800138000';
const TEST_EMAIL = 'template-test@sandbox.invalid';
const PREVIEW_ADDRESS = {
  'zh-CN': {
    lines: ['北京市朝阳区示例街道 8 号院', '3 号楼 2 单元 501 室'],
    street: '示例街道 8 号院 3 号楼 2 单元 501 室',
  },
  en: { lines: ['8 Example Street, Chaoyang District', 'Beijing'], street: '8 Example Street' },
} as const;

/** REST for template editors: drafts, the four-eyes workflow, versions, diffs, previews, audit. */
@Scopes('templates:edit', 'templates:approve')
@Controller('v1/templates')
export class TemplatesController {
  constructor(
    private readonly store: TemplateStore,
    private readonly registry: TemplateRegistry,
    private readonly pool: TemplateRenderPool,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @PagedQuery({
    list: { field: 'items', description: 'Templates (one per key and locale), by key then locale' },
  })
  @Get()
  async list(@Query('limit') limit?: unknown, @Query('cursor') cursor?: unknown) {
    // The summaries merge published versions and open drafts (one per key and locale, a bounded
    // set), so the page is cut from the ordered list rather than in SQL.
    const req = pageRequestOf({ limit, cursor }, 'templates', CursorKeys.textPair);
    const after = req.after;
    const all = await this.store.list();
    const rest = after
      ? all.filter((t) => (t.key.localeCompare(after[0]) || t.locale.localeCompare(after[1])) > 0)
      : all;
    return pageOf(rest.slice(0, req.limit + 1), req, (t): [string, string] => [t.key, t.locale]);
  }

  @Get('policy')
  policy() {
    return this.config.stagePolicy;
  }

  @PagedQuery({ list: { field: 'items', description: 'Audit entries, newest first' } })
  @Get('audit')
  async audit(
    @Query('key') k?: string,
    @Query('locale') l?: string,
    @Query('draftId') draftId?: string,
    @Query('limit') limit?: unknown,
    @Query('cursor') cursor?: unknown,
  ) {
    // Newest first: the cursor is the id of the previous page's last (oldest) entry.
    const req = pageRequestOf({ limit, cursor }, 'templates.audit', CursorKeys.seq);
    const rows = await this.store.auditLog({
      key: k ? key(k) : undefined,
      locale: l ? locale(l) : undefined,
      draftId,
      limit: req.limit + 1,
      beforeId: req.after,
    });
    return pageOf(rows, req, (a) => a.id);
  }

  // ------------------------------------------------------------ drafts

  @PagedQuery({ list: { field: 'items', description: 'Drafts, most recently updated first' } })
  @Get('drafts')
  async drafts(
    @Query('status') status?: string,
    @Query('key') k?: string,
    @Query('locale') l?: string,
    @Query('open') open?: string,
    @Query('limit') limit?: unknown,
    @Query('cursor') cursor?: unknown,
  ) {
    if (status && !DRAFT_STATUSES.includes(status as DraftStatus)) {
      throw new ValidationError(`Unknown status ${status}`, [
        { path: 'status', message: DRAFT_STATUSES.join(', ') },
      ]);
    }
    // Most recently updated first; the cursor is the previous page's last (updatedAt, id).
    const req = pageRequestOf({ limit, cursor }, 'templates.drafts', CursorKeys.timeAndId);
    const rows = await this.store.drafts({
      status: status as DraftStatus | undefined,
      key: k ? key(k) : undefined,
      locale: l ? locale(l) : undefined,
      open: open === 'true',
      before: req.after,
      take: req.limit + 1,
    });
    return pageOf(rows, req, (d) => [Date.parse(d.updatedAt), d.id] as const);
  }

  @Scopes('templates:edit')
  @Post('drafts')
  @HttpCode(201)
  createDraft(@Req() req: Request, @Body() body: unknown) {
    return this.store.createDraft(actingUser(req), body);
  }

  @Get('drafts/:id')
  draft(@Param('id') id: string) {
    return this.store.draft(id);
  }

  @Scopes('templates:edit')
  @Put('drafts/:id')
  updateDraft(@Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return this.store.updateDraft(actingUser(req), id, body);
  }

  @Get('drafts/:id/diff')
  async draftDiff(@Param('id') id: string) {
    return { draftId: id, changes: await this.store.diffDraft(id) };
  }

  @Scopes('templates:edit')
  @Post('drafts/:id/submit')
  @HttpCode(200)
  submit(@Req() req: Request, @Param('id') id: string) {
    return this.store.submit(actingUser(req), id);
  }

  @Scopes('templates:approve')
  @Post('drafts/:id/approve')
  @HttpCode(200)
  approve(@Req() req: Request, @Param('id') id: string) {
    return this.store.approve(actingUser(req), id);
  }

  @Scopes('templates:approve')
  @Post('drafts/:id/reject')
  @HttpCode(200)
  reject(@Req() req: Request, @Param('id') id: string, @Body() body: { reason?: unknown } | undefined) {
    const reason = typeof body?.reason === 'string' ? body.reason.slice(0, 2000) : '';
    return this.store.reject(actingUser(req), id, reason);
  }

  @Scopes('templates:edit')
  @Post('drafts/:id/withdraw')
  @HttpCode(200)
  withdraw(@Req() req: Request, @Param('id') id: string) {
    return this.store.withdraw(actingUser(req), id);
  }

  @Scopes('templates:approve')
  @Post('drafts/:id/publish')
  @HttpCode(200)
  async publish(@Req() req: Request, @Param('id') id: string) {
    const rec = await this.store.publish(actingUser(req), id);
    this.registry.add(rec.definition);
    return rec;
  }

  // ------------------------------------------------------------ previews

  @Post('preview')
  @HttpCode(200)
  async preview(@Body() body: unknown): Promise<TemplatePreview> {
    const { def, data, recipientName } = await this.previewInput(body);
    // Lint and render run on the render pool: an editor's template never blocks this process.
    return this.pool.preview(def, data, this.context(def, recipientName), this.store.wireLintOptions());
  }

  /** The letter preview as a PDF (libs/letters), same body as `preview`. */
  @Post('preview/pdf')
  @HttpCode(200)
  async previewPdf(@Body() body: unknown, @Res() res: Response): Promise<void> {
    const { def, data, recipientName } = await this.previewInput(body);
    const ctx = this.context(def, recipientName);
    const p = await this.pool.preview(def, data, ctx);
    const pdf = await this.letterPdf(def, p, ctx);
    res
      .status(200)
      .type('application/pdf')
      .setHeader('Content-Disposition', `inline; filename="${def.key}.${def.locale}.pdf"`);
    res.send(pdf);
  }

  /**
   * Test send: renders like a preview and hands the message to the channel's **sandbox** provider
   * (nothing leaves the service; no notification, no evidence), recorded in the template audit as
   * `test.sent` with who sent it, the provider's message id and the content's SHA-256.
   */
  @Scopes('templates:edit')
  @Post('test-send')
  @HttpCode(200)
  async testSend(@Req() req: Request, @Body() body: unknown) {
    const user = actingUser(req);
    const parsed = parseWith(TestSendSchema, body, 'test send');
    const { to: rawTo, ...previewBody } = parsed;
    const { def, data, recipientName } = await this.previewInput(previewBody);
    const ctx = this.context(def, recipientName);
    const p = await this.pool.preview(def, data, ctx, this.store.wireLintOptions());
    const id = randomUUID();
    let provider: ChannelProvider;
    let message: OutboundMessage;
    let content: Buffer;
    let shownTo: string;
    if (p.sms) {
      const to = rawTo ?? TEST_PHONE;
      if (!/^\+[1-9]\d{6,14}$/.test(to)) {
        throw new ValidationError('to is not an E.164 number', [
          { path: 'to', message: 'like +8613800138000' },
        ]);
      }
      provider = new SandboxSmsProvider(0);
      message = { notificationId: id, channel: 'sms', to, webhookBaseUrl: '', sms: { body: p.sms.text } };
      content = Buffer.from(p.sms.text, 'utf8');
      shownTo = maskPhone(to);
    } else if (p.email) {
      const to = (rawTo ?? TEST_EMAIL).toLowerCase();
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(to)) {
        throw new ValidationError('to is not an email address', [
          { path: 'to', message: 'like name@example.com' },
        ]);
      }
      provider = new SandboxEmailProvider(0);
      message = { notificationId: id, channel: 'email', to, webhookBaseUrl: '', email: { ...p.email } };
      content = Buffer.from(`${p.email.subject}\n${p.email.html}\n${p.email.text}`, 'utf8');
      shownTo = maskEmail(to);
    } else {
      const pdf = await this.letterPdf(def, p, ctx);
      const address = PREVIEW_ADDRESS[def.locale === 'zh-CN' ? 'zh-CN' : 'en'];
      provider = new SandboxPostProvider(0);
      const postal = {
        country: 'CN',
        province: '北京市',
        city: '北京市',
        district: '朝阳区',
        street: address.street,
        postcode: '100020',
      };
      message = {
        notificationId: id,
        channel: 'letter',
        to: `CN-100020`,
        webhookBaseUrl: '',
        letter: {
          documentId: `TEST-${id.slice(0, 8)}`,
          pdf,
          pdfSha256: createHash('sha256').update(pdf).digest('hex'),
          recipientName: ctx.recipientName,
          address: postal,
          service: 'ordinary',
        },
      };
      content = pdf;
      shownTo = `${postal.city}${postal.district}…`;
    }
    const sent = await provider.send(message);
    const result = {
      testId: id,
      channel: def.channel,
      provider: provider.name,
      sandbox: true,
      providerMessageId: sent.providerMessageId,
      to: shownTo,
      sha256: createHash('sha256').update(content).digest('hex'),
      ...(p.sms ? { sms: { encoding: p.sms.encoding, segments: p.sms.segments } } : {}),
      findings: p.findings,
    };
    const { findings: _f, ...detail } = result;
    await this.store.recordTestSend(user, def.key, def.locale, {
      ...(parsed.draftId ? { draftId: parsed.draftId } : {}),
      ...(parsed.version ? { version: parsed.version } : {}),
      detail: { ...detail, errors: p.findings.filter((f) => f.severity === 'error').length },
    });
    return result;
  }

  private async letterPdf(
    def: TemplateDefinition,
    p: TemplatePreview,
    ctx: ReturnType<TemplatesController['context']>,
  ): Promise<Buffer> {
    if (!p.letter) {
      throw new ValidationError(`Template ${def.key} is a ${def.channel} template, not a letter`, [
        { path: 'key', message: 'not a letter template' },
      ]);
    }
    const bank: LetterBank = {
      name: this.config.bank.name,
      addressLines: [this.config.bank.address],
      phone: this.config.bank.phone,
      ...(this.config.bank.website ? { website: this.config.bank.website } : {}),
    };
    const pdf = await renderLetterPdf({
      documentId: 'PREVIEW',
      caseId: ctx.caseId,
      date: ctx.issuedOn ?? this.clock.now().toISOString().slice(0, 10),
      locale: def.locale,
      recipient: {
        name: ctx.recipientName,
        addressLines: [...PREVIEW_ADDRESS[def.locale === 'zh-CN' ? 'zh-CN' : 'en'].lines],
        postcode: '100020',
      },
      title: p.letter.title,
      bodyMarkdown: p.letter.markdown,
      attachments: p.letter.attachments.map((a) => ({ title: a.title, bodyMarkdown: a.markdown })),
      bank,
      verifyUrl: `${this.config.http.publicBaseUrl}/v1/templates/${def.key}/${def.locale}/versions/${def.version}`,
    });
    return pdf;
  }

  private context(def: TemplateDefinition, recipientName?: string) {
    const sample = sampleContext(def.locale);
    return {
      ...sample,
      bank: this.registry.senderFor(def),
      recipientName: recipientName ?? sample.recipientName,
      caseId: 'PREVIEW-0001',
      issuedOn: this.clock.now().toISOString().slice(0, 10),
    };
  }

  private async previewInput(
    body: unknown,
  ): Promise<{ def: TemplateDefinition; data: Record<string, unknown>; recipientName?: string }> {
    const p = parseWith(PreviewSchema, body, 'preview request');
    let def: TemplateDefinition;
    if (p.definition) {
      const given = p.definition;
      const library = { ...(await this.store.partialLibrary(given.locale)), ...(given.partials ?? {}) };
      def = { ...given, partials: {} } as TemplateDefinition;
      def.partials = partialClosure(def, library);
    } else if (p.draftId) {
      def = (await this.store.draft(p.draftId)).definition;
    } else if (p.key && p.locale) {
      def = p.version
        ? (await this.store.requireVersion(p.key, p.locale, p.version)).definition
        : await this.registry.resolve(p.key, p.locale);
    } else {
      throw new ValidationError('Give a definition, a draftId, or key and locale (and version)', [
        { path: '(body)', message: 'nothing to preview' },
      ]);
    }
    return { def, data: p.data ?? def.exampleData, recipientName: p.recipientName };
  }

  // ------------------------------------------------------------ published versions

  @Get(':key')
  async byKey(@Param('key') k: string) {
    const items = await this.store.list();
    return { key: key(k), locales: items.filter((i) => i.key === k) };
  }

  @Get(':key/:locale')
  async get(@Param('key') k: string, @Param('locale') l: string) {
    const [latest, drafts] = await Promise.all([
      this.store.latest(key(k), locale(l)),
      this.store.drafts({ open: true, key: k, locale: l as Locale }),
    ]);
    if (!latest && drafts.length === 0) {
      return this.store.requireVersion(k, l as Locale, 1); // 404 problem
    }
    return { key: k, locale: l, latest, openDraft: drafts[0] ?? null };
  }

  @PagedQuery({ list: { field: 'items', description: 'Published versions, newest first' } })
  @Get(':key/:locale/versions')
  async versions(
    @Param('key') k: string,
    @Param('locale') l: string,
    @Query('limit') limit?: unknown,
    @Query('cursor') cursor?: unknown,
  ) {
    // Newest first: the cursor is the previous page's last (lowest) version.
    const req = pageRequestOf({ limit, cursor }, 'templates.versions', CursorKeys.seq);
    const rows = await this.store.versions(key(k), locale(l), { before: req.after, take: req.limit + 1 });
    const page = pageOf(rows, req, (v) => v.version);
    return {
      key: k,
      locale: l,
      items: page.items.map(({ definition, ...meta }) => ({
        ...meta,
        description: definition.description ?? null,
      })),
      next: page.next,
    };
  }

  @Get(':key/:locale/versions/:version')
  version(@Param('key') k: string, @Param('locale') l: string, @Param('version') v: string) {
    return this.store.requireVersion(key(k), locale(l), positiveInt(v, 'version'));
  }

  @Get(':key/:locale/diff')
  async diff(
    @Param('key') k: string,
    @Param('locale') l: string,
    @Query('from') from: string | undefined,
    @Query('to') to: string | undefined,
  ) {
    const f = positiveInt(from, 'from');
    const t = positiveInt(to, 'to');
    return {
      key: k,
      locale: l,
      from: f,
      to: t,
      changes: await this.store.diffVersions(key(k), locale(l), f, t),
    };
  }

  /**
   * Rollback: opens a draft with an older version's content and submits it for review (202). A
   * second person approves it and it is published like any change (four-eyes, as for a publish).
   */
  @Scopes('templates:approve')
  @Post(':key/:locale/rollback')
  @HttpCode(202)
  async rollback(
    @Req() req: Request,
    @Param('key') k: string,
    @Param('locale') l: string,
    @Body() body: { version?: unknown } | undefined,
  ) {
    const user = actingUser(req);
    return this.store.rollback(user, key(k), locale(l), positiveInt(body?.version, 'version'));
  }
}
