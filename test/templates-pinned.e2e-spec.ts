import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, type Stack, startStack } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

/**
 * Acceptance (4): a notification pins the template version it was accepted with. Queue mode
 * (PostgreSQL + Redis, built apps as processes): one notification is accepted, a new version is
 * published, a second one is accepted; only then a worker starts and sends both. The first goes
 * out with the old text, the second with the new one. A version published while the worker runs
 * reaches it through the registry's refresh.
 */
const API_KEY = 'test-admin-key-0123456789abcdef0123456789';
const MARKER = '（新版本）';

describe('pinned template versions across a publish (queue mode)', () => {
  let stack: Stack;
  /** API keys by name (created through the admin API): the key's name is the acting user. */
  const keys: Record<string, string> = {};

  const call = async (method: string, path: string, body?: unknown, user?: string, key?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${user ? keys[user] : API_KEY}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers['idempotency-key'] = key;
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const accept = (i: number) =>
    call(
      'POST',
      '/v1/notifications',
      {
        caseId: `C-pin-${i}`,
        dpd: 9,
        recipient: { role: 'debtor', name: '李四', phone: phoneFor(7000 + i), timeZone: 'Asia/Shanghai' },
        data: { amountDue: '880.00', dueDate: '2026-11-10', cardLast4: '4321' },
      },
      undefined,
      `pin-${i}`,
    );

  /** Publishes a new version of early.sms.reminder zh-CN with `marker` in its text. */
  const publish = async (marker: string) => {
    const d = await call(
      'POST',
      '/v1/templates/drafts',
      { key: 'early.sms.reminder', locale: 'zh-CN' },
      'editor.zhang',
    );
    expect(d.status).toBe(201);
    const id = d.body.id as string;
    const before = (d.body.definition as { parts: { sms: string } }).parts.sms;
    const sms = before.replace(/如已还款请忽略[^。]*。/, `如已还款请忽略${marker}。`);
    expect(sms).not.toBe(before);
    expect((await call('PUT', `/v1/templates/drafts/${id}`, { parts: { sms } }, 'editor.zhang')).status).toBe(
      200,
    );
    expect((await call('POST', `/v1/templates/drafts/${id}/submit`, {}, 'editor.zhang')).status).toBe(200);
    // Four eyes: the author's key (even one with both scopes) cannot approve; another key can.
    expect((await call('POST', `/v1/templates/drafts/${id}/approve`, {}, 'editor.zhang')).status).toBe(403);
    expect((await call('POST', `/v1/templates/drafts/${id}/approve`, {}, 'compliance.li')).status).toBe(200);
    const p = await call('POST', `/v1/templates/drafts/${id}/publish`, {}, 'compliance.li');
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ authors: ['editor.zhang'], approvedBy: 'compliance.li' });
    return p.body as { version: number; contentSha256: string };
  };

  const delivered = (id: string) =>
    waitFor(
      `notification ${id} delivered`,
      async () => {
        const n = await call('GET', `/v1/notifications/${id}`);
        return n.body.status === 'delivered' ? n.body : undefined;
      },
      30_000,
    );

  beforeAll(async () => {
    stack = await startStack({
      mode: 'queue',
      workers: 0,
      env: {
        API_KEYS_BOOTSTRAP: API_KEY,
        GRPC_PORT: '0',
        TEMPLATE_REFRESH_MS: '200',
        // Midday in Shanghai: inside the contact hours whatever time the test runs.
        CLOCK_START: '2026-11-25T04:00:00.000Z',
      },
    });
    for (const [name, scopes] of [
      ['editor.zhang', ['templates:edit', 'templates:approve']],
      ['compliance.li', ['templates:approve']],
    ] as const) {
      const res = await call('POST', '/v1/admin/api-keys', { name, scopes });
      expect(res.status).toBe(201);
      keys[name] = res.body.key as string;
    }
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('sends each notification with the version it was accepted with', async () => {
    const a = await accept(1);
    expect(a.status).toBe(202);
    expect(a.body.template).toMatchObject({ key: 'early.sms.reminder', version: 1, locale: 'zh-CN' });
    const v1 = await call('GET', '/v1/templates/early.sms.reminder/zh-CN/versions/1');

    const v2 = await publish(MARKER);
    expect(v2.version).toBe(2);
    const b = await accept(2);
    expect(b.body.template).toMatchObject({ version: 2 });

    const pinned = (n: Record<string, unknown>) =>
      (n.events as { type: string; payload: Record<string, unknown> }[]).find(
        (e) => e.type === 'template.pinned',
      )?.payload;
    expect(pinned(a.body)).toMatchObject({ version: 1, contentSha256: v1.body.contentSha256 });
    expect(pinned(b.body)).toMatchObject({ version: 2, contentSha256: v2.contentSha256 });

    await stack.startWorker();
    await delivered(a.body.id as string);
    await delivered(b.body.id as string);
    const bodyTo = (i: number) => stack.emulator.messages({ to: phoneFor(7000 + i) }).map((m) => m.body);
    const [sentA] = bodyTo(1);
    const [sentB] = bodyTo(2);
    expect(sentA).toContain('如已还款请忽略。');
    expect(sentA).not.toContain(MARKER);
    expect(sentB).toContain(`如已还款请忽略${MARKER}。`);
    expect(sentA.replace('如已还款请忽略。', `如已还款请忽略${MARKER}。`)).toBe(sentB);

    // A version published while the worker runs: the worker picks it up and renders it.
    const v3 = await publish('（第三版）');
    expect(v3.version).toBe(3);
    await new Promise((r) => setTimeout(r, 600));
    const c = await accept(3);
    expect(c.body.template).toMatchObject({ version: 3 });
    await delivered(c.body.id as string);
    expect(bodyTo(3)[0]).toContain('如已还款请忽略（第三版）。');
  }, 90_000);
});
