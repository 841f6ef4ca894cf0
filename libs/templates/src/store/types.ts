import type { Locale } from '#libs/core';
import type { LintFinding, TemplateDefinition } from '../types.js';
import type { FieldDiff } from './diff.js';

/** Workflow of a draft: draft -> in_review -> approved -> published (or withdrawn; rejected goes back to draft). */
export type DraftStatus = 'draft' | 'in_review' | 'approved' | 'published' | 'withdrawn';

export const OPEN_DRAFT_STATUSES: readonly DraftStatus[] = ['draft', 'in_review', 'approved'];

/** How a published version came to be. */
export type VersionSource = 'pack' | 'draft' | 'rollback';

/** One immutable published version of a template in one locale. */
export interface TemplateVersionRecord {
  key: string;
  locale: Locale;
  version: number;
  stage: TemplateDefinition['stage'];
  channel: TemplateDefinition['channel'];
  audience: TemplateDefinition['audience'];
  contentSha256: string;
  source: VersionSource;
  draftId: string | null;
  /** The version the draft started from (rollback: the version whose content was published again). */
  basedOnVersion: number | null;
  authors: string[];
  approvedBy: string | null;
  publishedBy: string;
  publishedAt: string;
  definition: TemplateDefinition;
}

export interface TemplateDraftRecord {
  id: string;
  key: string;
  locale: Locale;
  /** The published version the draft was started from; null for a new template. */
  baseVersion: number | null;
  status: DraftStatus;
  definition: TemplateDefinition;
  /** Incremented by every update; pass it back to detect concurrent edits. */
  revision: number;
  createdBy: string;
  /** Everyone who created or changed the draft: none of them may approve it. */
  authors: string[];
  submittedBy: string | null;
  submittedAt: string | null;
  approvedBy: string | null;
  approvedAt: string | null;
  publishedVersion: number | null;
  /** Findings of the last submit. */
  lint: LintFinding[] | null;
  createdAt: string;
  updatedAt: string;
}

export type AuditAction =
  | 'pack.seeded'
  | 'draft.created'
  | 'draft.updated'
  | 'draft.submitted'
  | 'draft.rejected'
  | 'draft.approved'
  | 'draft.withdrawn'
  | 'version.published'
  | 'version.rolled_back'
  /** A rendering sent to the sandbox provider from the editor (POST /v1/templates/test-send). */
  | 'test.sent';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: AuditAction;
  key: string;
  locale: Locale;
  draftId: string | null;
  version: number | null;
  diff: FieldDiff[] | null;
  detail: Record<string, unknown> | null;
}

/** One row of the template list: the latest published version of a key in a locale and its open draft. */
export interface TemplateSummary {
  key: string;
  locale: Locale;
  stage: TemplateDefinition['stage'];
  channel: TemplateDefinition['channel'];
  audience: TemplateDefinition['audience'];
  description: string | null;
  latestVersion: number | null;
  publishedAt: string | null;
  publishedBy: string | null;
  openDraft: { id: string; status: DraftStatus; revision: number; updatedAt: string } | null;
}
