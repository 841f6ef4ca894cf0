import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Template store: immutable published versions, drafts going through the four-eyes workflow,
 * and an append-only audit log. Timestamps are epoch milliseconds (BIGINT).
 * Published versions and audit rows are protected by triggers (no UPDATE, no DELETE).
 */

const tables = (autoId: string) => [
  `CREATE TABLE template_versions (
    template_key VARCHAR(128) NOT NULL,
    locale VARCHAR(8) NOT NULL,
    version INTEGER NOT NULL,
    stage VARCHAR(16) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    audience VARCHAR(16) NOT NULL,
    definition TEXT NOT NULL,
    content_sha256 VARCHAR(64) NOT NULL,
    source VARCHAR(16) NOT NULL,
    draft_id VARCHAR(36) NULL,
    based_on_version INTEGER NULL,
    authors TEXT NOT NULL,
    approved_by VARCHAR(64) NULL,
    published_by VARCHAR(64) NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (template_key, locale, version)
  )`,
  `CREATE INDEX ix_template_versions_published ON template_versions (published_at)`,
  `CREATE TABLE template_drafts (
    id VARCHAR(36) PRIMARY KEY,
    template_key VARCHAR(128) NOT NULL,
    locale VARCHAR(8) NOT NULL,
    base_version INTEGER NULL,
    status VARCHAR(16) NOT NULL,
    definition TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created_by VARCHAR(64) NOT NULL,
    authors TEXT NOT NULL,
    submitted_by VARCHAR(64) NULL,
    submitted_at BIGINT NULL,
    approved_by VARCHAR(64) NULL,
    approved_at BIGINT NULL,
    published_version INTEGER NULL,
    lint TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE UNIQUE INDEX ux_template_drafts_open ON template_drafts (template_key, locale)
    WHERE status IN ('draft', 'in_review', 'approved')`,
  `CREATE INDEX ix_template_drafts_status ON template_drafts (status, updated_at)`,
  `CREATE TABLE template_audit (
    id ${autoId},
    at BIGINT NOT NULL,
    actor VARCHAR(64) NOT NULL,
    action VARCHAR(32) NOT NULL,
    template_key VARCHAR(128) NOT NULL,
    locale VARCHAR(8) NOT NULL,
    draft_id VARCHAR(36) NULL,
    version INTEGER NULL,
    diff TEXT NULL,
    detail TEXT NULL
  )`,
  `CREATE INDEX ix_template_audit_key ON template_audit (template_key, locale, id)`,
];

export class TemplatesSqlite1764300000000 implements MigrationInterface {
  name = 'TemplatesSqlite1764300000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of tables('INTEGER PRIMARY KEY AUTOINCREMENT')) await q.query(sql);
    for (const t of ['template_versions', 'template_audit']) {
      await q.query(`CREATE TRIGGER ${t}_no_update BEFORE UPDATE ON ${t}
        BEGIN SELECT RAISE(ABORT, '${t} is append-only'); END`);
      await q.query(`CREATE TRIGGER ${t}_no_delete BEFORE DELETE ON ${t}
        BEGIN SELECT RAISE(ABORT, '${t} is append-only'); END`);
    }
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of ['template_audit', 'template_drafts', 'template_versions'])
      await q.query(`DROP TABLE ${t}`);
  }
}

export class TemplatesPostgres1764300000000 implements MigrationInterface {
  name = 'TemplatesPostgres1764300000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of tables('BIGSERIAL PRIMARY KEY')) await q.query(sql);
    await q.query(`CREATE FUNCTION template_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$`);
    for (const t of ['template_versions', 'template_audit']) {
      await q.query(`CREATE TRIGGER ${t}_no_update_delete BEFORE UPDATE OR DELETE ON ${t}
        FOR EACH ROW EXECUTE FUNCTION template_append_only()`);
    }
  }
  async down(q: QueryRunner): Promise<void> {
    for (const t of ['template_audit', 'template_drafts', 'template_versions'])
      await q.query(`DROP TABLE ${t}`);
    await q.query(`DROP FUNCTION template_append_only()`);
  }
}
