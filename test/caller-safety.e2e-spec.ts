import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type InProcessApp, startInProcess } from './support/app.js';
import { AUTH_HEADER, smsBody } from './support/fixtures.js';

/**
 * Issue 13, first list: opt-outs typed in national format, idempotency keys across callers,
 * loosely parsed holds, unknown fields, automatic-mode data, deep JSON and NUL bytes. Each of
 * these passed (or crashed) before the input policy and the normalised address key.
 */
describe.each(['sqlite', 'postgres'] as const)('caller safety (%s)', (dialect) => {
  let api: InProcessApp;

  async function createKey(name: string): Promise<string> {
    const res = await fetch(`${api.baseUrl}/v1/admin/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...AUTH_HEADER },
      body: JSON.stringify({ name, scopes: ['notifications:send', 'notifications:read'] }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { key: string }).key;
  }

  interface Answer {
    status: number;
    headers: Headers;
    body: Record<string, unknown>;
  }

  async function send(method: string, path: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${api.baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...AUTH_HEADER, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    } satisfies Answer;
  }
  const postJson = (_base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    send('POST', path, body, headers);

  function problemFields(res: Answer): string[] {
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.status).toBeLessThan(500);
    return ((res.body.errors ?? []) as { path: string }[]).flatMap((f) => f.path.split(', '));
  }

  beforeAll(async () => {
    api = await startInProcess({ dialect });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
  });

  it.each([
    ['13941702736', '+8613941702736'],
    ['+86 139 3016 5666', '+8613930165666'],
    ['139-4332-1315', '+8613943321315'],
  ])('an opt-out typed as %s stops the SMS to %s', async (typed, e164) => {
    const res = await postJson(api.baseUrl, '/v1/opt-outs', { address: typed, channel: 'sms' });
    expect(res.status).toBe(201);
    expect((res.body as { address: string }).address).toBe(e164);
    const sent = await postJson(api.baseUrl, '/v1/notifications', smsBody(`C-opt-${e164.slice(1)}`, e164));
    const body = sent.body as { status: string };
    expect(body.status).toBe('suppressed');
  });

  it('an opt-out that is not an address is a 400 naming the field, and nothing is stored', async () => {
    const res = await postJson(api.baseUrl, '/v1/opt-outs', { address: 'not a phone', channel: 'sms' });
    expect(res.status).toBe(400);
    expect(problemFields(res)).toContain('address');
    const rows = await api.db.rows<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM opt_outs WHERE address = 'not a phone'",
    );
    expect(Number(rows[0].n)).toBe(0);
  });

  it('the same Idempotency-Key from two callers gives two notifications and never the other one', async () => {
    const alice = await createKey('caller-a');
    const bob = await createKey('caller-b');
    const body = smsBody('C-idem-shared', '+8613800131111');
    const headers = (key: string) => ({ authorization: `Bearer ${key}`, 'idempotency-key': 'shared-key-1' });
    const a = await postJson(api.baseUrl, '/v1/notifications', body, headers(alice));
    expect(a.status).toBe(202);
    const b = await postJson(api.baseUrl, '/v1/notifications', body, headers(bob));
    expect(b.status).toBe(202);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    const idA = (a.body as { id: string }).id;
    const idB = (b.body as { id: string }).id;
    expect(idB).not.toBe(idA);
    // The first caller's retry still replays its own notification.
    const again = await postJson(api.baseUrl, '/v1/notifications', body, headers(alice));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((again.body as { id: string }).id).toBe(idA);
  });

  it.each([
    ['"1"', { kind: 'dispute', until: '1' }, 'until'],
    ['a date without time', { kind: 'dispute', until: '2027-01-01' }, 'until'],
    ['a past instant', { kind: 'dispute', until: '2020-01-01T00:00:00Z' }, 'until'],
    ['an unknown field', { kind: 'dispute', note: 'x' }, 'note'],
  ])('a hold with %s is refused naming the field', async (_label, body, field) => {
    const res = await send('PUT', '/v1/cases/C-hold-strict/hold', body);
    expect(res.status).toBe(400);
    expect(problemFields(res)).toContain(field);
    const holds = await api.db.rows("SELECT id FROM case_holds WHERE case_id = 'C-hold-strict'");
    expect(holds).toHaveLength(0);
  });

  it('unknown fields on opt-outs and verify are refused', async () => {
    const o = await postJson(api.baseUrl, '/v1/opt-outs', { address: '+8613800132222', extra: 1 });
    expect(o.status).toBe(400);
    expect(problemFields(o)).toContain('extra');
    const v = await postJson(api.baseUrl, '/v1/evidence/verify', { caseId: 'C-x', all: false });
    expect(v.status).toBe(400);
  });

  it.each([
    ['POST', '/v1/notifications'],
    ['PUT', '/v1/cases/C-415/hold'],
    ['POST', '/v1/opt-outs'],
    ['POST', '/v1/evidence/verify'],
  ])('%s %s with a body that is not JSON is a 415 naming Content-Type', async (method, path) => {
    const res = await send(method, path, 'address=13941702736', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(415);
    expect(problemFields(res)).toContain('Content-Type');
    expect(res.body.title).toBe('Unsupported media type');
  });

  it('5,000-deep JSON in data is a 400, not a 500', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const text = JSON.stringify(smsBody('C-deep', '+8613800133333')).replace(
      '"dpd":22',
      `"dpd":22,"x":${deep}`,
    );
    const res = await postJson(api.baseUrl, '/v1/notifications', text);
    expect(res.status).toBe(400);
    expect(problemFields(res)).toContain('(body)');
  });

  it('a NUL byte is a 400 naming the body, not a 500', async () => {
    const body = smsBody('C-nul', '+8613800134444');
    body.recipient.name = '张\u0000三';
    const res = await postJson(api.baseUrl, '/v1/notifications', body);
    expect(res.status).toBe(400);
    expect(problemFields(res)).toContain('(body)');
  });

  it("automatic mode takes the case's full data and pins exactly the fields used", async () => {
    const body = {
      caseId: 'C-auto-superset',
      dpd: 12,
      locale: 'zh-CN',
      recipient: { role: 'debtor', name: '张三', phone: '+8613800135555', timeZone: 'Asia/Shanghai' },
      data: {
        amountDue: '12345.67',
        dueDate: '2026-11-01',
        cardLast4: '1234',
        outstandingPrincipal: '12000.00',
        lastPaymentDate: '2026-05-01',
        billingCycle: 'monthly',
      },
    };
    const res = await postJson(api.baseUrl, '/v1/notifications', body);
    expect(res.status).toBe(202);
    const { id } = res.body as { id: string };
    const [pinned] = await api.db.rows<{ payload: string }>(
      "SELECT payload FROM evidence_events WHERE notification_id = ? AND type = 'template.pinned'",
      [id],
    );
    const data = (JSON.parse(pinned.payload) as { data: Record<string, unknown> }).data;
    expect(Object.keys(data).sort()).toEqual(['amountDue', 'cardLast4', 'dpd', 'dueDate']);
    // A field the chosen template requires is still a 422 naming it.
    const missing = await postJson(api.baseUrl, '/v1/notifications', {
      ...body,
      caseId: 'C-auto-missing',
      data: { amountDue: '1.00', dueDate: '2026-11-01' },
    });
    expect(missing.status).toBe(422);
    expect(problemFields(missing)).toContain('data.cardLast4');
  });
});
