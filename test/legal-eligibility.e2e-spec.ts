import { afterAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { EvidenceService, type JsonValue } from '#libs/evidence';
import { TwilioEmulator } from './emulators/twilio.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { ACCOUNT_SID, AUTH_HEADER, AUTH_TOKEN, smsBody } from './support/fixtures.js';
import { freePort, waitFor } from './support/infra.js';

/**
 * Acceptance (4): legal-action eligibility. The same case is built twice: once with real (Twilio
 * emulator, signed callbacks) delivery receipts, once on the sandbox provider. The first is eligible
 * and names the proving seqs; the second is not, because sandbox receipts never count as proof.
 *
 * The SMS templates do not carry `lastPaymentDate`; the pre-litigation letter does. Letters are being
 * wired into the pipeline separately, so the letter's acceptance is written here directly through
 * EvidenceService.append, exactly as the pipeline records a `notification.accepted`.
 */
const CASE_ID = 'C-eligible-0001';

interface Report {
  eligible: boolean;
  criteria: {
    id: string;
    met: boolean;
    value: number | null;
    source: string | null;
    evidenceSeqs: number[];
    reason: string;
    sandboxOnly?: number;
  }[];
}

async function buildCase(baseUrl: string, api: InProcessApp): Promise<string[]> {
  const ids: string[] = [];
  for (const phone of ['+8613800138021', '+8613800138022']) {
    const res = await postJson(baseUrl, '/v1/notifications', smsBody(CASE_ID, phone), AUTH_HEADER);
    expect(res.status).toBe(202);
    ids.push(res.body.id as string);
  }
  for (const id of ids) {
    await waitFor(`${id} delivered`, async () => {
      const v = (await (
        await fetch(`${baseUrl}/v1/notifications/${id}`, { headers: AUTH_HEADER })
      ).json()) as {
        status: string;
      };
      return v.status === 'delivered';
    });
  }
  const request = {
    caseId: CASE_ID,
    channel: 'letter',
    templateKey: 'legal.letter.pre_litigation',
    locale: 'zh-CN',
    recipient: { role: 'debtor', name: '张三' },
    data: {
      outstandingBalance: '45210.05',
      principal: '38000.00',
      interestAndFees: '7210.05',
      balanceAsOf: '2026-11-20',
      cardLast4: '1234',
      overdueSince: '2026-05-25',
      dpd: 183,
      repayBy: '2026-12-10',
      lastPaymentDate: '2026-04-20',
    },
  } as unknown as JsonValue;
  await api.db.transaction((tx) =>
    api.app
      .get(EvidenceService)
      .append(tx, CASE_ID, [
        { notificationId: randomUUID(), type: 'notification.accepted', payload: { request } },
      ]),
  );
  return ids;
}

async function eligibility(baseUrl: string): Promise<Report> {
  const res = await fetch(`${baseUrl}/v1/cases/${CASE_ID}/legal-eligibility`, { headers: AUTH_HEADER });
  expect(res.status).toBe(200);
  return (await res.json()) as Report;
}

describe('legal-action eligibility from the evidence', () => {
  let emulator: TwilioEmulator | undefined;
  const apps: InProcessApp[] = [];
  afterAll(async () => {
    for (const a of apps) await a.close();
    await emulator?.stop();
  });

  it('real (Twilio) delivery receipts: eligible, with the proving seqs', async () => {
    emulator = new TwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    const emulatorUrl = await emulator.start();
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const api = await startInProcess({
      dialect: 'postgres',
      env: {
        PORT: String(port),
        PUBLIC_BASE_URL: baseUrl,
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_FROM: '+15005550006',
        TWILIO_API_BASE_URL: emulatorUrl,
      },
    });
    apps.push(api);
    await buildCase(baseUrl, api);
    const r = await eligibility(baseUrl);
    expect(r.eligible).toBe(true);
    const [principal, delivered, months] = r.criteria;
    expect(principal).toMatchObject({ met: true, value: 38000, source: 'data.principal' });
    expect(delivered).toMatchObject({ met: true, value: 2, sandboxOnly: 0 });
    expect(months).toMatchObject({ met: true, value: 7, source: 'data.lastPaymentDate' });

    // Every proving seq is a real event of the chain: delivered receipts that are not sandbox.
    const { events } = (await (
      await fetch(`${baseUrl}/v1/cases/${CASE_ID}/evidence`, { headers: AUTH_HEADER })
    ).json()) as { events: { seq: number; type: string; payload: Record<string, unknown> }[] };
    const bySeq = new Map(events.map((e) => [e.seq, e]));
    const receipts = delivered.evidenceSeqs
      .map((s) => bySeq.get(s))
      .filter((e) => e?.type === 'receipt.received');
    expect(receipts).toHaveLength(2);
    for (const e of receipts) expect(e?.payload).toMatchObject({ outcome: 'delivered', sandbox: false });
    expect(bySeq.get(principal.evidenceSeqs[0])?.type).toBe('notification.accepted');
    expect(bySeq.get(months.evidenceSeqs[0])?.type).toBe('notification.accepted');
  }, 90_000);

  it('the same case with only sandbox receipts is not eligible, and says why', async () => {
    const api = await startInProcess({ dialect: 'sqlite' });
    apps.push(api);
    await buildCase(api.baseUrl, api);
    const r = await eligibility(api.baseUrl);
    expect(r.eligible).toBe(false);
    const [principal, delivered, months] = r.criteria;
    expect(principal.met).toBe(true);
    expect(months.met).toBe(true);
    expect(delivered).toMatchObject({ met: false, value: 0, sandboxOnly: 2, evidenceSeqs: [] });
    expect(delivered.reason).toMatch(/sandbox receipts, which never count as proof/);
  }, 60_000);
});
