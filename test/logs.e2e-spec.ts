import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AUTH_HEADER, type Stack, startStack, statusCounts } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

/** Acceptance (3): notices full of personal data; none of it in the logs (at LOG_LEVEL=trace). */

const PHONE = '+8613912345678';
const PHONE_LOCAL = '13912345678';
const EMAIL = 'li.lei.private@example.com';
const CARD = '6222021234567890123';
const ID_NUMBER = '11010519491231002X';
const STREET = '世纪大道1088号2栋301室';
const EN_STREET = '221B Baker Street';
const SECRETS = [
  PHONE,
  PHONE_LOCAL,
  '139-1234-5678',
  EMAIL,
  CARD,
  '6222 0212 3456 7890 123',
  ID_NUMBER,
  STREET,
  EN_STREET,
];

function body(i: number, over: Record<string, unknown> = {}) {
  return {
    caseId: `C-logs-${i}`,
    channel: 'sms',
    templateKey: 'early.sms.reminder',
    locale: 'zh-CN',
    recipient: {
      role: 'debtor',
      name: '李雷',
      phone: PHONE.replace(/8$/, String(i % 10)),
      email: EMAIL,
      address: {
        country: 'CN',
        province: '上海市',
        city: '上海市',
        district: '浦东新区',
        street: STREET,
        postcode: '200120',
      },
      timeZone: 'Asia/Shanghai',
    },
    data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '0123', dpd: 22 },
    ...over,
  };
}

describe('logs carry no personal data', () => {
  let stack: Stack;
  const post = (payload: unknown, headers: Record<string, string> = AUTH_HEADER) =>
    fetch(`${stack.baseUrl}/v1/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  beforeAll(async () => {
    stack = await startStack({ mode: 'standalone', env: { LOG_LEVEL: 'trace' }, autoAuth: false });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('sends, fails and queries with personal data everywhere; the log has none of it', async () => {
    for (let i = 0; i < 5; i++)
      expect((await post(body(i), { ...AUTH_HEADER, 'idempotency-key': `logs-${i}` })).status).toBe(202);
    // Invalid input that carries personal data in the offending fields.
    expect(
      (
        await post(
          body(10, { recipient: { role: 'debtor', name: '李雷', phone: `${PHONE}99`, email: EMAIL } }),
        )
      ).status,
    ).toBe(400);
    expect(
      (await post(body(11, { data: { amountDue: CARD, dueDate: ID_NUMBER, cardLast4: EMAIL, dpd: PHONE } })))
        .status,
    ).toBeGreaterThanOrEqual(400);
    expect(
      (await post(`{"recipient": {"phone": "${PHONE}", "email": "${EMAIL}", "id": "${ID_NUMBER}"`)).status,
    ).toBe(400);
    expect((await post(body(12), {})).status).toBe(401);
    // Personal data in URLs and headers.
    const q = await fetch(
      `${stack.baseUrl}/v1/notifications?caseId=${PHONE_LOCAL}&email=${EMAIL}&card=${CARD}`,
      { headers: AUTH_HEADER },
    );
    expect(q.status).toBe(200);
    const p = await fetch(`${stack.baseUrl}/v1/notifications/${encodeURIComponent(ID_NUMBER)}`, {
      headers: AUTH_HEADER,
    });
    expect(p.status).toBe(400);
    const h = await fetch(`${stack.baseUrl}/v1/notifications/00000000-0000-4000-8000-000000000000`, {
      headers: { ...AUTH_HEADER, 'x-request-id': EMAIL },
    });
    expect(h.status).toBe(404);
    expect(h.headers.get('x-request-id')).not.toBe(EMAIL);
    const mine = await fetch(`${stack.baseUrl}/health/ready`, {
      headers: { 'x-request-id': 'trace-me-123' },
    });
    expect(mine.headers.get('x-request-id')).toBe('trace-me-123');
    // A forged webhook with personal data in its form fields.
    await fetch(`${stack.baseUrl}/webhooks/twilio/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        To: PHONE,
        From: PHONE,
        MessageStatus: 'delivered',
        Body: `card ${CARD}`,
      }).toString(),
    });

    await waitFor('delivered', async () => ((await statusCounts(stack)).delivered ?? 0) === 5, 30_000);
    expect(await stack.api.kill('SIGTERM')).toBe(0);

    const lines = readFileSync(stack.api.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(20);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const secret of SECRETS) {
      const hits = lines.filter((l) => l.includes(secret) || l.includes(JSON.stringify(secret).slice(1, -1)));
      expect([secret, hits]).toEqual([secret, []]);
    }
    // It was there and got scrubbed (the query string), and request ids tie lines together.
    const access = parsed.filter((o) => o.msg === 'request completed' || o.msg === 'request errored');
    expect(access.length).toBeGreaterThanOrEqual(10);
    const query = access.find((o) => String((o.req as { url: string }).url).startsWith('/v1/notifications?'));
    expect((query?.req as { url: string }).url).toContain('[number]');
    expect((query?.req as { url: string }).url).toContain('[email]');
    expect(access.every((o) => typeof o.reqId === 'string' && o.reqId === (o.req as { id: string }).id)).toBe(
      true,
    );
    expect(parsed.some((o) => o.reqId === 'trace-me-123')).toBe(true);
  }, 90_000);
});
