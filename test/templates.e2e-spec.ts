import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportTemplatePack, loadTemplatePack, smsSegments, TemplateStore } from '#libs/templates';
import { type InProcessApp, startInProcess } from './support/app.js';
import { ROOT } from './support/infra.js';

/** Test-only admin key (used when the API-key guard is active; harmless otherwise). */
const TEST_API_KEY = 'test-admin-key-0123456789abcdef0123456789';

type Json = Record<string, unknown>;

/** Keys created per test through the admin API; each key's name is the acting user. */
type Who = 'admin' | 'zhang' | 'wang' | 'li' | 'chen';

function templateClient(baseUrl: string) {
  const keys: Record<Who, string> = { admin: TEST_API_KEY, zhang: '', wang: '', li: '', chen: '' };
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    who: Who | null = 'admin',
    extra = {},
  ) => {
    const headers: Record<string, string> = { ...extra };
    if (who) headers.authorization = `Bearer ${keys[who]}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const type = res.headers.get('content-type') ?? '';
    const raw = Buffer.from(await res.arrayBuffer());
    const json = type.includes('json') && raw.length ? (JSON.parse(raw.toString('utf8')) as Json) : {};
    return { status: res.status, type, body: json, raw };
  };
  return {
    call,
    /** Creates the key `name` with `scopes` (as the admin) and uses it for `who` from now on. */
    async key(who: Who, name: string, scopes: string[]) {
      const res = await call('POST', '/v1/admin/api-keys', { name, scopes });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name, scopes });
      keys[who] = res.body.key as string;
    },
    get: (path: string, who: Who = 'admin') => call('GET', path, undefined, who),
    post: (path: string, body: unknown, who: Who = 'admin') => call('POST', path, body, who),
    put: (path: string, body: unknown, who: Who = 'admin') => call('PUT', path, body, who),
  };
}

const debtor = {
  role: 'debtor',
  name: '张三',
  phone: '+8613800138000',
  email: 'zhang.san@example.com',
  address: {
    country: 'CN',
    province: '北京市',
    city: '北京市',
    district: '朝阳区',
    street: '示例街道 8 号院 3 号楼 501 室',
    postcode: '100020',
  },
  timeZone: 'Asia/Shanghai',
};

describe.each(['sqlite', 'postgres'] as const)('template store and workflow (%s)', (dialect) => {
  let api: InProcessApp;
  let t: ReturnType<typeof templateClient>;

  beforeAll(async () => {
    api = await startInProcess({
      dialect,
      env: { API_KEYS_BOOTSTRAP: TEST_API_KEY, GRPC_PORT: '0', SMS_PROVIDER: 'sandbox' },
      // Every call here names its key; a call without one must reach the service without one.
      autoAuth: false,
    });
    t = templateClient(api.baseUrl);
    await t.key('zhang', 'editor.zhang', ['templates:edit']);
    await t.key('wang', 'editor.wang', ['templates:edit']);
    await t.key('li', 'compliance.li', ['templates:approve']);
    await t.key('chen', 'lead.chen', ['templates:edit', 'templates:approve']);
  }, 60_000);

  afterAll(async () => {
    await api?.close();
  });

  it('loads the default pack on first start, once: every stage x channel in zh-CN and en at version 1', async () => {
    const pack = loadTemplatePack(join(ROOT, 'templates'));
    const res = await t.get('/v1/templates');
    expect(res.status).toBe(200);
    const items = res.body.items as { key: string; locale: string; latestVersion: number }[];
    expect(items.map((i) => `${i.key}|${i.locale}|${i.latestVersion}`).sort()).toEqual(
      pack.map((d) => `${d.key}|${d.locale}|1`).sort(),
    );
    // Seeding again (a second process starting) inserts nothing.
    const store = api.app.get(TemplateStore);
    expect(await store.seedFromPack(pack)).toEqual({ inserted: 0 });
    const [{ n }] = await api.db.rows<{ n: number | string }>('SELECT COUNT(*) AS n FROM template_versions');
    expect(Number(n)).toBe(pack.length);
    // Every published template renders with its example data through the preview.
    for (const d of pack) {
      const p = await t.post('/v1/templates/preview', { key: d.key, locale: d.locale });
      expect({ key: d.key, locale: d.locale, status: p.status }).toEqual({
        key: d.key,
        locale: d.locale,
        status: 200,
      });
      expect(p.body.findings).toEqual([]);
    }
  });

  it('refuses a write without an API key with 401 problem+json, and ignores X-User', async () => {
    const res = await t.call(
      'POST',
      '/v1/templates/drafts',
      { key: 'early.sms.reminder', locale: 'en' },
      null,
      {
        'x-user': 'editor.zhang',
      },
    );
    expect(res.status).toBe(401);
    expect(res.type).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 401, code: 'unauthenticated' });
    expect((await t.get('/v1/templates/drafts?open=true')).body.items).toEqual([]);

    // The key's name is the acting user, whatever X-User claims.
    const who = await t.get('/v1/auth/whoami', 'zhang');
    expect(who.body).toEqual({ name: 'editor.zhang', scopes: ['templates:edit'] });
    const spoof = await t.call(
      'POST',
      '/v1/templates/drafts',
      { key: 'early.sms.reminder', locale: 'en' },
      'zhang',
      { 'x-user': 'compliance.li' },
    );
    expect(spoof.status).toBe(201);
    expect(spoof.body).toMatchObject({ authors: ['editor.zhang'], createdBy: 'editor.zhang' });
    const id = spoof.body.id as string;
    expect((await t.post(`/v1/templates/drafts/${id}/submit`, {}, 'zhang')).status).toBe(200);
    // An editor-only key may not approve at all (scope), whatever X-User says.
    const noScope = await t.call('POST', `/v1/templates/drafts/${id}/approve`, {}, 'zhang', {
      'x-user': 'compliance.li',
    });
    expect(noScope.status).toBe(403);
    expect(noScope.body.requiredScopes).toEqual(['templates:approve']);
    expect((await t.post(`/v1/templates/drafts/${id}/withdraw`, {}, 'zhang')).body.status).toBe('withdrawn');
  });

  it('four eyes means two keys: a key with both scopes cannot approve its own draft', async () => {
    const created = await t.post('/v1/templates/drafts', { key: 'reminder.sms.due', locale: 'en' }, 'chen');
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body.authors).toEqual(['lead.chen']);
    expect((await t.post(`/v1/templates/drafts/${id}/submit`, {}, 'chen')).status).toBe(200);
    const self = await t.post(`/v1/templates/drafts/${id}/approve`, {}, 'chen');
    expect(self.status).toBe(403);
    expect(self.type).toContain('application/problem+json');
    expect(self.body).toMatchObject({ code: 'forbidden', authors: ['lead.chen'] });
    expect(String(self.body.detail)).toContain('four-eyes');
    const d = await t.get(`/v1/templates/drafts/${id}`);
    expect(d.body.status).toBe('in_review');
    const approved = await t.post(`/v1/templates/drafts/${id}/approve`, {}, 'li');
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', approvedBy: 'compliance.li' });
    expect((await t.post(`/v1/templates/drafts/${id}/withdraw`, {}, 'chen')).body.status).toBe('withdrawn');
  });

  it('runs draft -> review -> approved -> published with four eyes, versions, diff and audit', async () => {
    const created = await t.post(
      '/v1/templates/drafts',
      { key: 'early.sms.reminder', locale: 'zh-CN' },
      'zhang',
    );
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({
      status: 'draft',
      baseVersion: 1,
      authors: ['editor.zhang'],
      revision: 1,
    });
    const def = created.body.definition as { parts: { sms: string } };
    const sms = def.parts.sms.replace('如已还款请忽略。', '如已还款请忽略本短信。');
    expect(sms).not.toBe(def.parts.sms);

    const again = await t.post(
      '/v1/templates/drafts',
      { key: 'early.sms.reminder', locale: 'zh-CN' },
      'wang',
    );
    expect(again.status).toBe(409);
    expect(again.body.draftId).toBe(id);

    const upd = await t.put(`/v1/templates/drafts/${id}`, { revision: 1, parts: { sms } }, 'zhang');
    expect(upd.status).toBe(200);
    expect(upd.body.revision).toBe(2);
    const stale = await t.put(`/v1/templates/drafts/${id}`, { revision: 1, parts: { sms } }, 'zhang');
    expect(stale.status).toBe(409);

    const preview = await t.post('/v1/templates/preview', { draftId: id });
    expect((preview.body.sms as { text: string }).text).toContain('如已还款请忽略本短信。');

    expect((await t.post(`/v1/templates/drafts/${id}/approve`, {}, 'li')).status).toBe(409); // not submitted
    const submitted = await t.post(`/v1/templates/drafts/${id}/submit`, {}, 'zhang');
    expect(submitted.status).toBe(200);
    expect(submitted.body.status).toBe('in_review');
    expect((await t.put(`/v1/templates/drafts/${id}`, { parts: { sms } }, 'zhang')).status).toBe(409);

    // The author's key has no templates:approve scope (a key with both: see the four-eyes test).
    const self = await t.post(`/v1/templates/drafts/${id}/approve`, {}, 'zhang');
    expect(self.status).toBe(403);
    expect(self.type).toContain('application/problem+json');
    expect(self.body.requiredScopes).toEqual(['templates:approve']);
    const approved = await t.post(`/v1/templates/drafts/${id}/approve`, {}, 'li');
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', approvedBy: 'compliance.li' });

    const published = await t.post(`/v1/templates/drafts/${id}/publish`, {}, 'li');
    expect(published.status).toBe(200);
    expect(published.body).toMatchObject({
      version: 2,
      source: 'draft',
      approvedBy: 'compliance.li',
      authors: ['editor.zhang'],
    });

    const versions = await t.get('/v1/templates/early.sms.reminder/zh-CN/versions');
    expect((versions.body.items as { version: number }[]).map((v) => v.version)).toEqual([2, 1]);
    const v1 = await t.get('/v1/templates/early.sms.reminder/zh-CN/versions/1');
    expect((v1.body.definition as { parts: { sms: string } }).parts.sms).toBe(def.parts.sms);

    const diff = await t.get('/v1/templates/early.sms.reminder/zh-CN/diff?from=1&to=2');
    const changes = diff.body.changes as { field: string; lines: { op: string; text: string }[] }[];
    expect(changes.map((c) => c.field)).toEqual(['parts.sms']);
    expect(
      changes[0].lines
        .filter((l) => l.op === '+')
        .map((l) => l.text)
        .join('\n'),
    ).toContain('忽略本短信');

    const audit = await t.get('/v1/templates/audit?key=early.sms.reminder&locale=zh-CN');
    const entries = (
      audit.body.items as { action: string; actor: string; diff: unknown; at: string }[]
    ).reverse();
    expect(entries.map((e) => `${e.action}:${e.actor}`)).toEqual([
      'pack.seeded:system',
      'draft.created:editor.zhang',
      'draft.updated:editor.zhang',
      'draft.submitted:editor.zhang',
      'draft.approved:compliance.li',
      'version.published:compliance.li',
    ]);
    const pub = entries[entries.length - 1];
    expect(JSON.stringify(pub.diff)).toContain('忽略本短信');
    expect(Number.isNaN(Date.parse(pub.at))).toBe(false);

    // Rollback: v1's content goes through the four-eyes workflow like any change (issue 13):
    // the request opens a draft in review; its requester cannot approve it; a second person does.
    const rb = await t.post('/v1/templates/early.sms.reminder/zh-CN/rollback', { version: 1 }, 'li');
    expect(rb.status).toBe(202);
    expect(rb.body).toMatchObject({ status: 'in_review', baseVersion: 2, authors: ['compliance.li'] });
    const current = await t.get('/v1/templates/early.sms.reminder/zh-CN');
    expect(current.body).toMatchObject({ latest: { version: 2 }, openDraft: { id: rb.body.id } });
    const rbId = rb.body.id as string;
    const byRequester = await t.post(`/v1/templates/drafts/${rbId}/approve`, {}, 'li');
    expect(byRequester.status).toBe(403);
    expect((await t.post(`/v1/templates/drafts/${rbId}/publish`, {}, 'li')).status).toBe(409);
    expect((await t.post(`/v1/templates/drafts/${rbId}/approve`, {}, 'chen')).status).toBe(200);
    const rbPub = await t.post(`/v1/templates/drafts/${rbId}/publish`, {}, 'chen');
    expect(rbPub.status).toBe(200);
    expect(rbPub.body).toMatchObject({ version: 3, basedOnVersion: 2, approvedBy: 'lead.chen' });
    expect(rbPub.body.contentSha256).not.toBe(published.body.contentSha256);
    const v3 = await t.get('/v1/templates/early.sms.reminder/zh-CN/versions/3');
    expect((v3.body.definition as { parts: { sms: string } }).parts.sms).toBe(def.parts.sms);

    // Published versions are immutable in the database itself.
    await expect(
      api.db.exec('UPDATE template_versions SET definition = ? WHERE template_key = ?', [
        '{}',
        'early.sms.reminder',
      ]),
    ).rejects.toThrow(/append-only/);
  });

  it('refuses a submit with lint errors with 422 listing every finding with rule id and location', async () => {
    const created = await t.post('/v1/templates/drafts', { key: 'mid.sms.notice', locale: 'en' }, 'zhang');
    const id = created.body.id as string;
    const sms =
      'Pay {{cny outstandingBalance}} now or we will tell your employer. Ref {{accountRef}} {{#if}}';
    expect((await t.put(`/v1/templates/drafts/${id}`, { parts: { sms } }, 'zhang')).status).toBe(200);
    const broken = await t.post(`/v1/templates/drafts/${id}/submit`, {}, 'zhang');
    expect(broken.status).toBe(422);
    expect((broken.body.errors as { path: string }[])[0].path).toMatch(/^sms/);

    const sms2 = 'Pay {{cny outstandingBalance}} now or we will tell your employer. Ref {{accountRef}}';
    await t.put(`/v1/templates/drafts/${id}`, { parts: { sms: sms2 } }, 'zhang');
    const res = await t.post(`/v1/templates/drafts/${id}/submit`, {}, 'zhang');
    expect(res.status).toBe(422);
    expect(res.type).toContain('application/problem+json');
    const findings = res.body.findings as { ruleId: string; location: { part: string; line?: number } }[];
    const rules = new Set(findings.map((f) => f.ruleId));
    for (const r of ['variable-not-in-schema', 'forbidden-phrase', 'example-render-failed'])
      expect(rules).toContain(r);
    const errors = res.body.errors as { path: string; message: string }[];
    expect(errors.length).toBe(
      findings.filter((f) => (f as { severity?: string }).severity === 'error').length,
    );
    expect(errors.find((e) => e.message.startsWith('variable-not-in-schema'))?.path).toMatch(/^sms:1:\d+$/);
    const d = await t.get(`/v1/templates/drafts/${id}`);
    expect(d.body.status).toBe('draft');
    expect((await t.post(`/v1/templates/drafts/${id}/withdraw`, {}, 'zhang')).body.status).toBe('withdrawn');
  });

  it('previews SMS with encoding and segments, email HTML and text, and the letter as PDF', async () => {
    const sms = await t.post('/v1/templates/preview', { key: 'early.sms.reminder', locale: 'en' });
    const s = sms.body.sms as { text: string; encoding: string; segments: number; length: number };
    expect(s.text).toContain('1234');
    expect(s.segments).toBeGreaterThanOrEqual(1);
    expect({ encoding: s.encoding, segments: s.segments, length: s.length }).toEqual(smsSegments(s.text));
    const zh = await t.post('/v1/templates/preview', { key: 'reminder.sms.due', locale: 'zh-CN' });
    expect(zh.body.sms).toMatchObject({ encoding: 'UCS-2' });
    const email = await t.post('/v1/templates/preview', { key: 'late.email.demand', locale: 'en' });
    const e = email.body.email as { subject: string; html: string; text: string };
    expect(e.html).toContain('<');
    expect(e.text.length).toBeGreaterThan(50);
    const pdf = await t.post('/v1/templates/preview/pdf', { key: 'late.letter.demand', locale: 'zh-CN' });
    expect(pdf.status).toBe(200);
    expect(pdf.type).toBe('application/pdf');
    expect(pdf.raw.subarray(0, 5).toString()).toBe('%PDF-');
    const bad = await t.post('/v1/templates/preview', {
      key: 'early.sms.reminder',
      locale: 'en',
      data: { amountDue: '1.234', dueDate: '2026-02-30' },
    });
    expect(bad.status).toBe(422);
    const paths = (bad.body.errors as { path: string }[]).map((x) => x.path);
    expect(paths).toEqual(expect.arrayContaining(['data.amountDue', 'data.cardLast4', 'data.dpd']));
  }, 60_000);

  it('test send: the sandbox provider of each channel, recorded in the template audit (templates:edit)', async () => {
    const sms = await t.post(
      '/v1/templates/test-send',
      { key: 'early.sms.reminder', locale: 'zh-CN' },
      'zhang',
    );
    expect(sms.status).toBe(200);
    expect(sms.body).toMatchObject({
      channel: 'sms',
      provider: 'sandbox-sms',
      sandbox: true,
      to: '+86138****8000',
      sms: { encoding: 'UCS-2' },
    });
    expect(sms.body.providerMessageId).toBe(`SBX${String(sms.body.testId).replace(/-/g, '')}`);
    const email = await t.post(
      '/v1/templates/test-send',
      { key: 'late.email.demand', locale: 'en', to: 'Reviewer@Example.com' },
      'zhang',
    );
    expect(email.body).toMatchObject({ channel: 'email', provider: 'sandbox-email', to: 'r***@example.com' });
    const letter = await t.post(
      '/v1/templates/test-send',
      { key: 'mid.letter.notice', locale: 'zh-CN' },
      'zhang',
    );
    expect(letter.status).toBe(200);
    expect(letter.body).toMatchObject({ channel: 'letter', provider: 'sandbox-post' });
    expect(String(letter.body.providerMessageId)).toMatch(/^SBXL/);
    // Refused: a bad number; a key without templates:edit.
    const bad = await t.post(
      '/v1/templates/test-send',
      { key: 'early.sms.reminder', locale: 'zh-CN', to: '12345' },
      'zhang',
    );
    expect(bad.status).toBe(400);
    expect((bad.body.errors as { path: string }[])[0].path).toBe('to');
    const denied = await t.post(
      '/v1/templates/test-send',
      { key: 'early.sms.reminder', locale: 'zh-CN' },
      'li',
    );
    expect(denied.status).toBe(403);
    const audit = await t.get('/v1/templates/audit?key=early.sms.reminder&locale=zh-CN', 'zhang');
    const entry = (
      audit.body.items as { action: string; actor: string; detail: Record<string, unknown> }[]
    ).find((a) => a.action === 'test.sent');
    expect(entry).toMatchObject({
      actor: 'editor.zhang',
      detail: { providerMessageId: sms.body.providerMessageId, sha256: sms.body.sha256, sandbox: true },
    });
  }, 60_000);

  it('automatic mode picks stage, channel and template from the DPD and records the decision', async () => {
    const accept = async (key: string, body: Json) => {
      const res = await fetch(`${api.baseUrl}/v1/notifications`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': key,
          authorization: `Bearer ${TEST_API_KEY}`,
        },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const decision = (n: Json) =>
      (n.events as { type: string; payload: Json }[]).find((e) => e.type === 'stage.decided')?.payload;

    const reminder = await accept(`auto-1-${dialect}`, {
      caseId: `C-auto-1-${dialect}`,
      dpd: -2,
      recipient: debtor,
      data: { amountDue: '5620.00', dueDate: '2026-11-01', cardLast4: '1234' },
    });
    expect(reminder.status).toBe(202);
    expect(reminder.body).toMatchObject({ channel: 'sms', template: { key: 'reminder.sms.due' } });
    expect(decision(reminder.body)).toMatchObject({ stage: 'reminder', dpd: -2, chosen: { channel: 'sms' } });

    const early = await accept(`auto-2-${dialect}`, {
      caseId: `C-auto-2-${dialect}`,
      dpd: 12,
      recipient: debtor,
      data: { amountDue: '3280.50', dueDate: '2026-10-25', cardLast4: '1234' },
    });
    expect(early.status).toBe(202);
    expect(early.body).toMatchObject({ channel: 'sms', template: { key: 'early.sms.reminder' } });
    const ed = decision(early.body) as { order: { channel: string }[]; reason: string };
    expect(ed.order.map((o) => o.channel)).toEqual(['sms', 'email']);
    expect(ed.reason).toContain('DPD 12 is in early');

    const letterData = {
      outstandingBalance: '23456.78',
      principal: '20000.00',
      interestAndFees: '3456.78',
      balanceAsOf: '2026-10-31',
      cardLast4: '1234',
      overdueSince: '2026-06-25',
      // After the letter date (the clock's 2026-11-24): an earlier deadline is a 422 (libs/letters checks.ts).
      repayBy: '2026-12-10',
    };
    const late = await accept(`auto-3-${dialect}`, {
      caseId: `C-auto-3-${dialect}`,
      dpd: 120,
      recipient: debtor,
      data: letterData,
    });
    expect([late.status, late.body.errors ?? null]).toEqual([202, null]);
    expect(late.body).toMatchObject({ channel: 'letter', template: { key: 'late.letter.demand' } });
    expect(decision(late.body)).toMatchObject({
      stage: 'late',
      chosen: { channel: 'letter', templateKey: 'late.letter.demand', registered: true, position: 1 },
      order: [
        { channel: 'letter', available: true },
        { channel: 'email', available: true },
      ],
    });

    // Without a postal address the late stage falls to its next channel, and says why.
    const { address: _a, ...noAddress } = debtor;
    const lateEmail = await accept(`auto-4-${dialect}`, {
      caseId: `C-auto-4-${dialect}`,
      dpd: 120,
      recipient: noAddress,
      data: {
        outstandingBalance: '23456.78',
        balanceAsOf: '2026-10-31',
        cardLast4: '1234',
        repayBy: '2026-11-20',
      },
    });
    expect(lateEmail.status).toBe(202);
    expect(lateEmail.body).toMatchObject({ channel: 'email', template: { key: 'late.email.demand' } });
    expect((decision(lateEmail.body) as { reason: string }).reason).toContain(
      'skipped letter (no recipient.address)',
    );

    // Both forms, or a DPD outside every stage: 400 naming the field.
    const both = await accept(`auto-5-${dialect}`, {
      caseId: 'C-auto-5',
      dpd: 12,
      channel: 'sms',
      templateKey: 'early.sms.reminder',
      recipient: debtor,
      data: {},
    });
    expect(both.status).toBe(400);
    expect((both.body.errors as { path: string }[]).map((e) => e.path).sort()).toEqual([
      'channel',
      'templateKey',
    ]);
    const outside = await accept(`auto-6-${dialect}`, {
      caseId: 'C-auto-6',
      dpd: -30,
      recipient: debtor,
      data: {},
    });
    expect(outside.status).toBe(400);
    expect((outside.body.errors as { path: string }[])[0].path).toBe('dpd');

    // Bad data in automatic mode: 422 listing every problem; nothing stored.
    const bad = await accept(`auto-7-${dialect}`, {
      caseId: `C-auto-7-${dialect}`,
      dpd: 120,
      recipient: debtor,
      data: { outstandingBalance: '12.345', cardLast4: '12' },
    });
    expect(bad.status).toBe(422);
    const paths = (bad.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(['data.outstandingBalance', 'data.cardLast4', 'data.principal', 'data.repayBy']),
    );
    const [{ n }] = await api.db.rows<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM notifications WHERE case_id = ?',
      [`C-auto-7-${dialect}`],
    );
    expect(Number(n)).toBe(0);
  }, 60_000);

  it('exports the current versions back to a template pack that loads again', async () => {
    const store = api.app.get(TemplateStore);
    const latest = new Map<string, Awaited<ReturnType<TemplateStore['publishedVersions']>>[number]>();
    for (const v of await store.publishedVersions()) latest.set(`${v.key}|${v.locale}`, v);
    const dir = mkdtempSync(join(tmpdir(), 'cns-export-'));
    try {
      const res = await exportTemplatePack(
        [...latest.values()].map((v) => v.definition),
        dir,
      );
      expect(res.templates.length).toBe(new Set([...latest.values()].map((v) => v.key)).size);
      const back = loadTemplatePack(dir);
      expect(back.length).toBe(latest.size);
      for (const d of back) {
        const cur = latest.get(`${d.key}|${d.locale}`)?.definition;
        expect({ key: d.key, parts: d.parts, schema: d.schema, partials: d.partials }).toEqual({
          key: d.key,
          parts: cur?.parts,
          schema: cur?.schema,
          partials: cur?.partials,
        });
      }
      expect(readFileSync(join(dir, 'late.letter.demand', 'template.json'), 'utf8')).toContain(
        '"attachments"',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
