import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { InboundRequest, InboundResult, OutboundMessage } from '#libs/channels';
import { ProviderError } from '#libs/core';
import tencentcloud from 'tencentcloud-sdk-nodejs-sms';
import { TencentSmsProvider, type TencentSmsSettings } from '../../libs/channels/src/sms/tencent/index.js';
import { startTencentSmsEmulator, type TencentSmsEmulator } from './tencent-sms.js';

const SECRET_ID = 'AKIDemulator0000000000000000000000';
const SECRET_KEY = 'emulator-secret-key-0000000000';
const APP = '1400006666';
const TOKEN = 'callback-token-abc123';
const SIGN = '催收通知';
const TEMPLATE = '1234567';
const TEXT = '您尾号{1}的账户欠款{2}元，请于{3}前还款。';
const FAIL_TO = '+8613800000002';

/** The api's webhook ingress in miniature: records each report POST and answers with the provider. */
class ReportReceiver {
  readonly results: InboundResult[] = [];
  provider: TencentSmsProvider | undefined;
  base = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', this.base);
      const inbound: InboundRequest = {
        url: url.toString(),
        headers: req.headers,
        query: Object.fromEntries(url.searchParams),
        body: Buffer.concat(chunks),
        contentType: String(req.headers['content-type'] ?? '')
          .split(';')[0]
          .trim()
          .toLowerCase(),
        now: new Date(),
      };
      void this.provider!.receive(inbound).then((r) => {
        this.results.push(r);
        if (r.ok) {
          const reply =
            typeof r.reply === 'function'
              ? r.reply({ received: r.receipts.length, matched: 0, replays: 0 })
              : r.reply;
          res.writeHead(reply.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply.body));
        } else res.writeHead(r.status).end(r.reason);
      });
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function message(
  to: string,
  notificationId: string,
  values = ['8888', '1200.50', '12月31日'],
): OutboundMessage {
  return {
    notificationId,
    channel: 'sms',
    to,
    webhookBaseUrl: '',
    sms: {
      body: 'unused',
      registered: {
        tencent: {
          kind: 'tencent',
          templateCode: TEMPLATE,
          signName: SIGN,
          params: values.map((value, i) => ({ name: String(i + 1), value })),
          text: `【${SIGN}】...`,
        },
      },
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ProviderError) return e;
    throw e;
  }
  throw new Error('expected a ProviderError');
}

describe('TencentSmsProvider (official SDK) against the Tencent SMS emulator', () => {
  const receiver = new ReportReceiver();
  let emulator: TencentSmsEmulator;
  let settings: TencentSmsSettings;
  let provider: TencentSmsProvider;

  beforeAll(async () => {
    await receiver.start();
    emulator = await startTencentSmsEmulator({
      secretId: SECRET_ID,
      secretKey: SECRET_KEY,
      sdkAppId: APP,
      signs: [SIGN],
      templates: { [TEMPLATE]: TEXT },
      failNumbers: { [FAIL_TO]: { errmsg: 'MK:0001', description: '空号' } },
      reportUrl: `${receiver.base}/webhooks/tencent?token=${TOKEN}`,
      reportRetryBaseMs: 5,
    });
    settings = {
      secretId: SECRET_ID,
      secretKey: SECRET_KEY,
      sdkAppId: APP,
      endpoint: emulator.endpoint,
      protocol: 'http://',
      callbackToken: TOKEN,
      timeoutMs: 2000,
    };
    provider = new TencentSmsProvider(settings);
    receiver.provider = provider;
  });

  afterAll(async () => {
    await emulator.stop();
    await receiver.stop();
  });

  beforeEach(() => {
    emulator.setReportUrl(`${receiver.base}/webhooks/tencent?token=${TOKEN}`);
  });

  it('sends a registered template and normalises the pushed report', async () => {
    const to = '+8613800000001';
    const sent = await provider.send(message(to, 'ntf-1'));
    expect(sent.providerMessageId).toMatch(/^2028:\d+$/);
    expect(sent.request).toEqual({
      action: 'SendSms',
      phoneNumber: to,
      smsSdkAppId: APP,
      templateId: TEMPLATE,
      signName: SIGN,
      params: [
        { name: '1', value: '8888' },
        { name: '2', value: '1200.50' },
        { name: '3', value: '12月31日' },
      ],
      sessionContext: 'ntf-1',
    });
    expect(JSON.stringify(sent.request)).not.toContain(SECRET_KEY);
    const [m] = emulator.messages(to);
    expect(m.text).toBe('【催收通知】您尾号8888的账户欠款1200.50元，请于12月31日前还款。');
    expect(m.sessionContext).toBe('ntf-1');

    await emulator.idle(5000);
    const ok = receiver.results.filter((r) => r.ok);
    const receipt = ok
      .flatMap((r) => (r.ok ? r.receipts : []))
      .find((r) => r.providerMessageId === sent.providerMessageId);
    expect(receipt).toMatchObject({
      provider: 'tencent',
      notificationId: null,
      outcome: 'delivered',
      providerStatus: 'SUCCESS DELIVRD',
      sandbox: false,
    });
    expect(receipt!.dedupKey).toMatch(new RegExp(`^tencent:${sent.providerMessageId}:[0-9a-f]{64}$`));
    expect(Math.abs(receipt!.occurredAt.getTime() - Date.now())).toBeLessThan(10_000);
    expect(ok[0].ok && ok[0].verification).toEqual({
      verified: true,
      via: 'webhook',
      check: 'callback-token',
    });
    expect(emulator.messages(to)[0].pushes).toEqual([{ attempts: 1, httpStatus: 200, ok: true }]);
  });

  it('reports a FAIL as undelivered with the carrier error', async () => {
    const sent = await provider.send(message(FAIL_TO, 'ntf-2'));
    await emulator.idle(5000);
    const receipt = receiver.results
      .flatMap((r) => (r.ok ? r.receipts : []))
      .find((r) => r.providerMessageId === sent.providerMessageId);
    expect(receipt).toMatchObject({
      outcome: 'undelivered',
      errorCode: 'MK:0001',
      providerStatus: 'FAIL MK:0001',
    });
  });

  it('a report with no or a wrong token is refused with 401, and the emulator retries it', async () => {
    emulator.setReportUrl(`${receiver.base}/webhooks/tencent?token=wrong`);
    const before = receiver.results.length;
    await provider.send(message('+8613800000003', 'ntf-3'));
    await emulator.idle(5000);
    const got = receiver.results.slice(before);
    expect(got.length).toBe(4); // the first POST and 3 retries
    expect(got.every((r) => !r.ok && r.status === 401)).toBe(true);
    expect(emulator.messages('+8613800000003')[0].pushes).toEqual([
      { attempts: 4, httpStatus: 401, ok: false },
    ]);

    emulator.setReportUrl(`${receiver.base}/webhooks/tencent`);
    await provider.send(message('+8613800000004', 'ntf-4'));
    await emulator.idle(5000);
    expect(emulator.messages('+8613800000004')[0].pushes[0]).toMatchObject({ httpStatus: 401, ok: false });
  });

  it('a wrong secret key fails the signature check; an unknown SecretId is not found', async () => {
    const bad = new TencentSmsProvider({ ...settings, secretKey: 'not-the-key' });
    const e = await rejection(bad.send(message('+8613800000005', 'ntf-5')));
    expect(e.extra).toMatchObject({ providerCode: 'AuthFailure.SignatureFailure', httpStatus: 200 });
    expect(e.retryable).toBe(false);
    expect(JSON.stringify(e.extra.request)).not.toContain('not-the-key');

    const unknown = new TencentSmsProvider({ ...settings, secretId: 'AKIDnobody' });
    const e2 = await rejection(unknown.send(message('+8613800000005', 'ntf-5')));
    expect(e2.extra.providerCode).toBe('AuthFailure.SecretIdNotFound');
    expect(emulator.messages('+8613800000005')).toEqual([]);
  });

  it('throttling is retryable with an HTTP status (surely not sent), per number and per request', async () => {
    emulator.throttleNext(1, 'number');
    const e = await rejection(provider.send(message('+8613800000006', 'ntf-6')));
    expect(e.retryable).toBe(true);
    expect(e.extra).toMatchObject({
      providerCode: 'LimitExceeded.PhoneNumberThirtySecondLimit',
      httpStatus: 200,
    });

    emulator.throttleNext(1, 'request');
    const e2 = await rejection(provider.send(message('+8613800000006', 'ntf-6')));
    expect(e2.retryable).toBe(true);
    expect(e2.extra).toMatchObject({ providerCode: 'RequestLimitExceeded', httpStatus: 200 });
    expect(emulator.messages('+8613800000006')).toEqual([]);

    const ok = await provider.send(message('+8613800000006', 'ntf-6'));
    expect(emulator.messages('+8613800000006').map((m) => m.serialNo)).toEqual([ok.providerMessageId]);
  });

  it('template, sign and parameter errors are not retryable', async () => {
    const cases: [OutboundMessage, string][] = [
      [
        {
          ...message('+8613800000007', 'n'),
          sms: {
            body: '',
            registered: {
              tencent: { ...message('+86', 'n').sms!.registered!.tencent!, templateCode: '999' },
            },
          },
        },
        'FailedOperation.TemplateIncorrectOrUnapproved',
      ],
      [
        {
          ...message('+8613800000007', 'n'),
          sms: {
            body: '',
            registered: { tencent: { ...message('+86', 'n').sms!.registered!.tencent!, signName: '别的' } },
          },
        },
        'FailedOperation.SignatureIncorrectOrUnapproved',
      ],
      [message('+8613800000007', 'n', ['1', '2']), 'FailedOperation.TemplateIncorrectOrUnapproved'],
      [
        message('+8613800000007', 'n', ['1', '1234567890123', '3']),
        'InvalidParameterValue.TemplateParameterLengthLimit',
      ],
      [
        message('+8613800000007', 'n', ['1', 'http://x.cn', '3']),
        'InvalidParameterValue.ProhibitedUseUrlInTemplateParameter',
      ],
      [message('+86123', 'n'), 'InvalidParameterValue.IncorrectPhoneNumber'],
    ];
    for (const [m, code] of cases) {
      const e = await rejection(provider.send(m));
      expect({ code: e.extra.providerCode, retryable: e.retryable, http: e.extra.httpStatus }).toEqual({
        code,
        retryable: false,
        http: 200,
      });
    }
    expect(emulator.messages('+8613800000007')).toEqual([]);
  });

  it('a missing registration is refused before any request', async () => {
    const before = emulator.requests().length;
    const m = message('+8613800000008', 'ntf-8');
    const e = await rejection(provider.send({ ...m, sms: { body: 'free text' } }));
    expect(e.retryable).toBe(false);
    expect(e.extra.providerCode).toBe('registration_missing');
    expect(e.message).toContain('registration');
    expect(emulator.requests().length).toBe(before);
  });

  it('polls a report that was never pushed, and finds a sent message by SessionContext', async () => {
    emulator.setReportUrl(undefined);
    const to = '+8613800000009';
    const sent = await provider.send(message(to, 'ntf-9'));
    await emulator.idle(5000);
    const polled = await provider.poll(sent.providerMessageId, message(to, 'ntf-9'));
    expect(polled).toMatchObject({
      providerMessageId: sent.providerMessageId,
      notificationId: 'ntf-9',
      outcome: 'delivered',
      providerStatus: 'SUCCESS',
      raw: { polled: true, SerialNo: sent.providerMessageId },
    });
    expect(await provider.poll('2028:nope', message(to, 'ntf-9'))).toBeNull();

    const found = await provider.findSent(message(to, 'ntf-9'), new Date(Date.now() - 60_000));
    expect(found?.providerMessageId).toBe(sent.providerMessageId);
    expect(await provider.findSent(message(to, 'ntf-other'), new Date(Date.now() - 60_000))).toBeNull();
    // A claim older than the pull's 7 days is clamped, not refused.
    const old = await provider.findSent(message(to, 'ntf-9'), new Date(Date.now() - 30 * 86_400_000));
    expect(old?.providerMessageId).toBe(sent.providerMessageId);

    const failed = await provider.send(message(FAIL_TO, 'ntf-10'));
    await emulator.idle(5000);
    expect(await provider.poll(failed.providerMessageId, message(FAIL_TO, 'ntf-10'))).toMatchObject({
      outcome: 'undelivered',
      errorCode: '空号',
    });
  });

  it('PullSmsSendStatus hands each report out once (queue mode), through the unmodified SDK', async () => {
    const client = new tencentcloud.sms.v20210111.Client({
      credential: { secretId: SECRET_ID, secretKey: SECRET_KEY },
      region: 'ap-guangzhou',
      profile: { httpProfile: { endpoint: emulator.endpoint, protocol: 'http://' } },
    });
    await client.PullSmsSendStatus({ Limit: 100, SmsSdkAppId: APP }); // drain earlier tests
    emulator.setReportUrl(undefined);
    const sent = await provider.send(message('+8613800000014', 'ntf-14'));
    await emulator.idle(5000);
    const first = await client.PullSmsSendStatus({ Limit: 100, SmsSdkAppId: APP });
    expect(first.PullSmsSendStatusSet?.map((s) => [s.SerialNo, s.ReportStatus, s.SubscriberNumber])).toEqual([
      [sent.providerMessageId, 'SUCCESS', '13800000014'],
    ]);
    expect((await client.PullSmsSendStatus({ Limit: 100, SmsSdkAppId: APP })).PullSmsSendStatusSet).toEqual(
      [],
    );
  });

  it('a timeout is ambiguous (httpStatus null); a refused connection is surely not sent', async () => {
    const quick = new TencentSmsProvider({ ...settings, timeoutMs: 300 });
    emulator.hangNext(1);
    const e = await rejection(quick.send(message('+8613800000011', 'ntf-11')));
    expect(e.retryable).toBe(true);
    expect(e.extra.httpStatus).toBeNull();
    // The emulator took it: findSent must be asked before any resend.
    expect(emulator.messages('+8613800000011')).toHaveLength(1);

    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const nowhere = new TencentSmsProvider({ ...settings, endpoint: `127.0.0.1:${port}` });
    const e2 = await rejection(nowhere.send(message('+8613800000012', 'ntf-12')));
    expect(e2.extra).toMatchObject({ httpStatus: 0, providerCode: 'ECONNREFUSED' });
    expect(e2.retryable).toBe(true);
  });

  it('a gateway answering 502 is retryable with that status', async () => {
    emulator.httpErrorNext(1, 502);
    const before = emulator.requests().length;
    const e = await rejection(provider.send(message('+8613800000013', 'ntf-13')));
    expect(e.retryable).toBe(true);
    expect(e.extra.httpStatus).toBe(502);
    // The SDK does not retry by itself: one failed call, one request.
    expect(emulator.requests().slice(before)).toEqual([{ action: 'SendSms', error: 'HTTP 502', codes: [] }]);
  });
});
