import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PROBLEM_TYPES } from '#libs/contracts';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';

/** Problem `type` URIs resolve: `/problems/<code>` answers for every code, HTML or JSON. */
describe('problem type pages', () => {
  let api: InProcessApp;

  beforeAll(async () => {
    api = await startInProcess({ dialect: 'sqlite', autoAuth: false });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
  });

  it('every code has an HTML page and a JSON entry, without an API key', async () => {
    expect(PROBLEM_TYPES.length).toBe(16);
    for (const t of PROBLEM_TYPES) {
      const html = await fetch(`${api.baseUrl}/problems/${t.code}`);
      expect([html.status, html.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
      const text = await html.text();
      expect(text).toContain(`<h1>${t.title}</h1>`);
      expect(text).toContain(`/problems/${t.code}`);

      const json = await fetch(`${api.baseUrl}/problems/${t.code}`, {
        headers: { accept: 'application/json' },
      });
      expect(json.status).toBe(200);
      expect(json.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await json.json()).toEqual({
        type: `/problems/${t.code}`,
        code: t.code,
        title: t.title,
        status: t.status,
        explanation: t.explanation,
      });
    }
  });

  it('an unknown code is a 404 problem', async () => {
    for (const code of ['nope', 'toString', '__proto__']) {
      const res = await fetch(`${api.baseUrl}/problems/${code}`, { headers: { accept: 'application/json' } });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe('not_found');
    }
  });

  it('the type of a real error answer resolves, with the same title', async () => {
    const bad = await postJson(api.baseUrl, '/v1/notifications', { channel: 'sms' });
    expect(bad.status).toBe(400);
    const unauth = await fetch(`${api.baseUrl}/v1/notifications?caseId=C-1`);
    const problems = [bad.body, (await unauth.json()) as Record<string, unknown>];
    expect(problems.map((p) => p.code)).toEqual(['validation', 'unauthenticated']);
    for (const p of problems) {
      const res = await fetch(new URL(String(p.type), api.baseUrl), {
        headers: { accept: 'application/json' },
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { title: string }).title).toBe(p.title);
    }
  });
});
