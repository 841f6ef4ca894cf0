import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { PostalAddress } from '#libs/core';
import { ProviderError } from '#libs/core';
import type { NormalisedReceipt, OutboundMessage } from '#libs/channels';
// The post adapters are not in the #libs/channels index yet (the lead wires them).
import { PrintVendorProvider, type WebhookVerification } from '#libs/channels';
import { PrintVendorEmulator, s10TrackingNumber } from './print-vendor.js';

const API_KEY = 'sk_test_print_123';
const SECRET = 'whsec_print_456';

interface Received {
  verification: WebhookVerification;
  receipts: NormalisedReceipt[];
}

/** The service side of the webhook: verify with the adapter, then parse. */
class WebhookReceiver {
  readonly received: Received[] = [];
  url = '';
  private server: http.Server;

  constructor(private readonly adapter: PrintVendorProvider) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const verification = this.adapter.verifyWebhook(req.headers, raw);
        const receipts = verification.ok ? this.adapter.parseReceipts(JSON.parse(raw.toString('utf8'))) : [];
        this.received.push({ verification, receipts });
        res.writeHead(verification.ok ? 200 : 401).end();
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/print-vendor`;
    return this.url;
  }

  stop(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  receipts(notificationId: string): NormalisedReceipt[] {
    return this.received.flatMap((x) => x.receipts).filter((r) => r.notificationId === notificationId);
  }
}

const ADDRESS: PostalAddress = {
  country: 'CN',
  province: '江苏省',
  city: '南京市',
  district: '鼓楼区',
  street: '中山路1号',
  postcode: '210008',
};

let seq = 0;
function letterMessage(postcode = '210008', id = `notif-${++seq}`): OutboundMessage {
  const pdf = Buffer.from(`%PDF-1.7\n% demand letter ${id}\n%%EOF\n`);
  return {
    notificationId: id,
    channel: 'letter',
    to: 'postal-key',
    webhookBaseUrl: receiver.url.replace(/\/print-vendor$/, ''),
    letter: {
      documentId: `DOC-${id}`,
      pdf,
      pdfSha256: createHash('sha256').update(pdf).digest('hex'),
      recipientName: '赵六',
      address: { ...ADDRESS, postcode },
      service: 'registered',
    },
  };
}

async function sendError(p: PrintVendorProvider, m: OutboundMessage): Promise<ProviderError> {
  try {
    await p.send(m);
  } catch (err) {
    if (err instanceof ProviderError) return err;
    throw err;
  }
  throw new Error('send did not fail');
}

let emulator: PrintVendorEmulator;
let adapter: PrintVendorProvider;
let receiver: WebhookReceiver;
let baseUrl: string;

beforeAll(async () => {
  emulator = new PrintVendorEmulator({
    apiKey: API_KEY,
    webhookSecret: SECRET,
    postcodeOutcomes: {
      '210001': { type: 'returned', returnReason: 'refused' },
      '210002': { type: 'returned', returnReason: 'unclaimed' },
    },
  });
  baseUrl = await emulator.start();
  adapter = new PrintVendorProvider({
    apiBaseUrl: baseUrl,
    apiKey: API_KEY,
    timeoutMs: 2000,
    webhookSecret: SECRET,
  });
  receiver = new WebhookReceiver(adapter);
  await receiver.start();
});

afterEach(async () => {
  await emulator.idle();
});

afterAll(async () => {
  await emulator.stop();
  await receiver.stop();
});

describe('PrintVendorProvider against the emulator', () => {
  it('sends a registered letter and gets verified webhooks up to delivered with the signer', async () => {
    const m = letterMessage();
    const res = await adapter.send(m);
    await emulator.idle();
    const stored = emulator.letter(res.providerMessageId)!;
    expect(stored).toMatchObject({
      reference: m.notificationId,
      documentId: m.letter!.documentId,
      service: 'registered',
      recipient: {
        name: '赵六',
        addressLines: ['江苏省南京市鼓楼区', '中山路1号'],
        postcode: '210008',
        country: 'CN',
      },
    });
    expect(emulator.pdf(res.providerMessageId)!.equals(m.letter!.pdf)).toBe(true);
    const receipts = receiver.receipts(m.notificationId);
    expect(receipts.map((r) => [r.providerStatus, r.outcome, r.postEvent ?? null, r.signer ?? null])).toEqual(
      [
        ['printed', 'queued', 'printed', null],
        ['mailed', 'sent', 'mailed', null],
        ['in_transit', 'sent', 'in_transit', null],
        ['delivered', 'delivered', null, '赵六'],
      ],
    );
    expect(receipts.every((r) => r.providerMessageId === res.providerMessageId && !r.sandbox)).toBe(true);
    expect(await adapter.poll(res.providerMessageId, m)).toMatchObject({
      outcome: 'delivered',
      signer: '赵六',
    });
  });

  it('a repeated send with the same notification id returns the same letter (one letter)', async () => {
    const before = { creates: emulator.createCount, letters: emulator.letterCount };
    const m = letterMessage();
    const a = await adapter.send(m);
    const b = await adapter.send(m);
    expect(b.providerMessageId).toBe(a.providerMessageId);
    expect(b.raw).toMatchObject({ idempotentReplayed: true });
    expect(emulator.createCount - before.creates).toBe(2);
    expect(emulator.letterCount - before.letters).toBe(1);
  });

  it('keeps refused and unclaimed returns distinct', async () => {
    const refused = letterMessage('210001');
    const unclaimed = letterMessage('210002');
    await adapter.send(refused);
    await adapter.send(unclaimed);
    await emulator.idle();
    const last = (id: string) => receiver.receipts(id).at(-1);
    expect(last(refused.notificationId)).toMatchObject({
      outcome: 'undelivered',
      postEvent: 'returned',
      returnReason: 'refused',
    });
    expect(last(unclaimed.notificationId)).toMatchObject({ returnReason: 'unclaimed' });
  });

  it('5xx and 429 are retryable with the HTTP status; the retry makes exactly one letter', async () => {
    const before = emulator.letterCount;
    const m = letterMessage();
    emulator.failNext(2, 503);
    for (let i = 0; i < 2; i++) {
      const err = await sendError(adapter, m);
      expect([err.retryable, err.extra.httpStatus]).toEqual([true, 503]);
    }
    emulator.failNext(1, 429);
    expect((await sendError(adapter, m)).extra).toMatchObject({ httpStatus: 429, retryAfterMs: 1000 });
    await adapter.send(m);
    expect(emulator.letterCount - before).toBe(1);
  });

  it('a timeout is ambiguous (httpStatus null); findSent finds the letter and a resend does not duplicate it', async () => {
    const quick = new PrintVendorProvider({ apiBaseUrl: baseUrl, apiKey: API_KEY, timeoutMs: 150 });
    const before = emulator.letterCount;
    const m = letterMessage();
    emulator.hang(1);
    const err = await sendError(quick, m);
    expect(err).toMatchObject({
      retryable: true,
      extra: { httpStatus: null, ambiguous: true, providerCode: 'timeout' },
    });
    const found = await quick.findSent(m, new Date(Date.now() - 60_000));
    expect(found?.providerMessageId).toMatch(/^ltr_/);
    const resent = await quick.send(m);
    expect(resent.providerMessageId).toBe(found?.providerMessageId);
    expect(emulator.letterCount - before).toBe(1);
    expect(await quick.findSent(letterMessage(), new Date())).toBeNull();
  });

  it('a wrong API key is a final 401', async () => {
    const bad = new PrintVendorProvider({ apiBaseUrl: baseUrl, apiKey: 'nope', timeoutMs: 1000 });
    const err = await sendError(bad, letterMessage());
    expect([err.retryable, err.extra.httpStatus, err.extra.providerCode]).toEqual([
      false,
      401,
      'unauthenticated',
    ]);
  });

  it('connection refused is retryable with httpStatus null', async () => {
    const dead = new PrintVendorProvider({
      apiBaseUrl: 'http://127.0.0.1:1',
      apiKey: API_KEY,
      timeoutMs: 1000,
    });
    const err = await sendError(dead, letterMessage());
    expect(err).toMatchObject({ retryable: true, extra: { httpStatus: null } });
  });

  it('the receiver verifies redeliveries and rejects tampered and stale webhooks', async () => {
    const m = letterMessage();
    const res = await adapter.send(m);
    await emulator.idle();
    const event = emulator.letter(res.providerMessageId)!.events[0]!;
    const post = async (headers: Record<string, string>, body: string) => {
      const r = await fetch(receiver.url, { method: 'POST', headers, body });
      return { status: r.status, verification: receiver.received.at(-1)!.verification };
    };
    // A redelivery verifies (with the same event id): the service's receipts dedup key makes it a no-op.
    const replay = emulator.signedWebhook(event);
    expect(await post(replay.headers, replay.body)).toMatchObject({
      status: 200,
      verification: { ok: true, eventId: event.id },
    });
    const fresh = { ...event, id: 'evt_new_1', type: 'delivered', signer: '冒名者' };
    const signed = emulator.signedWebhook(fresh);
    expect(await post(signed.headers, signed.body.replace('冒名者', '赵六'))).toMatchObject({
      status: 401,
      verification: { reason: 'bad_signature' },
    });
    const stale = emulator.signedWebhook(fresh, Math.floor(Date.now() / 1000) - 301);
    expect(await post(stale.headers, stale.body)).toMatchObject({
      status: 401,
      verification: { reason: 'stale' },
    });
    // The genuine event is still accepted once (the rejections did not burn its id).
    expect(await post(signed.headers, signed.body)).toMatchObject({
      status: 200,
      verification: { ok: true },
    });
  });

  it('emit posts arbitrary events; unknown ones normalise to unknown', async () => {
    const m = letterMessage();
    const res = await adapter.send(m);
    await emulator.idle();
    const deliveries = await emulator.emit(res.providerMessageId, ['lost_in_sorting']);
    expect(deliveries[0]).toMatchObject({ ok: true, httpStatus: 200, attempts: 1 });
    expect(receiver.receipts(m.notificationId).at(-1)).toMatchObject({
      outcome: 'unknown',
      providerStatus: 'lost_in_sorting',
    });
  });
});

describe('s10TrackingNumber', () => {
  it('computes the UPU S10 check digit', () => {
    // 47312482 -> weighted sum 4*8+7*6+3*4+1*2+2*3+4*5+8*9+2*7 = 200, 11 - 200 % 11 = 9
    expect(s10TrackingNumber(47312482)).toBe('RR473124829CN');
  });
});
