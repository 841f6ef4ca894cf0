import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import canonicalize from 'canonicalize';
import {
  AppError,
  CLOCK,
  type Clock,
  CHANNELS,
  ConflictError,
  ForbiddenError,
  LOCALES,
  type Locale,
  NotFoundError,
  STAGES,
  ValidationError,
} from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import { lintTemplate } from '../lint.js';
import { TemplateRenderPool } from '../render-pool.js';
import type { WireLintOptions } from '../render-wire.js';
import type { LintFinding, LintOptions, TemplateDefinition } from '../types.js';
import { diffDefinitions, type FieldDiff } from './diff.js';
import {
  type DraftCreateInput,
  DraftCreateSchema,
  type DraftPatch,
  DraftPatchSchema,
  parseWith,
} from './input.js';
import {
  type AuditFilter,
  type DraftFilter,
  type DraftTransitionSet,
  TemplateRepository,
} from './template.repository.js';
import type {
  AuditAction,
  AuditEntry,
  DraftStatus,
  TemplateDraftRecord,
  TemplateSummary,
  TemplateVersionRecord,
  VersionSource,
} from './types.js';

/** Injection token for {@link TemplateStoreOptions}. */
export const TEMPLATE_STORE_OPTIONS = Symbol('TEMPLATE_STORE_OPTIONS');

export interface TemplateStoreOptions {
  /** Options for the lint run at submit (and in previews). `partials` is ignored: a version must be self-contained. */
  lint?: Omit<LintOptions, 'partials'>;
}

/** A submit refused because lint found errors (422); `findings` lists every one. */
export class TemplateLintError extends AppError {
  readonly code = 'validation';
  readonly status = 422;
  readonly title = 'Template has lint errors';
}

/**
 * SHA-256 of a version's canonical content (RFC 8785 JSON): what notifications pin in their evidence.
 * SMS registrations are content (their params decide what a gateway sends); a definition without any
 * hashes as it did before they existed.
 */
export function templateContentDigest(def: TemplateDefinition): string {
  const text = canonicalize({
    key: def.key,
    locale: def.locale,
    version: def.version,
    parts: def.parts,
    partials: def.partials ?? {},
    schema: def.schema,
    ...(def.registrations?.length ? { registrations: def.registrations } : {}),
  });
  return createHash('sha256')
    .update(text ?? '')
    .digest('hex');
}

/** Partial names a Handlebars source refers to (`{{> name}}`, `{{#> name}}`). */
export function partialReferences(source: string): string[] {
  const out = new Set<string>();
  for (const m of source.matchAll(/\{\{~?\s*#?>\s*([A-Za-z0-9_.\-/]+)/g)) out.add(m[1]);
  return [...out];
}

function partSources(def: Pick<TemplateDefinition, 'parts'>): string[] {
  const p = def.parts;
  return [
    p.sms,
    p.subject,
    p.html,
    p.text,
    p.letter,
    p.letterTitle,
    ...(p.attachments ?? []).flatMap((a) => [a.title, a.letter]),
  ].filter((s): s is string => typeof s === 'string');
}

/** The partials a definition uses, transitively, resolved from `library`. Unknown names are left out (lint reports them). */
export function partialClosure(
  def: Pick<TemplateDefinition, 'parts'>,
  library: Record<string, string>,
): Record<string, string> {
  const used: Record<string, string> = {};
  const queue = partSources(def).flatMap(partialReferences);
  while (queue.length) {
    const name = queue.shift() as string;
    if (name in used) continue;
    const src = library[name];
    if (src === undefined) continue;
    used[name] = src;
    queue.push(...partialReferences(src));
  }
  return Object.fromEntries(Object.entries(used).sort(([a], [b]) => a.localeCompare(b)));
}

export type PublishedListener = (record: TemplateVersionRecord) => void;

/**
 * The template store: immutable published versions, drafts with the four-eyes workflow
 * (draft -> in_review -> approved -> published; the approver is none of the draft's authors),
 * rollback (an older version's content published again as a new version) and the audit log.
 * Every write records who did it, when, and the diff.
 */
@Injectable()
export class TemplateStore {
  private readonly log = new Logger(TemplateStore.name);
  private readonly listeners = new Set<PublishedListener>();
  private readonly lintOptions: Omit<LintOptions, 'partials'>;
  private readonly repo: TemplateRepository;

  /**
   * `repo` is optional so that the store can still be built by hand from a `Db` and a clock
   * (scripts/templates-export.ts does); Nest injects the module's {@link TemplateRepository}.
   */
  constructor(
    private readonly db: Db,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() @Inject(TEMPLATE_STORE_OPTIONS) options?: TemplateStoreOptions,
    @Optional() private readonly pool?: TemplateRenderPool,
    @Optional() repo?: TemplateRepository,
  ) {
    this.lintOptions = options?.lint ?? {};
    this.repo = repo ?? new TemplateRepository(db);
  }

  /** Called after a version is published (in this process). Returns an unsubscribe function. */
  onPublished(listener: PublishedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(rec: TemplateVersionRecord): void {
    for (const l of this.listeners) {
      try {
        l(rec);
      } catch (err) {
        this.log.error(`publish listener failed: ${String(err)}`);
      }
    }
  }

  /**
   * Lint as at submit: the definition must carry every partial it uses. Runs on the render pool
   * (lint renders the example data, which is as untrusted as the template) when there is one.
   */
  async lint(def: TemplateDefinition): Promise<LintFinding[]> {
    const opts = { ...this.lintOptions, partials: {} };
    if (this.pool && opts.isDemandLetter === undefined) return this.pool.lint(def, opts);
    return lintTemplate(def, opts);
  }

  /** The lint options without functions (what a preview worker gets). */
  wireLintOptions(): WireLintOptions {
    const { isDemandLetter: _fn, ...rest } = this.lintOptions;
    return { ...rest, partials: {} };
  }

  // ---------------------------------------------------------------- seeding

  /**
   * Loads the default pack: every (key, locale) that has no version in the database yet gets the
   * pack's definition as its first version. Idempotent and safe when several processes start at once.
   */
  async seedFromPack(defs: TemplateDefinition[], actor = 'system'): Promise<{ inserted: number }> {
    let inserted = 0;
    for (const def of defs) {
      const done = await this.db.transaction(async (tx) => {
        if ((await this.repo.countVersions(tx, def.key, def.locale)) > 0) return false;
        const version = def.version ?? 1;
        const stored: TemplateDefinition = { ...def, version };
        const n = await this.insertVersion(tx, stored, {
          source: 'pack',
          draftId: null,
          basedOnVersion: null,
          authors: [actor],
          approvedBy: null,
          publishedBy: actor,
          conflictIgnore: true,
        });
        if (n === 0) return false;
        await this.audit(tx, actor, 'pack.seeded', def.key, def.locale, {
          version,
          diff: diffDefinitions(undefined, stored),
        });
        return true;
      });
      if (done) inserted++;
    }
    return { inserted };
  }

  private async insertVersion(
    tx: SqlRunner,
    def: TemplateDefinition,
    meta: {
      source: VersionSource;
      draftId: string | null;
      basedOnVersion: number | null;
      authors: string[];
      approvedBy: string | null;
      publishedBy: string;
      conflictIgnore?: boolean;
    },
  ): Promise<number> {
    const now = this.clock.now().getTime();
    return this.repo.insertVersion(tx, {
      definition: def,
      contentSha256: templateContentDigest(def),
      ...meta,
      publishedAt: now,
    });
  }

  /** Records a test send (sandbox provider) of a draft or version in the audit log. */
  async recordTestSend(
    actor: string,
    key: string,
    locale: Locale,
    extra: { draftId?: string; version?: number; detail: Record<string, unknown> },
  ): Promise<void> {
    await this.db.transaction((tx) => this.audit(tx, actor, 'test.sent', key, locale, extra));
  }

  private async audit(
    tx: SqlRunner,
    actor: string,
    action: AuditAction,
    key: string,
    locale: Locale,
    extra: { draftId?: string; version?: number; diff?: FieldDiff[]; detail?: Record<string, unknown> } = {},
  ): Promise<void> {
    await this.repo.insertAudit(tx, { at: this.clock.now().getTime(), actor, action, key, locale, ...extra });
  }

  // ---------------------------------------------------------------- reads

  /** Every published version, optionally only those published after `sinceMs` (epoch ms, exclusive). */
  async publishedVersions(sinceMs?: number): Promise<TemplateVersionRecord[]> {
    return this.repo.publishedVersions(sinceMs);
  }

  async version(
    key: string,
    locale: Locale,
    version: number,
    runner: SqlRunner = this.db,
  ): Promise<TemplateVersionRecord | null> {
    return this.repo.version(key, locale, version, runner);
  }

  async latest(
    key: string,
    locale: Locale,
    runner: SqlRunner = this.db,
  ): Promise<TemplateVersionRecord | null> {
    return this.repo.latest(key, locale, runner);
  }

  /** The latest version number of every key and locale (cheap: used to poll for new versions). */
  async latestVersionNumbers(): Promise<{ key: string; locale: Locale; version: number }[]> {
    return this.repo.latestVersionNumbers();
  }

  /** Published versions of a key in a locale, newest first. */
  /** Published versions, newest first; `page` reads `take` of them below version `before`. */
  async versions(
    key: string,
    locale: Locale,
    page?: { before: number | null; take: number },
  ): Promise<TemplateVersionRecord[]> {
    return this.repo.versions(key, locale, page);
  }

  async requireVersion(key: string, locale: Locale, version: number): Promise<TemplateVersionRecord> {
    const v = await this.version(key, locale, version);
    if (!v) throw new NotFoundError(`No version ${version} of template '${key}' (${locale})`);
    return v;
  }

  /** Every key and locale with its latest published version and open draft. */
  async list(): Promise<TemplateSummary[]> {
    const latest = await this.repo.latestVersions();
    const drafts = await this.drafts({ open: true });
    const out = new Map<string, TemplateSummary>();
    for (const r of latest) {
      out.set(`${r.key}|${r.locale}`, {
        key: r.key,
        locale: r.locale,
        stage: r.stage,
        channel: r.channel,
        audience: r.audience,
        description: r.definition.description ?? null,
        latestVersion: r.version,
        publishedAt: r.publishedAt,
        publishedBy: r.publishedBy,
        openDraft: null,
      });
    }
    for (const d of drafts) {
      const k = `${d.key}|${d.locale}`;
      const open = { id: d.id, status: d.status, revision: d.revision, updatedAt: d.updatedAt };
      const s = out.get(k);
      if (s) s.openDraft = open;
      else
        out.set(k, {
          key: d.key,
          locale: d.locale,
          stage: d.definition.stage,
          channel: d.definition.channel,
          audience: d.definition.audience,
          description: d.definition.description ?? null,
          latestVersion: null,
          publishedAt: null,
          publishedBy: null,
          openDraft: open,
        });
    }
    return [...out.values()].sort((a, b) => a.key.localeCompare(b.key) || a.locale.localeCompare(b.locale));
  }

  /**
   * Drafts, most recently updated first ((updated_at, id) descending). `before`/`take` read one
   * keyset page (the drafts after the previous page's last); without them, the latest 500.
   */
  async drafts(filter: DraftFilter = {}): Promise<TemplateDraftRecord[]> {
    return this.repo.drafts(filter);
  }

  async draft(id: string, runner: SqlRunner = this.db): Promise<TemplateDraftRecord> {
    const d = await this.repo.draft(id, runner);
    if (!d) throw new NotFoundError(`No template draft ${id}`);
    return d;
  }

  /** Audit entries, newest first; `limit` is clamped to 1..1000 (default 200). */
  async auditLog(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.repo.auditLog(filter);
  }

  /** Field-by-field diff between two published versions. */
  async diffVersions(key: string, locale: Locale, from: number, to: number): Promise<FieldDiff[]> {
    const [a, b] = await Promise.all([
      this.requireVersion(key, locale, from),
      this.requireVersion(key, locale, to),
    ]);
    return diffDefinitions(a.definition, b.definition);
  }

  /** Diff of a draft against the version it is based on (everything added for a new template). */
  async diffDraft(id: string): Promise<FieldDiff[]> {
    const d = await this.draft(id);
    const base = d.baseVersion === null ? null : await this.version(d.key, d.locale, d.baseVersion);
    return diffDefinitions(base?.definition, d.definition);
  }

  /** Partials available to a locale: the union of those carried by its published versions (newer wins). */
  async partialLibrary(locale: Locale): Promise<Record<string, string>> {
    const lib: Record<string, string> = {};
    for (const def of await this.repo.definitionsByLocale(locale)) Object.assign(lib, def.partials ?? {});
    return lib;
  }

  // ---------------------------------------------------------------- workflow

  /**
   * Starts a draft for (key, locale): from the latest published version (or `fromVersion`'s content),
   * from the other locale's latest version for a new locale, or from scratch for a new key.
   * One open draft per key and locale (409 otherwise).
   */
  async createDraft(actor: string, body: unknown): Promise<TemplateDraftRecord> {
    const input: DraftCreateInput = parseWith(DraftCreateSchema, body, 'draft');
    const latest = await this.latest(input.key, input.locale);
    let start: TemplateDefinition;
    if (latest) {
      const from =
        input.fromVersion === undefined
          ? latest
          : await this.requireVersion(input.key, input.locale, input.fromVersion);
      for (const f of ['stage', 'channel', 'audience'] as const) {
        if (input[f] !== undefined && input[f] !== latest.definition[f]) {
          throw new ValidationError(`The ${f} of an existing template cannot change`, [
            { path: f, message: `is ${latest.definition[f]} for ${input.key}` },
          ]);
        }
      }
      start = { ...from.definition, version: latest.version + 1 };
    } else {
      if (input.fromVersion !== undefined) {
        throw new NotFoundError(`No published version of template '${input.key}' (${input.locale})`);
      }
      const other = LOCALES.filter((l) => l !== input.locale);
      let sibling: TemplateVersionRecord | null = null;
      for (const l of other) sibling ??= await this.latest(input.key, l);
      const [stage, channel] = input.key.split('.');
      const problems: { path: string; message: string }[] = [];
      const st = input.stage ?? sibling?.stage ?? stage;
      const ch = input.channel ?? sibling?.channel ?? channel;
      if (st !== stage) problems.push({ path: 'stage', message: `the key starts with "${stage}."` });
      if (ch !== channel) problems.push({ path: 'channel', message: `the key's channel is "${channel}"` });
      const audience = input.audience ?? sibling?.audience;
      if (!audience) problems.push({ path: 'audience', message: 'required for a new template' });
      const schema = input.schema ?? sibling?.definition.schema;
      if (!schema) problems.push({ path: 'schema', message: 'required for a new template' });
      const exampleData = input.exampleData ?? sibling?.definition.exampleData;
      if (!exampleData) problems.push({ path: 'exampleData', message: 'required for a new template' });
      const stageOk = (STAGES as readonly string[]).includes(stage);
      const channelOk = (CHANNELS as readonly string[]).includes(channel);
      if (!stageOk) problems.push({ path: 'key', message: `unknown stage "${stage}"` });
      if (!channelOk) problems.push({ path: 'key', message: `unknown channel "${channel}"` });
      if (problems.length) {
        throw new ValidationError(`A new template needs ${problems.map((p) => p.path).join(', ')}`, problems);
      }
      start = {
        key: input.key,
        locale: input.locale,
        stage: st as TemplateDefinition['stage'],
        channel: ch as TemplateDefinition['channel'],
        audience: audience as TemplateDefinition['audience'],
        version: 1,
        schema: schema as Record<string, unknown>,
        exampleData: exampleData as Record<string, unknown>,
        parts: {},
        ...(sibling?.definition.description !== undefined
          ? { description: sibling.definition.description }
          : {}),
      };
      if (sibling?.definition.parts.attachments && start.channel === 'letter') {
        start.parts = { attachments: sibling.definition.parts.attachments.map((a) => ({ ...a })) };
      }
    }
    const def = await this.applyPatch(start, input, latest?.definition.partials);
    const now = this.clock.now().getTime();
    const id = randomUUID();
    try {
      await this.db.transaction(async (tx) => {
        await this.repo.insertDraft(tx, {
          id,
          key: input.key,
          locale: input.locale,
          baseVersion: latest?.version ?? null,
          definition: def,
          createdBy: actor,
          createdAt: now,
        });
        await this.audit(tx, actor, 'draft.created', input.key, input.locale, {
          draftId: id,
          diff: diffDefinitions(latest?.definition, def),
          detail: { baseVersion: latest?.version ?? null, fromVersion: input.fromVersion ?? null },
        });
      });
    } catch (err) {
      if (this.db.isUniqueViolation(err)) {
        const open = await this.drafts({ open: true, key: input.key, locale: input.locale });
        throw new ConflictError(
          `Template '${input.key}' (${input.locale}) already has an open draft`,
          [{ path: 'key', message: 'an open draft exists' }],
          { draftId: open[0]?.id ?? null },
        );
      }
      throw err;
    }
    return this.draft(id);
  }

  private async applyPatch(
    def: TemplateDefinition,
    patch: Pick<DraftPatch, 'description' | 'parts' | 'schema' | 'exampleData'>,
    basePartials: Record<string, string> | undefined,
  ): Promise<TemplateDefinition> {
    const next: TemplateDefinition = {
      ...def,
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.schema !== undefined ? { schema: patch.schema } : {}),
      ...(patch.exampleData !== undefined ? { exampleData: patch.exampleData } : {}),
      parts: patch.parts !== undefined ? stripEmpty(patch.parts) : def.parts,
    };
    const library = {
      ...(await this.partialLibrary(def.locale)),
      ...(basePartials ?? {}),
      ...(def.partials ?? {}),
    };
    next.partials = partialClosure(next, library);
    return next;
  }

  /** Changes a draft (status `draft` only). Every caller becomes one of its authors. */
  async updateDraft(actor: string, id: string, body: unknown): Promise<TemplateDraftRecord> {
    const patch = parseWith(DraftPatchSchema, body, 'draft update');
    const d = await this.draft(id);
    if (d.status !== 'draft') {
      throw new ConflictError(`Draft ${id} is ${d.status}; only a draft in status "draft" can be changed`);
    }
    if (patch.revision !== undefined && patch.revision !== d.revision) {
      throw new ConflictError(
        `Draft ${id} was changed by someone else (revision ${d.revision}, you edited ${patch.revision})`,
        [{ path: 'revision', message: `current revision is ${d.revision}` }],
        { revision: d.revision },
      );
    }
    const def = await this.applyPatch(d.definition, patch, undefined);
    const authors = d.authors.includes(actor) ? d.authors : [...d.authors, actor];
    const now = this.clock.now().getTime();
    await this.db.transaction(async (tx) => {
      const n = await this.repo.updateDraftContent(tx, id, d.revision, {
        definition: def,
        authors,
        updatedAt: now,
      });
      if (n !== 1) throw new ConflictError(`Draft ${id} changed while saving; reload and try again`);
      await this.audit(tx, actor, 'draft.updated', d.key, d.locale, {
        draftId: id,
        diff: diffDefinitions(d.definition, def),
        detail: { revision: d.revision + 1 },
      });
    });
    return this.draft(id);
  }

  private async transition(
    actor: string,
    d: TemplateDraftRecord,
    to: DraftStatus,
    set: DraftTransitionSet,
    action: AuditAction | null,
    detail: Record<string, unknown>,
    tx?: SqlRunner,
  ): Promise<void> {
    const run = async (runner: SqlRunner) => {
      const n = await this.repo.transitionDraft(runner, {
        id: d.id,
        from: d.status,
        revision: d.revision,
        to,
        set,
        updatedAt: this.clock.now().getTime(),
      });
      if (n !== 1) throw new ConflictError(`Draft ${d.id} changed meanwhile; reload and try again`);
      if (action) await this.audit(runner, actor, action, d.key, d.locale, { draftId: d.id, detail });
    };
    if (tx) await run(tx);
    else await this.db.transaction(run);
  }

  /** Sends a draft to review. Lint runs first: any error refuses the submit (422 listing every finding). */
  async submit(actor: string, id: string): Promise<TemplateDraftRecord> {
    const d = await this.draft(id);
    if (d.status !== 'draft') throw new ConflictError(`Draft ${id} is ${d.status}, not draft`);
    const findings = await this.lint(d.definition);
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      throw new TemplateLintError(
        `The template has ${errors.length} lint error${errors.length > 1 ? 's' : ''}; fix them before submitting`,
        errors.map((f) => ({ path: findingPath(f), message: `${f.ruleId}: ${f.message}` })),
        { findings },
      );
    }
    const authors = d.authors.includes(actor) ? d.authors : [...d.authors, actor];
    const now = this.clock.now().getTime();
    await this.transition(
      actor,
      d,
      'in_review',
      {
        submitted_by: actor,
        submitted_at: now,
        lint: JSON.stringify(findings),
        authors: JSON.stringify(authors),
      },
      'draft.submitted',
      { warnings: findings.length },
    );
    return this.draft(id);
  }

  /** Approves a draft in review. Four-eyes: none of the draft's authors may approve it (403). */
  async approve(actor: string, id: string): Promise<TemplateDraftRecord> {
    const d = await this.draft(id);
    if (d.authors.includes(actor)) {
      throw new ForbiddenError(
        `${actor} wrote or changed this draft and cannot approve it: a second person must (four-eyes rule)`,
        [{ path: 'Authorization', message: 'the approver must not be an author of the draft' }],
        { authors: d.authors },
      );
    }
    if (d.status !== 'in_review') throw new ConflictError(`Draft ${id} is ${d.status}, not in_review`);
    const now = this.clock.now().getTime();
    await this.transition(
      actor,
      d,
      'approved',
      { approved_by: actor, approved_at: now },
      'draft.approved',
      {},
    );
    return this.draft(id);
  }

  /** Sends a draft in review (or approved) back to `draft`, with a reason. */
  async reject(actor: string, id: string, reason: string): Promise<TemplateDraftRecord> {
    const d = await this.draft(id);
    if (d.status !== 'in_review' && d.status !== 'approved') {
      throw new ConflictError(
        `Draft ${id} is ${d.status}; only a draft in review or approved can be sent back`,
      );
    }
    await this.transition(
      actor,
      d,
      'draft',
      { approved_by: null, approved_at: null, revision: d.revision + 1 },
      'draft.rejected',
      { reason },
    );
    return this.draft(id);
  }

  /** Abandons an open draft. */
  async withdraw(actor: string, id: string): Promise<TemplateDraftRecord> {
    const d = await this.draft(id);
    if (!['draft', 'in_review', 'approved'].includes(d.status)) {
      throw new ConflictError(`Draft ${id} is ${d.status} and cannot be withdrawn`);
    }
    await this.transition(actor, d, 'withdrawn', {}, 'draft.withdrawn', {});
    return this.draft(id);
  }

  /**
   * Publishes an approved draft as the next immutable version. Refused (409) when another version
   * was published since the draft started: start a new draft from the latest one.
   */
  async publish(actor: string, id: string): Promise<TemplateVersionRecord> {
    const d = await this.draft(id);
    if (d.status !== 'approved') {
      throw new ConflictError(`Draft ${id} is ${d.status}; only an approved draft can be published`);
    }
    const rec = await this.db
      .transaction(async (tx) => {
        const latest = await this.latest(d.key, d.locale, tx);
        if ((latest?.version ?? null) !== d.baseVersion) {
          throw new ConflictError(
            `Version ${latest?.version} of '${d.key}' (${d.locale}) was published after this draft started from ${
              d.baseVersion ?? 'nothing'
            }; start a new draft`,
          );
        }
        const def: TemplateDefinition = { ...d.definition, version: (latest?.version ?? 0) + 1 };
        await this.insertVersion(tx, def, {
          source: 'draft',
          draftId: d.id,
          basedOnVersion: d.baseVersion,
          authors: d.authors,
          approvedBy: d.approvedBy,
          publishedBy: actor,
        });
        await this.transition(
          actor,
          d,
          'published',
          { published_version: def.version, definition: JSON.stringify(def) },
          null,
          {},
          tx,
        );
        await this.audit(tx, actor, 'version.published', d.key, d.locale, {
          draftId: d.id,
          version: def.version,
          diff: diffDefinitions(latest?.definition, def),
          detail: { basedOnVersion: d.baseVersion, approvedBy: d.approvedBy, authors: d.authors },
        });
        return (await this.version(d.key, d.locale, def.version, tx)) ?? this.fail();
      })
      .catch((err: unknown) => {
        if (this.db.isUniqueViolation(err)) {
          throw new ConflictError(
            `Another version of '${d.key}' (${d.locale}) was published at the same time`,
          );
        }
        throw err;
      });
    this.emit(rec);
    return rec;
  }

  private fail(): never {
    throw new Error('published version not found after insert');
  }

  /**
   * Rollback: an older version's content goes through the same four-eyes workflow as any change.
   * Opens a draft with that content (on top of the latest version) and submits it for review
   * (lint runs); a second person approves it and it is published as the next version. One key
   * with `templates:approve` can no longer bring back old wording alone.
   */
  async rollback(
    actor: string,
    key: string,
    locale: Locale,
    toVersion: number,
  ): Promise<TemplateDraftRecord> {
    const target = await this.requireVersion(key, locale, toVersion);
    const latest = await this.latest(key, locale);
    if (!latest) throw new NotFoundError(`No published version of '${key}' (${locale})`);
    if (latest.version === toVersion) {
      throw new ConflictError(`Version ${toVersion} is already the current version`, [
        { path: 'version', message: 'is the current version' },
      ]);
    }
    const draft = await this.createDraft(actor, { key, locale, fromVersion: target.version });
    try {
      return await this.submit(actor, draft.id);
    } catch (err) {
      // A rollback that cannot be submitted (lint errors under today's rules) leaves no draft behind.
      await this.withdraw(actor, draft.id).catch(() => undefined);
      throw err;
    }
  }
}

function stripEmpty(parts: TemplateDefinition['parts']): TemplateDefinition['parts'] {
  const out: TemplateDefinition['parts'] = {};
  for (const [k, v] of Object.entries(parts) as [keyof TemplateDefinition['parts'], unknown][]) {
    if (v === undefined) continue;
    if (k === 'attachments') {
      if (Array.isArray(v) && v.length) out.attachments = v as { title: string; letter: string }[];
    } else if (typeof v === 'string' && (k !== 'letterTitle' || v !== '')) {
      (out as Record<string, string>)[k] = v;
    }
  }
  return out;
}

/** `parts.sms:3:5`-style location of a lint finding. */
export function findingPath(f: LintFinding): string {
  const loc = f.location;
  return [loc.part, loc.line, loc.column].filter((x) => x !== undefined).join(':');
}
