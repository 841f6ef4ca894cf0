import { Injectable } from '@nestjs/common';
import type { Locale } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import type { LintFinding, TemplateDefinition } from '../types.js';
import type { FieldDiff } from './diff.js';
import type {
  AuditAction,
  AuditEntry,
  DraftStatus,
  TemplateDraftRecord,
  TemplateVersionRecord,
  VersionSource,
} from './types.js';

/** A `template_versions` row as the driver returns it (PostgreSQL BIGINTs arrive as strings). */
export interface TemplateVersionRow {
  template_key: string;
  locale: string;
  version: number | string;
  stage: string;
  channel: string;
  audience: string;
  definition: string;
  content_sha256: string;
  source: string;
  draft_id: string | null;
  based_on_version: number | string | null;
  authors: string;
  approved_by: string | null;
  published_by: string;
  published_at: number | string;
}

/** A `template_drafts` row as the driver returns it. */
export interface TemplateDraftRow {
  id: string;
  template_key: string;
  locale: string;
  base_version: number | string | null;
  status: string;
  definition: string;
  revision: number | string;
  created_by: string;
  authors: string;
  submitted_by: string | null;
  submitted_at: number | string | null;
  approved_by: string | null;
  approved_at: number | string | null;
  published_version: number | string | null;
  lint: string | null;
  created_at: number | string;
  updated_at: number | string;
}

/** A `template_audit` row as the driver returns it. */
export interface TemplateAuditRow {
  id: number | string;
  at: number | string;
  actor: string;
  action: string;
  template_key: string;
  locale: string;
  draft_id: string | null;
  version: number | string | null;
  diff: string | null;
  detail: string | null;
}

/** What a new `template_versions` row holds besides the definition (the store computes the digest and time). */
export interface NewTemplateVersion {
  definition: TemplateDefinition;
  contentSha256: string;
  source: VersionSource;
  draftId: string | null;
  basedOnVersion: number | null;
  authors: string[];
  approvedBy: string | null;
  publishedBy: string;
  publishedAt: number;
  /** `ON CONFLICT DO NOTHING`: seeding races other processes and loses quietly. */
  conflictIgnore?: boolean;
}

/** A new audit entry; `at` is epoch ms. */
export interface NewTemplateAuditEntry {
  at: number;
  actor: string;
  action: AuditAction;
  key: string;
  locale: Locale;
  draftId?: string;
  version?: number;
  diff?: FieldDiff[];
  detail?: Record<string, unknown>;
}

/** A new draft (status `draft`, revision 1, its creator its only author). */
export interface NewTemplateDraft {
  id: string;
  key: string;
  locale: Locale;
  baseVersion: number | null;
  definition: TemplateDefinition;
  createdBy: string;
  createdAt: number;
}

/** Columns a status change of a draft may write along with the status (in the order given). */
export type DraftTransitionColumn =
  | 'submitted_by'
  | 'submitted_at'
  | 'lint'
  | 'authors'
  | 'approved_by'
  | 'approved_at'
  | 'revision'
  | 'published_version'
  | 'definition';

export type DraftTransitionSet = Partial<Record<DraftTransitionColumn, string | number | null>>;

export interface DraftFilter {
  open?: boolean;
  status?: DraftStatus;
  key?: string;
  locale?: Locale;
  before?: readonly [number, string] | null;
  take?: number;
}

export interface AuditFilter {
  key?: string;
  locale?: Locale;
  draftId?: string;
  limit?: number;
  beforeId?: number | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
const iso = (v: number | string | null): string | null =>
  v === null ? null : new Date(Number(v)).toISOString();

function toVersion(r: TemplateVersionRow): TemplateVersionRecord {
  return {
    key: r.template_key,
    locale: r.locale as Locale,
    version: Number(r.version),
    stage: r.stage as TemplateVersionRecord['stage'],
    channel: r.channel as TemplateVersionRecord['channel'],
    audience: r.audience as TemplateVersionRecord['audience'],
    contentSha256: r.content_sha256,
    source: r.source as VersionSource,
    draftId: r.draft_id,
    basedOnVersion: num(r.based_on_version),
    authors: JSON.parse(r.authors) as string[],
    approvedBy: r.approved_by,
    publishedBy: r.published_by,
    publishedAt: iso(r.published_at) as string,
    definition: JSON.parse(r.definition) as TemplateDefinition,
  };
}

function toDraft(r: TemplateDraftRow): TemplateDraftRecord {
  return {
    id: r.id,
    key: r.template_key,
    locale: r.locale as Locale,
    baseVersion: num(r.base_version),
    status: r.status as DraftStatus,
    definition: JSON.parse(r.definition) as TemplateDefinition,
    revision: Number(r.revision),
    createdBy: r.created_by,
    authors: JSON.parse(r.authors) as string[],
    submittedBy: r.submitted_by,
    submittedAt: iso(r.submitted_at),
    approvedBy: r.approved_by,
    approvedAt: iso(r.approved_at),
    publishedVersion: num(r.published_version),
    lint: r.lint === null ? null : (JSON.parse(r.lint) as LintFinding[]),
    createdAt: iso(r.created_at) as string,
    updatedAt: iso(r.updated_at) as string,
  };
}

function toAudit(r: TemplateAuditRow): AuditEntry {
  return {
    id: Number(r.id),
    at: iso(r.at) as string,
    actor: r.actor,
    action: r.action as AuditAction,
    key: r.template_key,
    locale: r.locale as Locale,
    draftId: r.draft_id,
    version: num(r.version),
    diff: r.diff === null ? null : (JSON.parse(r.diff) as FieldDiff[]),
    detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  };
}

const VERSION_COLUMNS = `template_key, locale, version, stage, channel, audience, definition, content_sha256, source,
  draft_id, based_on_version, authors, approved_by, published_by, published_at`;

/**
 * The SQL of the template store: published versions (immutable), drafts and the audit log.
 * Plain statements with `?` placeholders (Db rewrites them for PostgreSQL). The workflow rules
 * (four-eyes, lint, which status may follow which) stay in {@link TemplateStore}; methods taking a
 * `tx` run inside the store's transaction, and the optimistic `revision`/`status` guards of the
 * draft updates are here, reported as the number of rows changed so the store decides what a miss means.
 */
@Injectable()
export class TemplateRepository {
  constructor(readonly db: Db) {}

  // ---------------------------------------------------------------- versions

  /** How many versions (key, locale) has: seeding only fills pairs with none. */
  async countVersions(tx: SqlRunner, key: string, locale: string): Promise<number> {
    const existing = await tx.rows<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM template_versions WHERE template_key = ? AND locale = ?',
      [key, locale],
    );
    return Number(existing[0]?.n ?? 0);
  }

  /** Inserts a version; returns the rows inserted (0 when `conflictIgnore` met an existing one). */
  async insertVersion(tx: SqlRunner, v: NewTemplateVersion): Promise<number> {
    const def = v.definition;
    return tx.exec(
      `INSERT INTO template_versions (${VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ${v.conflictIgnore ? 'ON CONFLICT DO NOTHING' : ''}`,
      [
        def.key,
        def.locale,
        def.version,
        def.stage,
        def.channel,
        def.audience,
        JSON.stringify(def),
        v.contentSha256,
        v.source,
        v.draftId,
        v.basedOnVersion,
        JSON.stringify(v.authors),
        v.approvedBy,
        v.publishedBy,
        v.publishedAt,
      ],
    );
  }

  /** Every version in (key, locale, version) order, optionally only those with `published_at >= sinceMs`. */
  async publishedVersions(sinceMs?: number): Promise<TemplateVersionRecord[]> {
    const rows =
      sinceMs === undefined
        ? await this.db.rows<TemplateVersionRow>(
            `SELECT ${VERSION_COLUMNS} FROM template_versions ORDER BY template_key, locale, version`,
          )
        : await this.db.rows<TemplateVersionRow>(
            `SELECT ${VERSION_COLUMNS} FROM template_versions WHERE published_at >= ? ORDER BY template_key, locale, version`,
            [sinceMs],
          );
    return rows.map(toVersion);
  }

  async version(
    key: string,
    locale: string,
    version: number,
    runner: SqlRunner = this.db,
  ): Promise<TemplateVersionRecord | null> {
    const rows = await runner.rows<TemplateVersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM template_versions WHERE template_key = ? AND locale = ? AND version = ?`,
      [key, locale, version],
    );
    return rows[0] ? toVersion(rows[0]) : null;
  }

  async latest(
    key: string,
    locale: string,
    runner: SqlRunner = this.db,
  ): Promise<TemplateVersionRecord | null> {
    const rows = await runner.rows<TemplateVersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM template_versions WHERE template_key = ? AND locale = ?
       ORDER BY version DESC LIMIT 1`,
      [key, locale],
    );
    return rows[0] ? toVersion(rows[0]) : null;
  }

  /** The highest version number of every (key, locale). */
  async latestVersionNumbers(): Promise<{ key: string; locale: Locale; version: number }[]> {
    const rows = await this.db.rows<{ template_key: string; locale: string; v: number | string }>(
      'SELECT template_key, locale, MAX(version) AS v FROM template_versions GROUP BY template_key, locale',
    );
    return rows.map((r) => ({ key: r.template_key, locale: r.locale as Locale, version: Number(r.v) }));
  }

  /** Versions of (key, locale), newest first; `page` reads `take` of them below version `before`. */
  async versions(
    key: string,
    locale: string,
    page?: { before: number | null; take: number },
  ): Promise<TemplateVersionRecord[]> {
    const before = page?.before ?? null;
    const rows = await this.db.rows<TemplateVersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM template_versions WHERE template_key = ? AND locale = ?${
        before !== null ? ' AND version < ?' : ''
      } ORDER BY version DESC${page ? ' LIMIT ?' : ''}`,
      [key, locale, ...(before !== null ? [before] : []), ...(page ? [page.take] : [])],
    );
    return rows.map(toVersion);
  }

  /** The latest version of every (key, locale), in (key, locale) order. */
  async latestVersions(): Promise<TemplateVersionRecord[]> {
    const rows = await this.db.rows<TemplateVersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM template_versions v WHERE version = (
         SELECT MAX(version) FROM template_versions w WHERE w.template_key = v.template_key AND w.locale = v.locale)
       ORDER BY template_key, locale`,
    );
    return rows.map(toVersion);
  }

  /** The definitions of a locale's versions, oldest published first (newer partials override older). */
  async definitionsByLocale(locale: string): Promise<TemplateDefinition[]> {
    const rows = await this.db.rows<{ definition: string }>(
      'SELECT definition FROM template_versions WHERE locale = ? ORDER BY published_at, version',
      [locale],
    );
    return rows.map((r) => JSON.parse(r.definition) as TemplateDefinition);
  }

  // ---------------------------------------------------------------- drafts

  /**
   * Drafts, most recently updated first ((updated_at, id) descending); `before`/`take` read one
   * keyset page, without them the latest 500.
   */
  async drafts(filter: DraftFilter = {}): Promise<TemplateDraftRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.before) {
      where.push('(updated_at, id) < (?, ?)');
      params.push(filter.before[0], filter.before[1]);
    }
    if (filter.open) where.push(`status IN ('draft', 'in_review', 'approved')`);
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.key) {
      where.push('template_key = ?');
      params.push(filter.key);
    }
    if (filter.locale) {
      where.push('locale = ?');
      params.push(filter.locale);
    }
    const rows = await this.db.rows<TemplateDraftRow>(
      `SELECT * FROM template_drafts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY updated_at DESC, id DESC LIMIT ?`,
      [...params, filter.take ?? 500],
    );
    return rows.map(toDraft);
  }

  async draft(id: string, runner: SqlRunner = this.db): Promise<TemplateDraftRecord | null> {
    const rows = await runner.rows<TemplateDraftRow>('SELECT * FROM template_drafts WHERE id = ?', [id]);
    return rows[0] ? toDraft(rows[0]) : null;
  }

  /** Inserts a new draft. A second open draft of (key, locale) violates a unique index: the store turns it into a 409. */
  async insertDraft(tx: SqlRunner, d: NewTemplateDraft): Promise<void> {
    await tx.exec(
      `INSERT INTO template_drafts (id, template_key, locale, base_version, status, definition, revision,
         created_by, authors, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'draft', ?, 1, ?, ?, ?, ?)`,
      [
        d.id,
        d.key,
        d.locale,
        d.baseVersion,
        JSON.stringify(d.definition),
        d.createdBy,
        JSON.stringify([d.createdBy]),
        d.createdAt,
        d.createdAt,
      ],
    );
  }

  /**
   * Saves a draft's content if it is still in status `draft` at `revision` (optimistic check) and
   * bumps the revision; clears the lint of the previous content. Returns the rows changed (0 or 1).
   */
  async updateDraftContent(
    tx: SqlRunner,
    id: string,
    revision: number,
    change: { definition: TemplateDefinition; authors: string[]; updatedAt: number },
  ): Promise<number> {
    return tx.exec(
      `UPDATE template_drafts SET definition = ?, revision = revision + 1, authors = ?, lint = NULL, updated_at = ?
         WHERE id = ? AND status = 'draft' AND revision = ?`,
      [JSON.stringify(change.definition), JSON.stringify(change.authors), change.updatedAt, id, revision],
    );
  }

  /**
   * Moves a draft from status `from` at `revision` to `to`, writing `set` along (optimistic check on
   * both). Returns the rows changed (0 or 1).
   */
  async transitionDraft(
    runner: SqlRunner,
    t: {
      id: string;
      from: DraftStatus;
      revision: number;
      to: DraftStatus;
      set: DraftTransitionSet;
      updatedAt: number;
    },
  ): Promise<number> {
    const cols = Object.keys(t.set) as DraftTransitionColumn[];
    return runner.exec(
      `UPDATE template_drafts SET status = ?, ${cols.map((c) => `${c} = ?`).join(', ')}${cols.length ? ',' : ''}
           updated_at = ? WHERE id = ? AND status = ? AND revision = ?`,
      [t.to, ...cols.map((c) => t.set[c]), t.updatedAt, t.id, t.from, t.revision],
    );
  }

  // ---------------------------------------------------------------- audit

  async insertAudit(tx: SqlRunner, e: NewTemplateAuditEntry): Promise<void> {
    await tx.exec(
      `INSERT INTO template_audit (at, actor, action, template_key, locale, draft_id, version, diff, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        e.at,
        e.actor,
        e.action,
        e.key,
        e.locale,
        e.draftId ?? null,
        e.version ?? null,
        e.diff ? JSON.stringify(e.diff) : null,
        e.detail ? JSON.stringify(e.detail) : null,
      ],
    );
  }

  /** Audit entries, newest first (id descending); `limit` is clamped to 1..1000 (default 200). */
  async auditLog(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.beforeId !== undefined && filter.beforeId !== null) {
      where.push('id < ?');
      params.push(filter.beforeId);
    }
    if (filter.key) {
      where.push('template_key = ?');
      params.push(filter.key);
    }
    if (filter.locale) {
      where.push('locale = ?');
      params.push(filter.locale);
    }
    if (filter.draftId) {
      where.push('draft_id = ?');
      params.push(filter.draftId);
    }
    const limit = Math.min(Math.max(filter.limit ?? 200, 1), 1000);
    const rows = await this.db.rows<TemplateAuditRow>(
      `SELECT * FROM template_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`,
      params,
    );
    return rows.map(toAudit);
  }
}
