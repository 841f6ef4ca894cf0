import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TwilioEmulator } from './emulators/twilio.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { ACCOUNT_SID, AUTH_TOKEN, phoneFor, smsBody } from './support/fixtures.js';
import { pool, waitFor } from './support/infra.js';

const SECOND_SID = 'AC' + 'b2'.repeat(16);
const SECOND_TOKEN = 'second-auth-token-0123456789abcd';

/** Acceptance: with the primary SMS provider down, the secondary takes over once the breaker opens; no duplicates. */
describe('SMS provider failover with a circuit breaker', () => {
  let primary: TwilioEmulator;
  let secondary: TwilioEmulator;
  let api: InProcessApp;

  beforeAll(async () => {
    primary = new TwilioEmulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      rejectCreate: () => ({ status: 503, code: 20503, message: 'Service unavailable' }),
    });
    secondary = new TwilioEmulator({ accountSid: SECOND_SID, authToken: SECOND_TOKEN });
    const [p, s] = await Promise.all([primary.start(), secondary.start()]);
    api = await startInProcess({
      dialect: 'sqlite',
      env: {
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_FROM: '+15005550006',
        TWILIO_API_BASE_URL: p,
        TWILIO_SECONDARY_ACCOUNT_SID: SECOND_SID,
        TWILIO_SECONDARY_AUTH_TOKEN: SECOND_TOKEN,
        TWILIO_SECONDARY_FROM: '+15005550007',
        TWILIO_SECONDARY_API_BASE_URL: s,
        BREAKER_THRESHOLD: '3',
        BREAKER_COOLDOWN_MS: '60000',
        WORKER_CONCURRENCY: '1',
      },
    });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
    await primary?.stop();
    await secondary?.stop();
  });

  it('sends everything through the secondary after the breaker opens, each message once', async () => {
    const N = 12;
    const ids: string[] = [];
    await pool(
      Array.from({ length: N }, (_, i) => i),
      4,
      async (i) => {
        const res = await postJson(
          api.baseUrl,
          '/v1/notifications',
          smsBody(`C-fo-${i}`, phoneFor(300_000 + i)),
        );
        expect(res.status).toBe(202);
        ids.push(res.body.id as string);
      },
    );
    await waitFor(
      'all delivered',
      async () => {
        const [r] = await api.db.rows<{ n: number }>(
          "SELECT COUNT(*) AS n FROM notifications WHERE status = 'delivered'",
        );
        return Number(r.n) === N;
      },
      30_000,
    );
    // The primary refused exactly the attempts that opened the breaker and stored nothing.
    expect(primary.acceptedCount).toBe(0);
    expect(primary.createCount).toBe(3);
    // The secondary got every message exactly once.
    expect(secondary.acceptedCount).toBe(N);
    for (let i = 0; i < N; i++) expect(secondary.createsByTo(phoneFor(300_000 + i))).toBe(1);
    const rows = await api.db.rows<{ provider: string }>('SELECT DISTINCT provider FROM notifications');
    expect(rows.map((r) => r.provider)).toEqual(['twilio-secondary']);
    // Receipts of the secondary account were verified with its own auth token.
    const [receipts] = await api.db.rows<{ n: number }>(
      "SELECT COUNT(*) AS n FROM receipts WHERE provider = 'twilio-secondary' AND applied = 1",
    );
    expect(Number(receipts.n)).toBeGreaterThanOrEqual(N);
  }, 60_000);
});
