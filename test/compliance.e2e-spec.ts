import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '#libs/core';
import { Sweeper } from '#libs/notifications';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { phoneFor, smsBody, type Stack, startStack, statusCounts } from './support/fixtures.js';
import { pool, waitFor } from './support/infra.js';

interface View {
  id: string;
  status: string;
  notBefore: string | null;
  statusReason: string | null;
  compliance: { phase: string; outcome: string; ruleId: string | null; until: string | null } | null;
  events: { type: string; occurredAt: string; payload: Record<string, unknown> }[];
}

async function view(api: InProcessApp, id: string): Promise<View> {
  return (await (await fetch(`${api.baseUrl}/v1/notifications/${id}`)).json()) as View;
}

async function untilStatus(api: InProcessApp, id: string, status: string): Promise<View> {
  return waitFor(`${id} ${status}`, async () => {
    const v = await view(api, id);
    return v.status === status ? v : undefined;
  });
}

describe('contact window with a controlled clock', () => {
  let api: InProcessApp | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('cn: accepted at 22:30 Beijing, sent at 08:00 the next morning, deferral and rule in the evidence', async () => {
    const clock = new ManualClock(new Date('2026-11-24T14:30:00.000Z')); // 22:30 Asia/Shanghai
    api = await startInProcess({ dialect: 'sqlite', clock });
    const res = await postJson(api.baseUrl, '/v1/notifications', smsBody('C-window-cn', '+8613800138001'));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'scheduled', notBefore: '2026-11-25T00:00:00.000Z' });
    expect(res.body.compliance).toMatchObject({
      outcome: 'defer',
      ruleId: 'cn.contact-window',
      until: '2026-11-25T00:00:00.000Z',
    });
    const id = res.body.id as string;

    await api.app.get(Sweeper).sweep();
    expect((await view(api, id)).status).toBe('scheduled'); // still night: nothing goes out

    clock.set(new Date('2026-11-25T00:00:00.000Z')); // 08:00 Beijing
    await api.app.get(Sweeper).sweep();
    const done = await untilStatus(api, id, 'delivered');
    const request = done.events.find((e) => e.type === 'provider.request');
    expect(request?.occurredAt).toBe('2026-11-25T00:00:00.000Z');
    const decisions = done.events.filter((e) => e.type === 'compliance.decision').map((e) => e.payload);
    expect(decisions[0]).toMatchObject({ phase: 'accept', outcome: 'defer', ruleId: 'cn.contact-window' });
    expect(decisions.at(-1)).toMatchObject({ phase: 'send', outcome: 'allow' });
  }, 30_000);

  it('us-regf: accepted at 21:30 New York, waits for 08:00 there', async () => {
    const clock = new ManualClock(new Date('2026-11-25T02:30:00.000Z')); // 21:30 America/New_York (EST)
    api = await startInProcess({ dialect: 'sqlite', clock, env: { COMPLIANCE_PROFILE: 'us-regf' } });
    const body = smsBody('C-window-us', '+12125550123', 'en');
    body.recipient.timeZone = 'America/New_York';
    const res = await postJson(api.baseUrl, '/v1/notifications', body);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'scheduled', notBefore: '2026-11-25T13:00:00.000Z' });
    expect(res.body.compliance).toMatchObject({ ruleId: 'us-regf.contact-window' });
    clock.set(new Date('2026-11-25T12:59:00.000Z'));
    await api.app.get(Sweeper).sweep();
    expect((await view(api, res.body.id as string)).status).toBe('scheduled');
    clock.set(new Date('2026-11-25T13:00:00.000Z'));
    await api.app.get(Sweeper).sweep();
    await untilStatus(api, res.body.id as string, 'delivered');
  }, 30_000);
});

describe('case holds, audience', () => {
  let api: InProcessApp;
  const clock = new ManualClock(new Date('2026-11-24T14:30:00.000Z')); // night: notices wait

  beforeAll(async () => {
    api = await startInProcess({ dialect: 'postgres', clock });
  }, 30_000);
  afterAll(async () => {
    await api?.close();
  });

  it('a hold cancels pending notices, refuses new ones with 409, and release resumes them', async () => {
    const caseId = 'C-hold-1';
    const ids: string[] = [];
    for (const phone of ['+8613800138101', '+8613800138102']) {
      const res = await postJson(api.baseUrl, '/v1/notifications', smsBody(caseId, phone));
      expect(res.body.status).toBe('scheduled');
      ids.push(res.body.id as string);
    }
    const put = await fetch(`${api.baseUrl}/v1/cases/${caseId}/hold`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'dispute', reason: 'cardholder disputes a charge' }),
    });
    expect(put.status).toBe(200);
    const placed = (await put.json()) as { hold: { kind: string }; notifications: string[] };
    expect(placed.hold.kind).toBe('dispute');
    expect(placed.notifications.sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const v = await view(api, id);
      expect(v.status).toBe('cancelled');
      expect(v.statusReason).toContain('hold.dispute');
    }

    const refused = await postJson(api.baseUrl, '/v1/notifications', smsBody(caseId, '+8613800138103'));
    expect(refused.status).toBe(409);
    expect(refused.type).toContain('application/problem+json');
    expect(refused.body).toMatchObject({ code: 'case_on_hold', ruleId: 'hold.dispute', hold: 'dispute' });
    const [count] = await api.db.rows<{ n: number }>(
      'SELECT COUNT(*) AS n FROM notifications WHERE case_id = ?',
      [caseId],
    );
    expect(Number(count.n)).toBe(2);

    const del = await fetch(`${api.baseUrl}/v1/cases/${caseId}/hold?kind=dispute`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    for (const id of ids) expect((await view(api, id)).status).toBe('scheduled');

    clock.set(new Date('2026-11-25T00:05:00.000Z')); // morning: policy resumes
    await api.app.get(Sweeper).sweep();
    for (const id of ids) {
      const v = await untilStatus(api, id, 'delivered');
      const changes = v.events.filter((e) => e.type === 'status.changed').map((e) => e.payload.to);
      // Resumed notices pass the gate again: at night that is one more deferral, in the morning the send.
      expect(changes.slice(0, 3)).toEqual(['scheduled', 'cancelled', 'scheduled']);
      expect(changes.slice(-3)).toEqual(['sending', 'sent', 'delivered']);
      expect(new Set(changes.slice(3, -3))).toEqual(new Set(changes.length > 6 ? ['scheduled'] : []));
    }
    const evidence = (await (await fetch(`${api.baseUrl}/v1/cases/${caseId}/evidence`)).json()) as {
      verification: { ok: boolean };
      events: { type: string }[];
    };
    expect(evidence.verification.ok).toBe(true);
    expect(evidence.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['case.hold.placed', 'case.hold.released']),
    );
  }, 30_000);

  it('a third-party contact with a debtor template is refused with the audience rule id', async () => {
    const body = smsBody('C-aud-1', '+8613800138201');
    body.recipient.role = 'contact';
    const res = await postJson(api.baseUrl, '/v1/notifications', body);
    expect(res.status).toBe(422);
    expect(res.type).toContain('application/problem+json');
    expect(res.body).toMatchObject({ code: 'compliance_refused', ruleId: 'audience.third-party-template' });
    const [count] = await api.db.rows<{ n: number }>(
      "SELECT COUNT(*) AS n FROM notifications WHERE case_id = 'C-aud-1'",
    );
    expect(Number(count.n)).toBe(0);
  });

  it('an opted-out number is suppressed with the rule id in the status and the evidence', async () => {
    const phone = '+8613800138301';
    const opt = await postJson(api.baseUrl, '/v1/opt-outs', { address: phone, channel: 'sms' });
    expect(opt.status).toBe(201);
    const res = await postJson(api.baseUrl, '/v1/notifications', smsBody('C-opt-1', phone));
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('suppressed');
    expect(res.body.statusReason).toContain('optout.sms');
    expect(res.body.compliance).toMatchObject({ outcome: 'suppress', ruleId: 'optout.sms' });
  });
});

describe('frequency caps under concurrency (queue mode, 2 workers)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ mode: 'queue', workers: 2 });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('20 concurrent notices for one recipient: exactly the daily cap is sent, the rest deferred', async () => {
    const phone = phoneFor(5_550_001);
    await pool(
      Array.from({ length: 20 }, (_, i) => i),
      20,
      async (i) => {
        const res = await stack.post(smsBody(`C-cap-${i}`, phone));
        expect(res.status).toBe(202);
      },
    );
    const counts = await waitFor(
      'sent or deferred',
      async () => {
        const c = await statusCounts(stack);
        return (c.delivered ?? 0) + (c.scheduled ?? 0) === 20 && !c.accepted && !c.sending && !c.sent
          ? c
          : undefined;
      },
      60_000,
      200,
    );
    expect(counts).toEqual({ delivered: 2, scheduled: 18 });
    expect(stack.emulator.createsByTo(phone)).toBe(2);
  }, 90_000);
});
