import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TwilioEmulator } from './emulators/twilio.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { ACCOUNT_SID, AUTH_TOKEN } from './support/fixtures.js';
import { waitFor } from './support/infra.js';
import { VOICE_FIRST_POLICY, voiceBody } from './support/voice.js';

const ANSWERS = '+8613955550001';
const NO_ANSWER = '+8613955550002';
const MACHINE = '+8613955550003';

interface Row {
  id: string;
  channel: string;
  status: string;
  provider: string | null;
  provider_message_id: string | null;
  status_reason: string | null;
}

/**
 * Issue 14 item 6 through Twilio Programmable Voice (official client against the emulator):
 * status callbacks signed and verified at /webhooks/twilio-voice; no answer -> SMS.
 */
describe('voice reminders through Twilio', () => {
  let twilio: TwilioEmulator;
  let api: InProcessApp;

  beforeAll(async () => {
    twilio = new TwilioEmulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      callOutcomes: { [NO_ANSWER]: 'no-answer', [MACHINE]: 'machine' },
    });
    const url = await twilio.start();
    api = await startInProcess({
      dialect: 'sqlite',
      env: {
        STAGE_POLICY: VOICE_FIRST_POLICY,
        SMS_PROVIDER: 'twilio',
        VOICE_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_FROM: '+15005550006',
        TWILIO_VOICE_FROM: '+15005550008',
        TWILIO_API_BASE_URL: url,
      },
    });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
    await twilio?.stop();
  });

  async function final(id: string): Promise<Row> {
    return waitFor(
      `${id} final`,
      async () => {
        const [r] = await api.db.rows<Row>(
          'SELECT id, channel, status, provider, provider_message_id, status_reason FROM notifications WHERE id = ?',
          [id],
        );
        return ['delivered', 'undelivered', 'failed'].includes(r.status) ? r : undefined;
      },
      20_000,
    );
  }

  async function receipts(id: string) {
    const rows = await api.db.rows<{ payload: string }>(
      "SELECT payload FROM evidence_events WHERE notification_id = ? AND type = 'receipt.received' ORDER BY seq",
      [id],
    );
    return rows.map(
      (r) => JSON.parse(r.payload) as { providerStatus: string; verification: { signature?: string } },
    );
  }

  it('an answered call is delivered by its signed status callbacks; Twilio got the stored TwiML', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', voiceBody('C-tv-1', ANSWERS));
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    const row = await final(id);
    expect(row).toMatchObject({ status: 'delivered', provider: 'twilio-voice' });
    const call = twilio.call(row.provider_message_id!);
    const [ev] = await api.db.rows<{ payload: string }>(
      "SELECT payload FROM evidence_events WHERE notification_id = ? AND type = 'message.rendered'",
      [id],
    );
    const { sha256 } = JSON.parse(ev.payload) as { sha256: string };
    const [artifact] = await api.db.rows<{ content: Buffer }>(
      'SELECT content FROM artifacts WHERE sha256 = ?',
      [sha256],
    );
    expect(call?.twiml).toBe(Buffer.from(artifact.content).toString('utf8'));
    const seen = await receipts(id);
    expect(seen.map((r) => r.providerStatus)).toContain('completed');
    for (const r of seen) expect(r.verification.signature).toBe('X-Twilio-Signature');
  });

  it('a forged call callback is refused', async () => {
    const res = await fetch(`${api.baseUrl}/webhooks/twilio-voice?nid=x`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'AAAA' },
      body: new URLSearchParams({ CallSid: 'CA' + '0'.repeat(32), CallStatus: 'completed' }).toString(),
    });
    expect(res.status).toBe(403);
  });

  it('no answer: undelivered, then the SMS of the stage goes out', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', voiceBody('C-tv-2', NO_ANSWER));
    const id = res.body.id as string;
    expect(await final(id)).toMatchObject({
      status: 'undelivered',
      status_reason: 'provider error no-answer',
    });
    const child = await waitFor(
      'the SMS child',
      async () => {
        const [c] = await api.db.rows<Row>(
          'SELECT id, channel, status, provider, provider_message_id, status_reason FROM notifications WHERE parent_id = ?',
          [id],
        );
        return c;
      },
      20_000,
    );
    expect(child.channel).toBe('sms');
    expect(await final(child.id)).toMatchObject({ status: 'delivered', provider: 'twilio' });
    expect(twilio.createsByTo(NO_ANSWER)).toBe(1);
  });

  it('an answering machine is not proof: undelivered', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', voiceBody('C-tv-3', MACHINE));
    expect(await final(res.body.id as string)).toMatchObject({ status: 'undelivered' });
  });
});
