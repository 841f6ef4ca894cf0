import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProviderError } from '#libs/core';
import type { InboundRequest, InboundResult } from '../../libs/channels/src/inbound.js';
import type { OutboundMessage } from '../../libs/channels/src/provider.js';
import { AliyunSmsProvider, type AliyunSmsSettings } from '../../libs/channels/src/sms/aliyun/index.js';
import { startAliyunSmsEmulator, type AliyunSmsEmulator } from './aliyun-sms.js';

const AK = 'LTAI5tEmulatorKeyId0001';
const SECRET = 'emulator-access-key-secret-0001';
const TOKEN = 'report-token-7f3a9c';
const SIGN = '某某银行';
const TEMPLATES = {
  SMS_100000001: '尊敬的${name}，您的账户已逾期${amount}元，请于${date}前还款。',
  SMS_100000002: '您的还款提醒：${amount}元。',
};
const FAIL = '13900000002';

/** The service's ingress in miniature: a Node request -> InboundRequest -> provider.receive -> reply. */
class ReportReceiver {
  readonly results: InboundResult[] = [];
  base = '';
  private readonly server: http.Server;

  constructor(private readonly provider: () => AliyunSmsProvider) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.handle(req, Buffer.concat(chunks)).then((r) => {
          this.results.push(r);
          if (r.ok) {
            const reply =
              typeof r.reply === 'function'
                ? r.reply({ received: r.receipts.length, matched: 0, replays: 0 })
                : r.reply;
            res
              .writeHead(reply.status, { 'content-type': 'application/json' })
              .end(JSON.stringify(reply.body));
          } else res.writeHead(r.status).end(r.reason);
        });
      });
    });
  }

  private async handle(req: http.IncomingMessage, body: Buffer): Promise<InboundResult> {
    const url = new URL(req.url ?? '/', this.base);
    const inbound: InboundRequest = {
      url: url.toString(),
      headers: req.headers,
      query: Object.fromEntries(url.searchParams),
      body,
      contentType: String(req.headers['content-type'] ?? '')
        .split(';')[0]
        .trim()
        .toLowerCase(),
      now: new Date(),
    };
    return this.provider().receive(inbound);
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  receiptsFor(notificationId: string) {
    return this.results
      .flatMap((r) => (r.ok ? r.receipts : []))
      .filter((x) => x.notificationId === notificationId);
  }
}

function message(
  to: string,
  over: Partial<{ templateCode: string; signName: string; params: [string, string][] }> = {},
): OutboundMessage {
  const params = over.params ?? [
    ['name', '张三'],
    ['amount', "1,250.00 (含罚息)*'!~+%"],
    ['date', '2026年12月20日'],
  ];
  return {
    notificationId: randomUUID(),
    channel: 'sms',
    to,
    webhookBaseUrl: 'http://unused.invalid/webhooks',
    sms: {
      body: 'ignored by Aliyun',
      registered: {
        aliyun: {
          kind: 'aliyun',
          templateCode: over.templateCode ?? 'SMS_100000001',
          signName: over.signName ?? SIGN,
          params: params.map(([name, value]) => ({ name, value })),
          text: 'unused',
        },
      },
    },
  };
}

async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

describe('AliyunSmsProvider (official dysmsapi SDK) against the Aliyun SMS emulator', () => {
  let emulator: AliyunSmsEmulator;
  let provider: AliyunSmsProvider;
  const receiver = new ReportReceiver(() => provider);
  const settings = (over: Partial<AliyunSmsSettings> = {}): AliyunSmsSettings => ({
    accessKeyId: AK,
    accessKeySecret: SECRET,
    endpoint: emulator.endpoint,
    protocol: 'http',
    callbackToken: TOKEN,
    timeoutMs: 3000,
    ...over,
  });

  beforeAll(async () => {
    await receiver.start();
    emulator = await startAliyunSmsEmulator({
      accessKeyId: AK,
      accessKeySecret: SECRET,
      signs: [SIGN],
      templates: TEMPLATES,
      failNumbers: { [FAIL]: 'MK:0001' },
      reportUrl: `${receiver.base}/webhooks/aliyun?token=${TOKEN}`,
      reportRetryBaseMs: 5,
    });
    provider = new AliyunSmsProvider(settings());
  });

  afterAll(async () => {
    await emulator.stop();
    await receiver.stop();
  });

  it('sends a registered template; the pushed SmsReport becomes a delivered receipt', async () => {
    const m = message('+8613800000001');
    const sent = await provider.send(m);
    expect(sent.providerMessageId).toMatch(/^\d{18}\^0$/);
    expect(sent.request).toEqual({
      to: '+8613800000001',
      templateCode: 'SMS_100000001',
      signName: SIGN,
      params: [
        { name: 'name', value: '张三' },
        { name: 'amount', value: "1,250.00 (含罚息)*'!~+%" },
        { name: 'date', value: '2026年12月20日' },
      ],
      outId: m.notificationId,
      endpoint: emulator.endpoint,
    });
    expect(JSON.stringify(sent.request)).not.toContain(SECRET);
    expect(sent.raw).toMatchObject({ code: 'OK', bizId: sent.providerMessageId });

    const [stored] = emulator.messages({ outId: m.notificationId });
    expect(stored.phoneNumber).toBe('13800000001');
    expect(stored.text).toBe(
      "【某某银行】尊敬的张三，您的账户已逾期1,250.00 (含罚息)*'!~+%元，请于2026年12月20日前还款。",
    );

    await emulator.idle(5000);
    const receipts = receiver.receiptsFor(m.notificationId);
    expect(receipts).toHaveLength(1);
    const r = receipts[0];
    expect(r).toMatchObject({
      provider: 'aliyun',
      providerMessageId: sent.providerMessageId,
      notificationId: m.notificationId,
      outcome: 'delivered',
      providerStatus: 'DELIVERED',
      sandbox: false,
    });
    expect(r.errorCode).toBeUndefined();
    expect(r.dedupKey).toMatch(
      new RegExp(`^aliyun:${sent.providerMessageId.replace('^', '\\^')}:[0-9a-f]{64}$`),
    );
    // report_time has one-second precision in Asia/Shanghai.
    expect(Math.abs(r.occurredAt.getTime() - Date.now())).toBeLessThan(5000);
    expect(r.raw).toMatchObject({ biz_id: sent.providerMessageId, out_id: m.notificationId, success: true });
    const push = emulator.reports().find((p) => JSON.stringify(p.items).includes(m.notificationId));
    expect(push).toMatchObject({ ok: true, attempts: 1, httpStatus: 200 });
  });

  it('reports a failed handset delivery as undelivered with the err_code', async () => {
    const m = message(`+86${FAIL}`);
    await provider.send(m);
    await emulator.idle(5000);
    const [r] = receiver.receiptsFor(m.notificationId);
    expect(r).toMatchObject({ outcome: 'undelivered', errorCode: 'MK:0001', providerStatus: 'MK:0001' });
  });

  it('sends international numbers as 00<cc><number>', async () => {
    const m = message('+85291234567');
    await provider.send(m);
    expect(emulator.messages({ outId: m.notificationId })[0].phoneNumber).toBe('0085291234567');
    await emulator.idle(5000);
  });

  it('refuses pushes without the token or with a wrong one (401), and the emulator keeps retrying', async () => {
    const body = JSON.stringify([
      {
        phone_number: '13800000001',
        send_time: '2026-12-04 10:00:00',
        report_time: '2026-12-04 10:00:05',
        success: true,
        err_code: 'DELIVERED',
        err_msg: '用户接收成功',
        sms_size: '1',
        biz_id: '123456789012345678^0',
        out_id: randomUUID(),
      },
    ]);
    for (const path of ['/webhooks/aliyun', `/webhooks/aliyun?token=${TOKEN}x`, '/webhooks/aliyun?token=']) {
      const res = await fetch(`${receiver.base}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(401);
    }
    const ok = await fetch(`${receiver.base}/webhooks/aliyun?token=${TOKEN}`, { method: 'POST', body });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ code: 0, msg: '接收成功' });
    const bad = await fetch(`${receiver.base}/webhooks/aliyun?token=${TOKEN}`, {
      method: 'POST',
      body: '{"biz_id":"1"}',
    });
    expect(bad.status).toBe(400);

    // A report URL configured without the token: every push is refused, retried, and given up.
    emulator.setReportUrl(`${receiver.base}/webhooks/aliyun`);
    try {
      const m = message('+8613800000003');
      await provider.send(m);
      await emulator.idle(5000);
      const push = emulator.reports().find((p) => JSON.stringify(p.items).includes(m.notificationId));
      expect(push).toMatchObject({ ok: false, attempts: 4, httpStatus: 401 });
      expect(receiver.receiptsFor(m.notificationId)).toEqual([]);
    } finally {
      emulator.setReportUrl(`${receiver.base}/webhooks/aliyun?token=${TOKEN}`);
    }
  });

  it("refuses a wrong secret (the emulator's ACS3 signature check) and an unknown key", async () => {
    const before = emulator.messages().length;
    const wrongSecret = new AliyunSmsProvider(settings({ accessKeySecret: `${SECRET}x` }));
    const e1 = await providerError(wrongSecret.send(message('+8613800000004')));
    expect(e1.retryable).toBe(false);
    expect(e1.extra).toMatchObject({ httpStatus: 400, providerCode: 'SignatureDoesNotMatch' });
    expect(JSON.stringify(e1.extra.request)).not.toContain(SECRET);

    const wrongKey = new AliyunSmsProvider(settings({ accessKeyId: 'LTAI5tUnknown' }));
    const e2 = await providerError(wrongKey.send(message('+8613800000004')));
    expect(e2.retryable).toBe(false);
    expect(e2.extra).toMatchObject({ httpStatus: 404, providerCode: 'InvalidAccessKeyId.NotFound' });
    expect(emulator.messages().length).toBe(before);
  });

  it('maps flow control and 5xx to retryable errors with the HTTP status set', async () => {
    emulator.throttleNext(1);
    const e = await providerError(provider.send(message('+8613800000005')));
    expect(e.retryable).toBe(true);
    expect(e.extra).toMatchObject({ httpStatus: 200, providerCode: 'isv.BUSINESS_LIMIT_CONTROL' });

    emulator.rejectNext(1, {
      httpStatus: 503,
      code: 'ServiceUnavailable',
      message: 'The request has failed due to a temporary failure of the server.',
    });
    const e5 = await providerError(provider.send(message('+8613800000005')));
    expect(e5.retryable).toBe(true);
    expect(e5.extra).toMatchObject({ httpStatus: 503, providerCode: 'ServiceUnavailable' });

    emulator.rejectNext(1, {
      httpStatus: 400,
      code: 'Throttling.User',
      message: 'Request was denied due to user flow control.',
    });
    const et = await providerError(provider.send(message('+8613800000005')));
    expect(et.retryable).toBe(true);
    expect(et.extra).toMatchObject({ httpStatus: 400, providerCode: 'Throttling.User' });

    // The throttle is consumed: the next send goes through.
    await expect(provider.send(message('+8613800000005'))).resolves.toMatchObject({ raw: { code: 'OK' } });
    await emulator.idle(5000);
  });

  it.each([
    [{ templateCode: 'SMS_999' }, 'isv.SMS_TEMPLATE_ILLEGAL'],
    [{ signName: '未报备签名' }, 'isv.SMS_SIGNATURE_ILLEGAL'],
    [{ params: [['name', '张三']] as [string, string][] }, 'isv.TEMPLATE_MISSING_PARAMETERS'],
    [
      {
        params: [
          ['name', '张'.repeat(36)],
          ['amount', '1'],
          ['date', 'x'],
        ] as [string, string][],
      },
      'isv.PARAM_LENGTH_LIMIT',
    ],
  ])('refuses a bad registration %j with %s (not retryable)', async (over, code) => {
    const e = await providerError(provider.send(message('+8613800000006', over)));
    expect(e.retryable).toBe(false);
    expect(e.extra).toMatchObject({ httpStatus: 200, providerCode: code });
  });

  it('refuses a message without an Aliyun registration before calling the API', async () => {
    const calls = emulator.calls().length;
    const m = message('+8613800000007');
    delete m.sms?.registered?.aliyun;
    const e = await providerError(provider.send(m));
    expect(e.retryable).toBe(false);
    expect(e.extra.providerCode).toBe('registration_missing');
    expect(e.message).toContain('registered');
    expect(emulator.calls().length).toBe(calls);
  });

  it('reports a refused connection as surely not sent (httpStatus 0) and a timeout as ambiguous (null)', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = new AliyunSmsProvider(settings({ endpoint: `127.0.0.1:${port}` }));
    const e = await providerError(refused.send(message('+8613800000008')));
    expect(e.retryable).toBe(true);
    expect(e.extra).toMatchObject({ httpStatus: 0, providerCode: 'ECONNREFUSED' });

    emulator.hangNext(1, 'stored');
    const slow = new AliyunSmsProvider(settings({ timeoutMs: 300 }));
    const m = message('+8613800000008');
    const t = await providerError(slow.send(m));
    expect(t.retryable).toBe(true);
    expect(t.extra.httpStatus).toBeNull();
    // The request did reach Aliyun: reconciliation finds it.
    await expect(provider.findSent(m, new Date(Date.now() - 60_000))).resolves.toMatchObject({
      providerMessageId: `outid:${m.notificationId}`,
    });
    // A request lost on the way (never stored): also a timeout, and reconciliation finds nothing.
    emulator.hangNext(1, 'lost');
    const lost = message('+8613800000009');
    const l = await providerError(slow.send(lost));
    expect([l.retryable, l.extra.httpStatus]).toEqual([true, null]);
    await expect(provider.findSent(lost, new Date(Date.now() - 60_000))).resolves.toBeNull();
    await emulator.idle(5000);
  });

  describe('poll and findSent (reports not pushed)', () => {
    let quiet: AliyunSmsEmulator;
    let p: AliyunSmsProvider;

    beforeAll(async () => {
      quiet = await startAliyunSmsEmulator({
        accessKeyId: AK,
        accessKeySecret: SECRET,
        signs: [SIGN],
        templates: TEMPLATES,
        failNumbers: { [FAIL]: { errCode: 'IS:0001', errMsg: '空号' } },
        reportDelayMs: 400,
        dropReports: true,
      });
      p = new AliyunSmsProvider(settings({ endpoint: quiet.endpoint }));
    });

    afterAll(async () => {
      await quiet.stop();
    });

    it('polls sent (waiting for the handset), then delivered or undelivered', async () => {
      const ok = message('+8613800000011');
      const bad = message(`+86${FAIL}`);
      const a = await p.send(ok);
      const b = await p.send(bad);
      await expect(p.poll(a.providerMessageId, ok)).resolves.toMatchObject({
        provider: 'aliyun',
        providerMessageId: a.providerMessageId,
        notificationId: ok.notificationId,
        outcome: 'sent',
        raw: { polled: true, sendStatus: 1 },
      });
      await quiet.idle(5000);
      expect(quiet.reports()).toEqual([]);
      const delivered = await p.poll(a.providerMessageId, ok);
      expect(delivered).toMatchObject({
        outcome: 'delivered',
        providerStatus: 'DELIVERED',
        raw: { polled: true },
      });
      expect(Math.abs((delivered?.occurredAt.getTime() ?? 0) - Date.now())).toBeLessThan(5000);
      await expect(p.poll(b.providerMessageId, bad)).resolves.toMatchObject({
        outcome: 'undelivered',
        errorCode: 'IS:0001',
      });
      // Another account's (or an unknown) BizId: null, so failover asks the other provider.
      await expect(p.poll('999999999999999999^0', ok)).resolves.toBeNull();
    });

    it('findSent matches OutId among the phone messages of the day, poll follows its reference', async () => {
      const m = message('+8613800000012');
      const other = message('+8613800000012', { templateCode: 'SMS_100000002', params: [['amount', '9']] });
      await p.send(other);
      await p.send(m);
      const found = await p.findSent(m, new Date(Date.now() - 60_000));
      expect(found).toMatchObject({
        providerMessageId: `outid:${m.notificationId}`,
        request: { reconciledBy: 'QuerySendDetails', outId: m.notificationId },
        raw: { outId: m.notificationId, templateCode: 'SMS_100000001' },
      });
      await quiet.idle(5000);
      await expect(p.poll(found?.providerMessageId ?? '', m)).resolves.toMatchObject({
        outcome: 'delivered',
        notificationId: m.notificationId,
      });
      const never = message('+8613800000012');
      await expect(p.findSent(never, new Date(Date.now() - 60_000))).resolves.toBeNull();
      await expect(
        p.findSent(message('+8613800000013'), new Date(Date.now() - 3 * 86_400_000)),
      ).resolves.toBeNull();
    });
  });
});
