import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '#libs/core';
import { generateSigningKeyPair } from '#libs/evidence';
import { type InProcessApp, startInProcess } from './support/app.js';
import { AUTH_HEADER, DAYTIME, phoneFor, smsBody } from './support/fixtures.js';

/**
 * Issue 17, cursor pagination and the small trips: a case with 120 notices is read 10 at a time
 * (every notice exactly once, in a stable order), its evidence likewise, `limit` over the cap and
 * a garbled or foreign cursor are 400s naming the parameter, API answers are `no-store`, and an
 * upper-case UUID finds its notification. On SQLite and PostgreSQL (keyset SQL on both).
 */
describe.each(['sqlite', 'postgres'] as const)('pagination (%s)', (dialect) => {
  let api: InProcessApp;
  const CASE = `C-page-${dialect}`;
  const NOTICES = 120;
  const created: string[] = [];
  const clock = new ManualClock(new Date(DAYTIME));

  interface Answer {
    status: number;
    headers: Headers;
    body: Record<string, unknown>;
  }

  async function get(path: string): Promise<Answer> {
    const res = await fetch(`${api.baseUrl}${path}`, { headers: AUTH_HEADER });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }

  function problemFields(res: Answer): string[] {
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    return ((res.body.errors ?? []) as { path: string }[]).map((f) => f.path);
  }

  /** Follows `next` from the first page until null; the pages' items, in order. */
  async function walk<T>(path: string, field: string, limit: number): Promise<{ items: T[]; pages: number }> {
    const items: T[] = [];
    let cursor: string | null = null;
    let pages = 0;
    const sep = path.includes('?') ? '&' : '?';
    do {
      const res = await get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = res.body[field] as T[];
      expect(page.length).toBeLessThanOrEqual(limit);
      items.push(...page);
      cursor = res.body.next as string | null;
      if (cursor !== null) expect(page.length).toBe(limit);
      pages++;
      expect(pages).toBeLessThan(1000);
    } while (cursor !== null);
    return { items, pages };
  }

  beforeAll(async () => {
    api = await startInProcess({
      dialect,
      clock,
      env: {
        RATE_LIMIT_BURST: '1000',
        RATE_LIMIT_RPS: '1000',
        // The public key route must answer (standalone SQLite generates a key; PostgreSQL needs one).
        EVIDENCE_SIGNING_KEY: generateSigningKeyPair().privateKeyPem,
      },
    });
    for (let i = 0; i < NOTICES; i++) {
      const res = await fetch(`${api.baseUrl}/v1/notifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...AUTH_HEADER },
        body: JSON.stringify(smsBody(CASE, phoneFor(i))),
      });
      expect(res.status).toBe(202);
      created.push(((await res.json()) as { id: string }).id);
      // Eight notices per millisecond: createdAt ties inside and across pages, so the id
      // tie-break of the order is what keeps a page from skipping or repeating one.
      if (i % 8 === 7) clock.advance(1);
    }
    clock.advance(1000);
  }, 180_000);

  afterAll(async () => {
    await api?.close();
  });

  it('120 notices of one case paged by 10: each exactly once, in (createdAt, id) order', async () => {
    const { items, pages } = await walk<{ id: string; caseId: string; createdAt: string }>(
      `/v1/notifications?caseId=${CASE}`,
      'items',
      10,
    );
    expect(pages).toBe(12);
    expect(items).toHaveLength(NOTICES);
    const ids = items.map((n) => n.id);
    expect(new Set(ids).size).toBe(NOTICES);
    expect([...ids].sort()).toEqual([...created].sort());
    expect(items.every((n) => n.caseId === CASE)).toBe(true);
    expect(new Set(items.map((n) => n.createdAt)).size).toBe(NOTICES / 8);
    const keys = items.map((n) => [Date.parse(n.createdAt), n.id] as const);
    for (let i = 1; i < keys.length; i++) {
      const [a, b] = [keys[i - 1], keys[i]];
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
    }
    // The same order again, in pages of another size.
    const again = await walk<{ id: string }>(`/v1/notifications?caseId=${CASE}`, 'items', 7);
    expect(again.items.map((n) => n.id)).toEqual(ids);
    // Default limit 50, and `next` on a full first page.
    const first = await get(`/v1/notifications?caseId=${CASE}`);
    expect((first.body.items as unknown[]).length).toBe(50);
    expect(typeof first.body.next).toBe('string');
  });

  it("a case's evidence paged by 10: the chain's seqs 1..n, each once", async () => {
    const before = await api.db.rows<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM evidence_events WHERE case_id = ?',
      [CASE],
    );
    const { items } = await walk<{ seq: number }>(`/v1/cases/${CASE}/evidence`, 'events', 10);
    const seqs = items.map((e) => e.seq);
    expect(seqs.length).toBeGreaterThanOrEqual(Number(before[0].n));
    expect(seqs.length).toBeGreaterThan(NOTICES);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    // The first page verifies the whole chain; later pages do not repeat it.
    const page = await get(`/v1/cases/${CASE}/evidence?limit=5`);
    expect(page.body).toMatchObject({ caseId: CASE, verification: { ok: true } });
    expect((page.body.events as unknown[]).length).toBe(5);
    const second = await get(`/v1/cases/${CASE}/evidence?limit=5&cursor=${String(page.body.next)}`);
    expect(second.body.verification).toBeNull();
    expect((second.body.events as { seq: number }[]).map((e) => e.seq)).toEqual([6, 7, 8, 9, 10]);
  }, 120_000);

  it.each([
    ['/v1/notifications?caseId=C-1&limit=501', 'limit'],
    ['/v1/notifications?caseId=C-1&limit=0', 'limit'],
    ['/v1/notifications?caseId=C-1&limit=ten', 'limit'],
    ['/v1/cases/C-1/evidence?limit=100000', 'limit'],
    ['/v1/cases/C-1/holds?limit=501', 'limit'],
    ['/v1/templates?limit=501', 'limit'],
    ['/v1/templates/audit?limit=501', 'limit'],
    ['/v1/evidence/cases?limit=501', 'limit'],
    ['/v1/evidence/retention?limit=501', 'limit'],
    ['/v1/notifications?caseId=C-1&cursor=not-a-cursor', 'cursor'],
    ['/v1/notifications?caseId=C-1&cursor=%7B%22k%22%3A1%7D', 'cursor'],
    ['/v1/cases/C-1/evidence?cursor=AAAA', 'cursor'],
    ['/v1/templates/drafts?cursor=e30', 'cursor'],
    ['/v1/evidence/retention?cursor=!!', 'cursor'],
  ])('%s is a 400 naming %s', async (path, field) => {
    const res = await get(path);
    expect(res.status).toBe(400);
    expect(problemFields(res)).toContain(field);
  });

  it("a tampered cursor is a 400: one list's cursor on another, a key of the wrong shape", async () => {
    const notices = await get(`/v1/notifications?caseId=${CASE}&limit=1`);
    const cursor = notices.body.next as string;
    const onEvidence = await get(`/v1/cases/${CASE}/evidence?cursor=${cursor}`);
    expect(onEvidence.status).toBe(400);
    expect(problemFields(onEvidence)).toEqual(['cursor']);
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as { k: string; v: unknown[] };
    const forged = Buffer.from(JSON.stringify({ k: decoded.k, v: ['x', decoded.v[1]] })).toString(
      'base64url',
    );
    const res = await get(`/v1/notifications?caseId=${CASE}&cursor=${forged}`);
    expect(res.status).toBe(400);
    expect(problemFields(res)).toEqual(['cursor']);
  });

  it('holds, templates, template audit and case search page the same way', async () => {
    for (const kind of ['dispute', 'repayment_plan', 'paid']) {
      const res = await fetch(`${api.baseUrl}/v1/cases/C-page-holds/hold`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...AUTH_HEADER },
        body: JSON.stringify({ kind, reason: `test ${kind}` }),
      });
      expect(res.status).toBe(200);
    }
    const holds = await walk<{ kind: string }>('/v1/cases/C-page-holds/holds', 'holds', 2);
    expect(holds.pages).toBe(2);
    expect(holds.items.map((h) => h.kind).sort()).toEqual(['dispute', 'paid', 'repayment_plan']);

    const all = await get('/v1/templates?limit=500');
    const templates = await walk<{ key: string; locale: string }>('/v1/templates', 'items', 3);
    expect(templates.items).toEqual(all.body.items);
    expect(templates.items.length).toBeGreaterThan(3);

    const cases = await walk<{ caseId: string }>('/v1/evidence/cases?prefix=C-page', 'cases', 1);
    expect(cases.items.map((c) => c.caseId)).toEqual([CASE, 'C-page-holds'].sort());

    // Three drafts (each writes audit entries), then drafts and audit paged by 2.
    for (const t of templates.items.slice(0, 3)) {
      const res = await fetch(`${api.baseUrl}/v1/templates/drafts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...AUTH_HEADER },
        body: JSON.stringify({ key: t.key, locale: t.locale }),
      });
      expect(res.status).toBe(201);
    }
    const drafts = await get('/v1/templates/drafts?limit=500');
    const draftsPaged = await walk<{ id: string }>('/v1/templates/drafts', 'items', 2);
    expect(draftsPaged.pages).toBe(2);
    expect(draftsPaged.items).toEqual(drafts.body.items);
    expect(draftsPaged.items).toHaveLength(3);

    const audit = await get('/v1/templates/audit?limit=500');
    expect((audit.body.items as unknown[]).length).toBeGreaterThanOrEqual(3);
    const auditPaged = await walk<{ id: number }>('/v1/templates/audit', 'items', 2);
    expect(auditPaged.items).toEqual(audit.body.items);
  });

  it('API answers carry Cache-Control: no-store (problems too); the public key stays cacheable', async () => {
    for (const path of [`/v1/notifications/${created[0]}`, `/v1/notifications?caseId=${CASE}`, '/v1/nope']) {
      const res = await get(path);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    const unauthenticated = await fetch(`${api.baseUrl}/v1/cases/${CASE}/evidence`, {
      headers: { authorization: 'Bearer wrong' },
    });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('cache-control')).toBe('no-store');
    const key = await fetch(`${api.baseUrl}/v1/evidence/public-key`);
    expect(key.status).toBe(200);
    expect(key.headers.get('cache-control')).toBe('public, max-age=300');
  });

  it('an upper-case UUID finds the notification; a near-UUID is a 400 naming id', async () => {
    const id = created[0];
    const res = await get(`/v1/notifications/${id.toUpperCase()}`);
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(id);
    const bad = await get(`/v1/notifications/${id.toUpperCase().slice(0, 35)}`);
    expect(bad.status).toBe(400);
    expect(problemFields(bad)).toEqual(['id']);
  });
});
