import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '#libs/core';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { waitFor } from './support/infra.js';
import { VOICE_FIRST_POLICY, voiceBody } from './support/voice.js';

interface Row {
  id: string;
  channel: string;
  status: string;
  status_reason: string | null;
  parent_id: string | null;
}

async function row(api: InProcessApp, id: string): Promise<Row> {
  const [r] = await api.db.rows<Row>(
    'SELECT id, channel, status, status_reason, parent_id FROM notifications WHERE id = ?',
    [id],
  );
  return r;
}

async function until(api: InProcessApp, id: string, statuses: string[]): Promise<Row> {
  return waitFor(
    `${id} in ${statuses.join('/')}`,
    async () => {
      const r = await row(api, id);
      return statuses.includes(r.status) ? r : undefined;
    },
    20_000,
  );
}

/** Issue 14 item 6: the voice channel as a plugin, in the sandbox (the Twilio suite is voice-twilio). */
describe('voice reminders (sandbox provider, Reg F profile)', () => {
  let api: InProcessApp;

  beforeAll(async () => {
    api = await startInProcess({
      dialect: 'sqlite',
      env: { COMPLIANCE_PROFILE: 'us-regf', STAGE_POLICY: VOICE_FIRST_POLICY },
    });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
  });

  it('places a call that reads the template, stored as the TwiML it sent', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', voiceBody('C-voice-1', '+8613911110001'));
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    expect(await until(api, id, ['delivered', 'undelivered', 'failed'])).toMatchObject({
      status: 'delivered',
    });
    const [ev] = await api.db.rows<{ payload: string }>(
      "SELECT payload FROM evidence_events WHERE notification_id = ? AND type = 'message.rendered'",
      [id],
    );
    const rendered = JSON.parse(ev.payload) as { sha256: string; mediaType: string };
    expect(rendered.mediaType).toBe('application/xml; charset=utf-8');
    const [artifact] = await api.db.rows<{ content: Buffer }>(
      'SELECT content FROM artifacts WHERE sha256 = ?',
      [rendered.sha256],
    );
    const twiml = Buffer.from(artifact.content).toString('utf8');
    expect(twiml).toContain(
      '<Say voice="Polly.Zhiyu" language="cmn-CN">张三您好，这里是示例银行信用卡中心。',
    );
    // A call says nothing about the debt: anyone may answer.
    expect(twiml).not.toMatch(/3,280|逾期|欠款/);
  });

  it('escalates a call nobody answered to the stage’s SMS', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', voiceBody('C-voice-2', '+8613922220000'));
    const id = res.body.id as string;
    expect(await until(api, id, ['undelivered'])).toMatchObject({ channel: 'voice' });
    const child = await waitFor(
      'an SMS after the unanswered call',
      async () => {
        const [c] = await api.db.rows<Row>(
          'SELECT id, channel, status, status_reason, parent_id FROM notifications WHERE parent_id = ?',
          [id],
        );
        return c;
      },
      20_000,
    );
    expect(child).toMatchObject({ channel: 'sms', parent_id: id });
    const [started] = await api.db.rows<{ payload: string }>(
      "SELECT payload FROM evidence_events WHERE notification_id = ? AND type = 'escalation.started'",
      [id],
    );
    expect(JSON.parse(started.payload)).toMatchObject({ from: 'voice', channel: 'sms', childId: child.id });
  });

  it('caps calls at 7 in 7 days per number (Reg F): the 8th waits', async () => {
    const phone = '+14155550177';
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await postJson(api.baseUrl, '/v1/notifications', {
        ...voiceBody(`C-voice-cap-${i}`, phone, 'en'),
        recipient: { role: 'debtor', name: 'Sam Lee', phone, timeZone: 'America/Los_Angeles' },
      });
      expect(res.status).toBe(202);
      ids.push(res.body.id as string);
      // One at a time: each call is counted before the next is decided.
      if (i < 7) await until(api, ids[i], ['delivered']);
    }
    const last = await waitFor(
      'the 8th call decided',
      async () => {
        const r = await row(api, ids[7]);
        return r.status === 'scheduled' && r.status_reason ? r : undefined;
      },
      10_000,
    );
    expect(last.status_reason).toMatch(/^us-regf\.freq\.voice\.7d: deferred/);
    const [{ n }] = await api.db.rows<{ n: number }>(
      "SELECT COUNT(*) AS n FROM notifications WHERE recipient_address = ? AND status = 'delivered'",
      [phone],
    );
    expect(Number(n)).toBe(7);
  });
});

describe('voice reminders under the cn profile', () => {
  let api: InProcessApp;
  const clock = new ManualClock(new Date('2026-11-24T15:00:00.000Z')); // 23:00 in Beijing

  beforeAll(async () => {
    api = await startInProcess({ dialect: 'sqlite', clock, env: { STAGE_POLICY: VOICE_FIRST_POLICY } });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
  });

  it('never calls at night: the call waits for 08:00 in the recipient’s zone', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', voiceBody('C-voice-cn-1', '+8613933330001'));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'scheduled', notBefore: '2026-11-25T00:00:00.000Z' });
    const [ev] = await api.db.rows<{ payload: string }>(
      "SELECT payload FROM evidence_events WHERE notification_id = ? AND type = 'compliance.decision'",
      [res.body.id],
    );
    expect(JSON.parse(ev.payload)).toMatchObject({ outcome: 'defer' });
    expect(ev.payload).toContain('window');
  });
});
