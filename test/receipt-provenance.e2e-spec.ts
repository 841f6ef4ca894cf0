/**
 * Receipt provenance and replays (issue 12, items 1 and 2), on both dialects: a receipt that
 * names one of our ids is applied only when it comes from the provider the notification was given
 * to; every inbound provider event is stored once (its dedup key, in the receipt's transaction);
 * a failed ingest leaves nothing claimed, so the vendor's redelivery is applied.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import twilio from 'twilio';
import { signEmailEvent } from '#libs/channels';
import type { Clock } from '#libs/core';
import { ReceiptsService } from '#libs/notifications';
import { PrintVendorEmulator } from './emulators/print-vendor.js';
import { TwilioEmulator } from './emulators/twilio.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import {
  ACCOUNT_SID,
  ADDRESS,
  AUTH_TOKEN,
  DAYTIME,
  LETTER_DATA,
  phoneFor,
  smsBody,
} from './support/fixtures.js';
import { waitFor } from './support/infra.js';

const EMAIL_SECRET = 'email-webhook-secret-for-tests';
const VENDOR_SECRET = 'print-vendor-webhook-secret-0001';

interface Ev {
  type: string;
  payload: Record<string, unknown>;
}
interface View {
  id: string;
  status: string;
  providerMessageId: string | null;
  events: Ev[];
}

/** Real-speed clock that a test can move forward (the service, the vendor and the test share it). */
class ShiftClock implements Clock {
  private offset: number;
  constructor(start: Date) {
    this.offset = start.getTime() - Date.now();
  }
  now(): Date {
    return new Date(Date.now() + this.offset);
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

describe.each(['sqlite', 'postgres'] as const)('receipt provenance and replays (%s)', (dialect) => {
  const clock = new ShiftClock(new Date(DAYTIME));
  const undeliveredPhone = phoneFor(9_001);
  const parkedPhone = phoneFor(9_003);
  let sms: TwilioEmulator;
  let vendor: PrintVendorEmulator;
  let api: InProcessApp;

  const view = async (id: string) =>
    (await (await fetch(`${api.baseUrl}/v1/notifications/${id}`)).json()) as View;
  const until = (id: string, ok: (v: View) => boolean, what: string) =>
    waitFor(
      what,
      async () => {
        const v = await view(id);
        return ok(v) ? v : undefined;
      },
      20_000,
    );
  const create = async (body: object) => {
    const res = await postJson(api.baseUrl, '/v1/notifications', body);
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  /** An email notice, once the SMTP sandbox has it. */
  const sentEmail = async (tag: string, local: string) => {
    const id = await create({
      caseId: `C-${tag}-${dialect}`,
      channel: 'email',
      templateKey: 'late.email.demand_copy',
      locale: 'zh-CN',
      recipient: {
        role: 'debtor',
        name: '张三',
        email: `${local}-${dialect}@example.com`,
        address: ADDRESS,
        timeZone: 'Asia/Shanghai',
      },
      data: LETTER_DATA,
    });
    await until(id, (x) => x.providerMessageId !== null && x.status !== 'sending', 'email sent');
    return id;
  };
  const postEmailEvents = (events: object[], at = clock.now()) => {
    const body = JSON.stringify(events);
    const ts = String(Math.floor(at.getTime() / 1000));
    return fetch(`${api.baseUrl}/webhooks/email/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-email-timestamp': ts,
        'x-email-signature': signEmailEvent(EMAIL_SECRET, ts, body),
      },
      body,
    });
  };
  const postTwilio = (nid: string, params: Record<string, string>) => {
    const url = `${api.baseUrl}/webhooks/twilio/status?nid=${nid}`;
    return fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
  };
  const postVendor = (event: Parameters<PrintVendorEmulator['signedWebhook']>[0]) => {
    const w = vendor.signedWebhook(event);
    return fetch(`${api.baseUrl}/webhooks/post/events`, { method: 'POST', headers: w.headers, body: w.body });
  };
  const receiptCount = async (sql: string, params: unknown[]) =>
    Number(
      (
        await api.db.rows<{ n: number | string }>(`SELECT COUNT(*) AS n FROM receipts WHERE ${sql}`, params)
      )[0].n,
    );

  beforeAll(async () => {
    sms = new TwilioEmulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      failNumbers: { [undeliveredPhone]: 'undelivered', [parkedPhone]: 'undelivered' },
      // Keeps a notification without its provider id for a while: receipts naming it are parked.
      createResponseDelayMs: 1_500,
    });
    const smsUrl = await sms.start();
    vendor = new PrintVendorEmulator({
      apiKey: 'vendor-api-key',
      webhookSecret: VENDOR_SECRET,
      now: () => clock.now().getTime(),
    });
    const vendorUrl = await vendor.start();
    api = await startInProcess({
      dialect,
      clock,
      env: {
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_FROM: '+15005550006',
        TWILIO_API_BASE_URL: smsUrl,
        EMAIL_WEBHOOK_SECRET: EMAIL_SECRET,
        LETTER_PROVIDER: 'print-vendor',
        PRINT_VENDOR_URL: vendorUrl,
        PRINT_VENDOR_API_KEY: 'vendor-api-key',
        PRINT_VENDOR_WEBHOOK_SECRET: VENDOR_SECRET,
      },
    });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    await sms?.stop();
    await vendor?.stop();
  });

  it('a signed email event naming an SMS id is refused: the SMS stays as Twilio left it', async () => {
    const id = await create(smsBody(`C-prov-${dialect}`, undeliveredPhone));
    const before = await until(id, (v) => v.status === 'undelivered', 'sms undelivered');
    const res = await postEmailEvents([
      {
        id: `ev-forged-${dialect}`,
        type: 'delivered',
        timestamp: clock.now().toISOString(),
        notificationId: id,
      },
    ]);
    expect(res.status).toBe(200);
    const after = await view(id);
    expect(after.status).toBe('undelivered');
    const refused = after.events.filter((e) => e.type === 'receipt.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0].payload.reason).toMatch(/twilio/);
    expect(refused[0].payload.provider).not.toBe('twilio');
    expect(after.events.filter((e) => e.type === 'receipt.received')).toHaveLength(
      before.events.filter((e) => e.type === 'receipt.received').length,
    );
    expect(after.events.some((e) => e.type === 'status.changed' && e.payload.to === 'delivered')).toBe(false);
    const [row] = await api.db.rows<{ refused_reason: string | null; applied: number }>(
      'SELECT refused_reason, applied FROM receipts WHERE dedup_key LIKE ?',
      [`%:event:ev-forged-${dialect}`],
    );
    expect(row.refused_reason).toBe(refused[0].payload.reason);
    expect(Number(row.applied)).toBe(0);
  }, 40_000);

  it('a parked email event naming an SMS is refused when the SMS provider id is stored', async () => {
    const id = await create(smsBody(`C-park-${dialect}`, parkedPhone));
    // Before Twilio has answered the create, the row has no provider: the event is parked.
    const early = await view(id);
    expect(early.providerMessageId).toBeNull();
    const evId = `ev-parked-${dialect}`;
    const res = await postEmailEvents([
      { id: evId, type: 'delivered', timestamp: clock.now().toISOString(), notificationId: id },
    ]);
    expect(res.status).toBe(200);
    const v = await until(id, (x) => x.status === 'undelivered', 'parked sms undelivered');
    expect(v.events.some((e) => e.type === 'status.changed' && e.payload.to === 'delivered')).toBe(false);
    const refused = v.events.filter((e) => e.type === 'receipt.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0].payload.reason).toMatch(/twilio/);
    const [row] = await api.db.rows<{ refused_reason: string | null; applied: number }>(
      'SELECT refused_reason, applied FROM receipts WHERE dedup_key LIKE ?',
      [`%:event:${evId}`],
    );
    expect(row.refused_reason).toBe(refused[0].payload.reason);
    expect(Number(row.applied)).toBe(0);
  }, 40_000);

  it('10 replays of a Twilio callback add one receipt and one receipt.received', async () => {
    const id = await create(smsBody(`C-tw-${dialect}`, phoneFor(9_002)));
    const v = await until(id, (x) => x.status === 'delivered', 'sms delivered');
    const sid = v.providerMessageId!;
    const params = { AccountSid: ACCOUNT_SID, MessageSid: sid, MessageStatus: 'read', To: phoneFor(9_002) };
    const before = (await view(id)).events.filter((e) => e.type === 'receipt.received').length;
    const beforeRows = await receiptCount('provider_message_id = ?', [sid]);
    for (let i = 0; i < 10; i++) expect((await postTwilio(id, params)).status).toBe(204);
    const after = (await view(id)).events.filter((e) => e.type === 'receipt.received');
    expect(after.length - before).toBe(1);
    expect((await receiptCount('provider_message_id = ?', [sid])) - beforeRows).toBe(1);
  }, 40_000);

  it('10 replays of a signed email event add one receipt and one receipt.received', async () => {
    const id = await sentEmail('em', 'r');
    const eventId = `ev-replay-${dialect}`;
    const event = { id: eventId, type: 'opened', timestamp: clock.now().toISOString(), notificationId: id };
    for (let i = 0; i < 10; i++) expect((await postEmailEvents([event])).status).toBe(200);
    const got = (await view(id)).events.filter(
      (e) => e.type === 'receipt.received' && (e.payload.raw as { eventId?: string }).eventId === eventId,
    );
    expect(got).toHaveLength(1);
    expect(await receiptCount('dedup_key LIKE ?', [`%:event:${eventId}`])).toBe(1);
  }, 40_000);

  it('10 replays of a print-vendor event add one receipt; a failed ingest is applied on redelivery', async () => {
    const id = await create({
      caseId: `C-pv-${dialect}`,
      channel: 'letter',
      templateKey: 'late.letter.demand',
      recipient: { role: 'debtor', name: '张三', address: ADDRESS, timeZone: 'Asia/Shanghai' },
      data: LETTER_DATA,
    });
    await until(id, (x) => x.status === 'delivered', 'letter delivered');
    const letter = vendor.listLetters().find((l) => l.reference === id)!;
    const event = (evId: string, type: string) => ({
      id: evId,
      type,
      letterId: letter.id,
      reference: letter.reference,
      documentId: letter.documentId,
      occurredAt: clock.now().toISOString(),
      trackingNumber: 'RR473124899CN',
      signer: null,
      returnReason: null,
      detail: null,
      livemode: true,
    });
    const received = async (evId: string) =>
      (await view(id)).events.filter(
        (e) => e.type === 'receipt.received' && (e.payload.raw as { id?: string }).id === evId,
      ).length;

    const replayed = `evt_replay_${dialect}`;
    for (let i = 0; i < 10; i++) expect((await postVendor(event(replayed, 'in_transit'))).status).toBe(200);
    expect(await received(replayed)).toBe(1);
    expect(await receiptCount('dedup_key LIKE ?', [`%:event:${replayed}`])).toBe(1);

    // A real database error on the first attempt (a trigger the test installs, not a mock).
    const failing = `evt_fail_${dialect}`;
    if (dialect === 'postgres') {
      await api.db.exec(`CREATE FUNCTION test_fail_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.body LIKE '%${failing}%' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`);
      await api.db.exec(
        'CREATE TRIGGER test_fail_receipt BEFORE INSERT ON receipts FOR EACH ROW EXECUTE FUNCTION test_fail_receipt()',
      );
    } else {
      await api.db.exec(`CREATE TRIGGER test_fail_receipt BEFORE INSERT ON receipts
        WHEN NEW.body LIKE '%${failing}%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    }
    const first = await postVendor(event(failing, 'in_transit'));
    expect(first.status).toBeGreaterThanOrEqual(500);
    expect(await received(failing)).toBe(0);
    await api.db.exec(
      dialect === 'postgres'
        ? 'DROP TRIGGER test_fail_receipt ON receipts'
        : 'DROP TRIGGER test_fail_receipt',
    );
    if (dialect === 'postgres') await api.db.exec('DROP FUNCTION test_fail_receipt()');
    const retry = await postVendor(event(failing, 'in_transit'));
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as { replay?: boolean }).replay).toBeUndefined();
    expect(await received(failing)).toBe(1);
    expect(await receiptCount('dedup_key LIKE ?', [`%:event:${failing}`])).toBe(1);
  }, 60_000);

  // Last: it moves the shared clock 8 days forward.
  it('timestamp-signed dedup keys are released after their retention; a late replay is stale', async () => {
    const id = await sentEmail('prune', 'p');
    const eventId = `ev-prune-${dialect}`;
    const signedAt = clock.now();
    const event = { id: eventId, type: 'opened', timestamp: signedAt.toISOString(), notificationId: id };
    expect((await postEmailEvents([event], signedAt)).status).toBe(200);
    const receipts = api.app.get(ReceiptsService);
    const twilioKeys = await receiptCount('dedup_key LIKE ?', ['twilio:%']);
    expect(twilioKeys).toBeGreaterThan(0);
    const keyed = () => receiptCount('dedup_key LIKE ?', [`%:event:${eventId}`]);

    // Inside the retry window (and the configured 7 days) nothing is released.
    clock.advance(6 * 86_400_000);
    await receipts.pruneDedupKeys();
    expect(await keyed()).toBe(1);
    clock.advance(2 * 86_400_000);
    expect(await receipts.pruneDedupKeys()).toBeGreaterThan(0);
    expect(await keyed()).toBe(0);
    // The receipt itself is kept, and keys without a signed timestamp (Twilio) are never released.
    expect(await receiptCount('body LIKE ?', [`%${eventId}%`])).toBe(1);
    expect(await receiptCount('dedup_key LIKE ?', ['twilio:%'])).toBe(twilioKeys);
    // The captured request, replayed now, fails its signature's timestamp: nothing is added.
    const late = await postEmailEvents([event], signedAt);
    expect(late.status).toBe(403);
    expect(await receiptCount('body LIKE ?', [`%${eventId}%`])).toBe(1);
  }, 40_000);
});
