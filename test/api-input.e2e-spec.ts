import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TwilioEmulator } from './emulators/twilio.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { ACCOUNT_SID, AUTH_TOKEN, smsBody } from './support/fixtures.js';

/** Acceptance: bad input gets a 4xx problem+json naming the field; nothing stored, nothing sent. */
describe('bad input on POST /v1/notifications', () => {
  let api: InProcessApp;
  let emulator: TwilioEmulator;

  beforeAll(async () => {
    emulator = new TwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    const url = await emulator.start();
    api = await startInProcess({
      dialect: 'sqlite',
      env: {
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_FROM: '+15005550006',
        TWILIO_API_BASE_URL: url,
        MAX_BODY_BYTES: '16384',
      },
    });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
    await emulator?.stop();
  });

  const good = smsBody('C-input-1', '+8613800138000');
  const cases: [string, unknown, number, string[]][] = [
    ['missing fields', { channel: 'sms' }, 400, ['caseId', 'templateKey', 'recipient', 'data']],
    [
      'invalid phone',
      { ...good, recipient: { ...good.recipient, phone: '12345' } },
      400,
      ['recipient.phone'],
    ],
    ['unknown template', { ...good, templateKey: 'early.sms.nope' }, 422, ['templateKey']],
    [
      'missing template variable',
      { ...good, data: { amountDue: '1.00', dueDate: '2026-11-01', dpd: 3 } },
      422,
      ['data.cardLast4'],
    ],
    [
      'wrong types',
      {
        ...good,
        caseId: 42,
        data: { amountDue: 12.5, dueDate: '2026-11-01', cardLast4: '1234', dpd: 'three' },
      },
      400,
      ['caseId'],
    ],
    [
      'wrong types in template data',
      { ...good, data: { amountDue: 12.5, dueDate: 'soon', cardLast4: '12345', dpd: 'three' } },
      422,
      ['data.amountDue', 'data.dueDate', 'data.cardLast4', 'data.dpd'],
    ],
    ['unknown field', { ...good, chanel: 'sms' }, 400, ['chanel']],
    [
      'bad time zone',
      { ...good, recipient: { ...good.recipient, timeZone: 'Mars/Base' } },
      400,
      ['recipient.timeZone'],
    ],
    [
      'sms without a phone',
      { ...good, recipient: { role: 'debtor', name: '张三' } },
      400,
      ['recipient.phone'],
    ],
    ['template for another channel', { ...good, channel: 'email' }, 400, ['templateKey']],
  ];

  it.each(cases)('%s', async (_name, body, status, paths) => {
    const res = await postJson(api.baseUrl, '/v1/notifications', body, {
      'idempotency-key': `bad-${_name.replace(/ /g, '-')}`,
    });
    expect(res.status).toBe(status);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.status).toBe(status);
    expect(typeof res.body.type).toBe('string');
    const errors = (res.body.errors ?? []) as { path: string }[];
    for (const p of paths) expect(errors.map((e) => e.path)).toContain(p);
  });

  it('oversized and malformed bodies', async () => {
    const big = { ...good, data: { ...good.data, filler: 'x'.repeat(20_000) } };
    const res = await postJson(api.baseUrl, '/v1/notifications', big);
    expect(res.status).toBe(413);
    expect(res.type).toContain('application/problem+json');
    const bad = await postJson(api.baseUrl, '/v1/notifications', '{"caseId": ');
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    const key = await postJson(api.baseUrl, '/v1/notifications', good, { 'idempotency-key': 'é'.repeat(3) });
    expect(key.status).toBe(400);
  });

  it('stored nothing and sent nothing', async () => {
    const [n] = await api.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM notifications');
    const [e] = await api.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM evidence_events');
    expect(Number(n.n)).toBe(0);
    expect(Number(e.n)).toBe(0);
    expect(emulator.createCount).toBe(0);
  });

  it('unknown notification ids and routes answer problem+json', async () => {
    const r1 = await fetch(`${api.baseUrl}/v1/notifications/00000000-0000-4000-8000-000000000000`);
    expect(r1.status).toBe(404);
    expect(r1.headers.get('content-type')).toContain('application/problem+json');
    const r2 = await fetch(`${api.baseUrl}/v1/notifications/not-a-uuid`);
    expect(r2.status).toBe(400);
    expect(r2.headers.get('content-type')).toContain('application/problem+json');
  });
});
