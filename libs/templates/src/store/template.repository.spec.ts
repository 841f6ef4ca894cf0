import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#libs/config';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import type { TemplateDefinition } from '../types.js';
import { type NewTemplateVersion, TemplateRepository } from './template.repository.js';

const T0 = Date.parse('2026-12-01T00:00:00.000Z');

function def(key: string, version: number, partials: Record<string, string> = {}): TemplateDefinition {
  return {
    key,
    locale: 'zh-CN',
    stage: 'early',
    channel: 'sms',
    audience: 'debtor',
    version,
    schema: { type: 'object' },
    exampleData: {},
    parts: { sms: `v${version}` },
    partials,
  };
}

function version(d: TemplateDefinition, publishedAt: number, extra: Partial<NewTemplateVersion> = {}) {
  return {
    definition: d,
    contentSha256: `sha-${d.key}-${d.version}`,
    source: 'pack',
    draftId: null,
    basedOnVersion: null,
    authors: ['alice'],
    approvedBy: null,
    publishedBy: 'alice',
    publishedAt,
    ...extra,
  } satisfies NewTemplateVersion;
}

/** The store's statements against a migrated SQLite database (the schema they were written for). */
describe('TemplateRepository on SQLite', () => {
  let dir: string;
  let ds: DataSource;
  let db: Db;
  let repo: TemplateRepository;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'template-repo-spec-'));
    const config = loadConfig({ NODE_ENV: 'test', SQLITE_PATH: join(dir, 'notices.db') });
    ds = createDataSource(config.database);
    await ds.initialize();
    await runMigrations(ds);
    db = new Db(ds);
    repo = new TemplateRepository(db);
  }, 30_000);

  afterAll(async () => {
    await ds?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('inserts versions; a duplicate is ignored when asked and a unique violation otherwise', async () => {
    const key = 'early.sms.repo_a';
    expect(await db.transaction((tx) => repo.countVersions(tx, key, 'zh-CN'))).toBe(0);
    for (const v of [1, 2, 3]) {
      const n = await db.transaction((tx) =>
        repo.insertVersion(tx, version(def(key, v, { p: `p${v}` }), T0 + v * 1000)),
      );
      expect(n).toBe(1);
    }
    expect(await db.transaction((tx) => repo.countVersions(tx, key, 'zh-CN'))).toBe(3);
    const again = version(def(key, 2), T0, { conflictIgnore: true });
    expect(await db.transaction((tx) => repo.insertVersion(tx, again))).toBe(0);
    const err = await db
      .transaction((tx) => repo.insertVersion(tx, version(def(key, 2), T0)))
      .catch((e: unknown) => e);
    expect(db.isUniqueViolation(err)).toBe(true);

    const latest = await repo.latest(key, 'zh-CN');
    expect(latest).toMatchObject({
      key,
      locale: 'zh-CN',
      version: 3,
      contentSha256: `sha-${key}-3`,
      source: 'pack',
      authors: ['alice'],
      basedOnVersion: null,
      publishedAt: new Date(T0 + 3000).toISOString(),
    });
    expect(latest?.definition.parts).toEqual({ sms: 'v3' });
    expect((await repo.version(key, 'zh-CN', 1))?.definition.parts).toEqual({ sms: 'v1' });
    expect(await repo.version(key, 'zh-CN', 9)).toBeNull();
    expect(await repo.latest(key, 'en')).toBeNull();
  });

  it('reads versions newest first, by page, the latest of each key, and since a time', async () => {
    const key = 'early.sms.repo_a';
    expect((await repo.versions(key, 'zh-CN')).map((v) => v.version)).toEqual([3, 2, 1]);
    expect((await repo.versions(key, 'zh-CN', { before: null, take: 2 })).map((v) => v.version)).toEqual([
      3, 2,
    ]);
    expect((await repo.versions(key, 'zh-CN', { before: 2, take: 2 })).map((v) => v.version)).toEqual([1]);

    await db.transaction((tx) => repo.insertVersion(tx, version(def('early.sms.repo_b', 1), T0 + 5000)));
    const latest = await repo.latestVersions();
    expect(latest.map((v) => [v.key, v.version])).toEqual([
      ['early.sms.repo_a', 3],
      ['early.sms.repo_b', 1],
    ]);
    expect(await repo.latestVersionNumbers()).toEqual(
      expect.arrayContaining([
        { key: 'early.sms.repo_a', locale: 'zh-CN', version: 3 },
        { key: 'early.sms.repo_b', locale: 'zh-CN', version: 1 },
      ]),
    );
    expect((await repo.publishedVersions()).map((v) => `${v.key}@${v.version}`)).toEqual([
      'early.sms.repo_a@1',
      'early.sms.repo_a@2',
      'early.sms.repo_a@3',
      'early.sms.repo_b@1',
    ]);
    // `published_at >= since`: the boundary version is included.
    expect((await repo.publishedVersions(T0 + 3000)).map((v) => `${v.key}@${v.version}`)).toEqual([
      'early.sms.repo_a@3',
      'early.sms.repo_b@1',
    ]);
    // Oldest published first, so a caller merging partials lets the newer win.
    expect((await repo.definitionsByLocale('zh-CN')).map((d) => d.partials?.p ?? '-')).toEqual([
      'p1',
      'p2',
      'p3',
      '-',
    ]);
    expect(await repo.definitionsByLocale('en')).toEqual([]);
  });

  it('keeps one open draft per key and locale and checks status and revision on every update', async () => {
    const key = 'early.sms.repo_a';
    const d = def(key, 4);
    await db.transaction((tx) =>
      repo.insertDraft(tx, {
        id: 'd1',
        key,
        locale: 'zh-CN',
        baseVersion: 3,
        definition: d,
        createdBy: 'alice',
        createdAt: T0,
      }),
    );
    const second = await db
      .transaction((tx) =>
        repo.insertDraft(tx, {
          id: 'd2',
          key,
          locale: 'zh-CN',
          baseVersion: 3,
          definition: d,
          createdBy: 'bob',
          createdAt: T0,
        }),
      )
      .catch((e: unknown) => e);
    expect(db.isUniqueViolation(second)).toBe(true);
    expect(await repo.draft('d2')).toBeNull();
    expect(await repo.draft('d1')).toMatchObject({
      status: 'draft',
      revision: 1,
      baseVersion: 3,
      authors: ['alice'],
      createdBy: 'alice',
      lint: null,
      createdAt: new Date(T0).toISOString(),
    });

    const edited = { ...d, parts: { sms: 'edited' } };
    const change = { definition: edited, authors: ['alice', 'bob'], updatedAt: T0 + 1 };
    expect(await db.transaction((tx) => repo.updateDraftContent(tx, 'd1', 2, change))).toBe(0);
    expect(await db.transaction((tx) => repo.updateDraftContent(tx, 'd1', 1, change))).toBe(1);
    expect(await repo.draft('d1')).toMatchObject({
      revision: 2,
      authors: ['alice', 'bob'],
      definition: { parts: { sms: 'edited' } },
    });

    const submit = {
      id: 'd1',
      from: 'draft',
      revision: 2,
      to: 'in_review',
      set: { submitted_by: 'bob', submitted_at: T0 + 2, lint: '[]' },
      updatedAt: T0 + 2,
    } as const;
    expect(await repo.transitionDraft(db, { ...submit, revision: 1 })).toBe(0);
    expect(await repo.transitionDraft(db, submit)).toBe(1);
    // Repeating it finds the draft no longer in `draft`.
    expect(await repo.transitionDraft(db, submit)).toBe(0);
    expect(await repo.draft('d1')).toMatchObject({
      status: 'in_review',
      submittedBy: 'bob',
      submittedAt: new Date(T0 + 2).toISOString(),
      lint: [],
      updatedAt: new Date(T0 + 2).toISOString(),
    });
    // Content is only saved in status `draft`.
    expect(await db.transaction((tx) => repo.updateDraftContent(tx, 'd1', 2, change))).toBe(0);
    // No columns besides the status.
    const withdraw = {
      id: 'd1',
      from: 'in_review',
      revision: 2,
      to: 'withdrawn',
      set: {},
      updatedAt: T0 + 3,
    } as const;
    expect(await db.transaction((tx) => repo.transitionDraft(tx, withdraw))).toBe(1);
    expect((await repo.draft('d1'))?.status).toBe('withdrawn');

    // Withdrawn, it no longer blocks a new draft.
    await db.transaction((tx) =>
      repo.insertDraft(tx, {
        id: 'd3',
        key,
        locale: 'zh-CN',
        baseVersion: 3,
        definition: d,
        createdBy: 'carol',
        createdAt: T0 + 4,
      }),
    );
    expect((await repo.drafts()).map((x) => x.id)).toEqual(['d3', 'd1']);
    expect((await repo.drafts({ open: true })).map((x) => x.id)).toEqual(['d3']);
    expect((await repo.drafts({ status: 'withdrawn', key, locale: 'zh-CN' })).map((x) => x.id)).toEqual([
      'd1',
    ]);
    expect((await repo.drafts({ key: 'early.sms.repo_b' })).map((x) => x.id)).toEqual([]);
    expect((await repo.drafts({ take: 1 })).map((x) => x.id)).toEqual(['d3']);
    expect((await repo.drafts({ before: [T0 + 4, 'd3'], take: 1 })).map((x) => x.id)).toEqual(['d1']);
  });

  it('appends audit entries and reads them newest first with filters, a clamped limit and a cursor', async () => {
    const key = 'early.sms.repo_c';
    await db.transaction(async (tx) => {
      await repo.insertAudit(tx, {
        at: T0,
        actor: 'alice',
        action: 'draft.created',
        key,
        locale: 'zh-CN',
        draftId: 'x',
      });
      await repo.insertAudit(tx, {
        at: T0 + 1,
        actor: 'bob',
        action: 'version.published',
        key,
        locale: 'zh-CN',
        draftId: 'x',
        version: 1,
        diff: [{ field: 'parts.sms', change: 'added', lines: [] }],
        detail: { approvedBy: 'bob' },
      });
      await repo.insertAudit(tx, { at: T0 + 2, actor: 'carol', action: 'test.sent', key, locale: 'en' });
    });
    const all = await repo.auditLog({ key });
    expect(all.map((e) => e.action)).toEqual(['test.sent', 'version.published', 'draft.created']);
    expect(all[1]).toMatchObject({
      actor: 'bob',
      at: new Date(T0 + 1).toISOString(),
      draftId: 'x',
      version: 1,
      diff: [{ field: 'parts.sms', change: 'added', lines: [] }],
      detail: { approvedBy: 'bob' },
    });
    expect(all[0]).toMatchObject({ draftId: null, version: null, diff: null, detail: null, locale: 'en' });
    expect((await repo.auditLog({ key, locale: 'zh-CN' })).map((e) => e.actor)).toEqual(['bob', 'alice']);
    expect((await repo.auditLog({ draftId: 'x', limit: 1 })).map((e) => e.actor)).toEqual(['bob']);
    // 0 is clamped up to 1.
    expect(await repo.auditLog({ key, limit: 0 })).toHaveLength(1);
    expect((await repo.auditLog({ key, beforeId: all[1].id })).map((e) => e.actor)).toEqual(['alice']);
  });
});
