import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import twilio from 'twilio';
import {
  AUTH_TOKEN,
  phoneFor,
  smsBody,
  type Stack,
  startStack,
  statusCounts,
  sqlQuery,
} from './support/fixtures.js';
import { pool, waitFor } from './support/infra.js';

const N = Number(process.env.E2E_SMS_COUNT ?? 500);

describe.each(['queue', 'standalone'] as const)('SMS end to end (%s mode)', (mode) => {
  let stack: Stack;
  const ids: string[] = [];
  const undeliveredPhone = phoneFor(9_999_001);

  beforeAll(async () => {
    stack = await startStack({
      mode,
      workers: 2,
      emulator: { failNumbers: { [undeliveredPhone]: 'undelivered' } },
    });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it(`sends ${N} SMS through the official Twilio client; all reach delivered via signed callbacks`, async () => {
    const items = Array.from({ length: N }, (_, i) => i);
    await pool(items, 32, async (i) => {
      const res = await stack.post(smsBody(`C-${mode}-${i}`, phoneFor(i)), `k-${mode}-${i}`);
      expect(res.status).toBe(202);
      const body = (await res.json()) as { id: string; status: string };
      expect(body.status).toBe('accepted');
      ids.push(body.id);
    });
    expect(new Set(ids).size).toBe(N);
    const counts = await waitFor(
      `${N} delivered`,
      async () => {
        const c = await statusCounts(stack);
        return (c.delivered ?? 0) === N ? c : undefined;
      },
      120_000,
      250,
    );
    expect(counts).toEqual({ delivered: N });
    expect(stack.emulator.createCount).toBe(N);
    for (let i = 0; i < N; i += 97) expect(stack.emulator.createsByTo(phoneFor(i))).toBe(1);
  }, 180_000);

  it('shows status, pinned template and the ordered timeline; the case evidence verifies', async () => {
    const res = await fetch(`${stack.baseUrl}/v1/notifications/${ids[0]}`);
    expect(res.status).toBe(200);
    const n = (await res.json()) as {
      status: string;
      caseId: string;
      template: { key: string; version: number };
      providerMessageId: string;
      events: { seq: number; type: string; payload: Record<string, unknown> }[];
    };
    expect(n.status).toBe('delivered');
    expect(n.template).toMatchObject({ key: 'early.sms.reminder', version: 1 });
    expect(n.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    const types = n.events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual([
      'notification.accepted',
      'template.pinned',
      'compliance.decision',
      'status.changed',
    ]);
    const gate = n.events.filter((e) => e.type === 'compliance.decision').map((e) => e.payload);
    expect(gate.map((g) => [g.phase, g.outcome])).toEqual([
      ['accept', 'allow'],
      ['send', 'allow'],
    ]);
    expect(types).toContain('message.rendered');
    expect(types).toContain('provider.request');
    expect(types).toContain('provider.response');
    expect(types.filter((t) => t === 'receipt.received').length).toBeGreaterThanOrEqual(2);
    const seqs = n.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const changes = n.events.filter((e) => e.type === 'status.changed').map((e) => e.payload);
    // Every status the notice went through, each with its cause (the state machine's record).
    expect(changes.map((c) => [c.from, c.to, c.cause])).toEqual([
      [null, 'accepted', 'accept'],
      ['accepted', 'sending', 'claim'],
      ['sending', 'sent', 'provider'],
      ['sent', 'delivered', 'receipt'],
    ]);

    const ev = await fetch(`${stack.baseUrl}/v1/cases/${n.caseId}/evidence`);
    const body = (await ev.json()) as { verification: { ok: boolean; events: number }; events: unknown[] };
    expect(body.verification.ok).toBe(true);
    expect(body.verification.events).toBe(body.events.length);
  });

  it('marks a number the carrier cannot reach undelivered', async () => {
    const res = await stack.post(smsBody(`C-${mode}-undeliv`, undeliveredPhone));
    const { id } = (await res.json()) as { id: string };
    const n = await waitFor('undelivered', async () => {
      const r = (await (await fetch(`${stack.baseUrl}/v1/notifications/${id}`)).json()) as {
        status: string;
        statusReason: string;
      };
      return r.status === 'undelivered' ? r : undefined;
    });
    expect(n.statusReason).toContain('30003');
  }, 30_000);

  it('rejects a forged status callback with 403 and changes nothing', async () => {
    const [row] = await sqlQuery<{ provider_message_id: string; id: string }>(
      stack,
      'SELECT id, provider_message_id FROM notifications WHERE id = ?',
      [ids[1]],
    );
    await stack.emulator.idle(30_000);
    const countSql =
      'SELECT COUNT(*) AS n FROM receipts WHERE notification_id = ? OR provider_message_id = ?';
    const before = await sqlQuery<{ n: number }>(stack, countSql, [row.id, row.provider_message_id]);
    const url = `${stack.baseUrl}/webhooks/twilio/status?nid=${row.id}`;
    const params = { MessageSid: row.provider_message_id, MessageStatus: 'failed', ErrorCode: '30006' };
    const forged: Record<string, string>[] = [
      {}, // no signature
      { 'x-twilio-signature': twilio.getExpectedTwilioSignature('wrong-token-wrong-token', url, params) },
      // right token, tampered parameter
      {
        'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, {
          ...params,
          MessageStatus: 'delivered',
        }),
      },
    ];
    for (const headers of forged) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(params).toString(),
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    const after = await sqlQuery<{ n: number }>(stack, countSql, [row.id, row.provider_message_id]);
    expect(Number(after[0].n)).toBe(Number(before[0].n));
    const n = (await (await fetch(`${stack.baseUrl}/v1/notifications/${row.id}`)).json()) as {
      status: string;
    };
    expect(n.status).toBe('delivered');

    // The same callback correctly signed is accepted (and, being a regression, changes no status).
    const ok = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(ok.status).toBe(204);
    const n2 = (await (await fetch(`${stack.baseUrl}/v1/notifications/${row.id}`)).json()) as {
      status: string;
    };
    expect(n2.status).toBe('delivered');
  });

  it('idempotency: 50 concurrent POSTs with one key make one notification and one provider call', async () => {
    const phone = phoneFor(7_777_001);
    const body = smsBody(`C-${mode}-idem`, phone);
    const key = `idem-${mode}-${Date.now()}`;
    const answers = await Promise.all(Array.from({ length: 50 }, () => stack.post(body, key)));
    const ids2 = new Set<string>();
    for (const res of answers) {
      expect(res.status).toBe(202);
      ids2.add(((await res.json()) as { id: string }).id);
    }
    expect(ids2.size).toBe(1);
    const [id] = [...ids2];
    await waitFor('delivered', async () => {
      const r = (await (await fetch(`${stack.baseUrl}/v1/notifications/${id}`)).json()) as { status: string };
      return r.status === 'delivered';
    });
    expect(stack.emulator.createsByTo(phone)).toBe(1);
    const rows = await sqlQuery<{ n: number }>(
      stack,
      'SELECT COUNT(*) AS n FROM notifications WHERE case_id = ?',
      [`C-${mode}-idem`],
    );
    expect(Number(rows[0].n)).toBe(1);

    const other = await stack.post({ ...body, data: { ...body.data, amountDue: '1.00' } }, key);
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await other.json()) as { code: string };
    expect(problem.code).toBe('idempotency_conflict');
  }, 60_000);
});
