import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type AliyunSmsEmulator, startAliyunSmsEmulator } from './emulators/aliyun-sms.js';
import { startTencentSmsEmulator, type TencentSmsEmulator } from './emulators/tencent-sms.js';
import { TwilioEmulator } from './emulators/twilio.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { ACCOUNT_SID, AUTH_TOKEN, phoneFor, smsBody } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

const ALIYUN_KEY = 'LTAI5tTestAccessKey01';
const ALIYUN_SECRET = 'aliyun-test-secret-0123456789abcdef';
const ALIYUN_TOKEN = 'aliyun-report-token-0123456789';
const TENCENT_ID = 'AKIDtestsecretid0123456789';
const TENCENT_KEY = 'tencent-test-secret-key-0123456789';
const TENCENT_APP = '1400006666';
const TENCENT_TOKEN = 'tencent-report-token-0123456789';

type Registrations = Record<string, Record<string, { templateCode: string; signName: string; text: string }>>;

/** What each gateway approved: the registrations the template pack carries (code -> text, signs). */
function approved(dir: string, kind: 'aliyun' | 'tencent') {
  const templates: Record<string, string> = {};
  const signs = new Set<string>();
  for (const key of readdirSync(dir)) {
    if (key.startsWith('_')) continue;
    const manifest = JSON.parse(readFileSync(join(dir, key, 'template.json'), 'utf8')) as {
      registrations?: Registrations;
    };
    for (const reg of Object.values(manifest.registrations?.[kind] ?? {})) {
      templates[reg.templateCode] = reg.text;
      signs.add(reg.signName);
    }
  }
  return { templates, signs: [...signs] };
}

interface Row {
  id: string;
  status: string;
  provider: string | null;
  provider_message_id: string | null;
  status_reason: string | null;
}

/**
 * Issue 14: SMS to mainland numbers through Aliyun and Tencent Cloud (official SDKs against
 * emulators that check the request signatures), delivered by their token-checked reports, with
 * failover on throttling and Twilio for international numbers; registered templates only.
 */
describe('mainland SMS gateways (Aliyun, Tencent Cloud)', () => {
  let aliyun: AliyunSmsEmulator;
  let tencent: TencentSmsEmulator;
  let twilio: TwilioEmulator;
  let api: InProcessApp;
  let pack: string;

  beforeAll(async () => {
    // A copy of the pack in which one template lost its Tencent registration.
    pack = mkdtempSync(join(tmpdir(), 'cns-pack-'));
    cpSync('templates', pack, { recursive: true });
    const thirdParty = join(pack, 'early.sms.third_party', 'template.json');
    const m = JSON.parse(readFileSync(thirdParty, 'utf8')) as { registrations: Registrations };
    delete m.registrations.tencent;
    writeFileSync(thirdParty, JSON.stringify(m, null, 2));

    aliyun = await startAliyunSmsEmulator({
      accessKeyId: ALIYUN_KEY,
      accessKeySecret: ALIYUN_SECRET,
      ...approved('templates', 'aliyun'),
      failNumbers: { '13800000000': 'MK:0001' },
    });
    tencent = await startTencentSmsEmulator({
      secretId: TENCENT_ID,
      secretKey: TENCENT_KEY,
      sdkAppId: TENCENT_APP,
      ...approved('templates', 'tencent'),
      maxParamLength: 35,
    });
    twilio = new TwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    const twilioUrl = await twilio.start();
    api = await startInProcess({
      dialect: 'sqlite',
      env: {
        TEMPLATES_DIR: pack,
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_FROM: '+15005550006',
        TWILIO_API_BASE_URL: twilioUrl,
        SMS_CN_PROVIDERS: 'aliyun,tencent',
        ALIYUN_SMS_ACCESS_KEY_ID: ALIYUN_KEY,
        ALIYUN_SMS_ACCESS_KEY_SECRET: ALIYUN_SECRET,
        ALIYUN_SMS_ENDPOINT: aliyun.endpoint,
        ALIYUN_SMS_PROTOCOL: 'http',
        ALIYUN_SMS_CALLBACK_TOKEN: ALIYUN_TOKEN,
        TENCENT_SMS_SECRET_ID: TENCENT_ID,
        TENCENT_SMS_SECRET_KEY: TENCENT_KEY,
        TENCENT_SMS_SDK_APP_ID: TENCENT_APP,
        TENCENT_SMS_ENDPOINT: tencent.endpoint,
        TENCENT_SMS_PROTOCOL: 'http',
        TENCENT_SMS_CALLBACK_TOKEN: TENCENT_TOKEN,
        TENCENT_SMS_VARIABLE_MAX_LENGTH: '35',
        // One throttled answer opens the breaker (for the rest of the suite): the message goes to Tencent.
        BREAKER_THRESHOLD: '1',
        BREAKER_COOLDOWN_MS: '600000',
        WORKER_CONCURRENCY: '1',
        // Lost reports are polled for once a sent notice has been quiet for 2 x the grace.
        TWILIO_TIMEOUT_MS: '1000',
        ALIYUN_SMS_TIMEOUT_MS: '1000',
        TENCENT_SMS_TIMEOUT_MS: '1000',
        SENDING_GRACE_MS: '1200',
        SWEEP_INTERVAL_MS: '300',
      },
    });
    aliyun.setReportUrl(`${api.baseUrl}/webhooks/aliyun?token=${ALIYUN_TOKEN}`);
    tencent.setReportUrl(`${api.baseUrl}/webhooks/tencent?token=${TENCENT_TOKEN}`);
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    await aliyun?.stop();
    await tencent?.stop();
    await twilio?.stop();
    rmSync(pack, { recursive: true, force: true });
  });

  async function accept(caseId: string, phone: string, extra: Record<string, unknown> = {}) {
    const res = await postJson(api.baseUrl, '/v1/notifications', { ...smsBody(caseId, phone), ...extra });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  async function final(id: string): Promise<Row> {
    return waitFor(
      `${id} final`,
      async () => {
        const [r] = await api.db.rows<Row>(
          'SELECT id, status, provider, provider_message_id, status_reason FROM notifications WHERE id = ?',
          [id],
        );
        return r && ['delivered', 'undelivered', 'failed'].includes(r.status) ? r : undefined;
      },
      20_000,
    );
  }

  async function events(id: string) {
    return api.db.rows<{ type: string; payload: string }>(
      'SELECT type, payload FROM evidence_events WHERE notification_id = ? ORDER BY seq',
      [id],
    );
  }

  it('the channel registry shows the route: Aliyun, then Tencent, Twilio for the rest', async () => {
    const res = await fetch(`${api.baseUrl}/v1/channels`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      items: { channel: string; providers: string[]; parts: string[]; sandbox: boolean }[];
      webhooks: string[];
    };
    expect(body.items.map((c) => c.channel)).toEqual(['sms', 'email', 'letter', 'voice']);
    expect(body.items[0]).toMatchObject({
      providers: ['aliyun', 'tencent', 'twilio'],
      parts: ['sms'],
      sandbox: false,
    });
    expect(body.items[3]).toMatchObject({ providers: ['sandbox-voice'], parts: ['voice'], sandbox: true });
    expect(body.webhooks).toEqual(['aliyun', 'email', 'tencent', 'twilio']);
  });

  it('sends a mainland number through Aliyun with the registered template, delivered by its report', async () => {
    const phone = phoneFor(710_001);
    const id = await accept('C-cn-1', phone);
    const row = await final(id);
    expect(row).toMatchObject({ status: 'delivered', provider: 'aliyun' });
    const [sent] = aliyun.messages().filter((m) => m.outId === id);
    expect(sent).toMatchObject({ phoneNumber: phone.slice(3), templateCode: 'SMS_4802150' });
    expect(sent.params).toMatchObject({ card: '1234' });
    // The evidence keeps the code and variables sent and the text the debtor reads, which is
    // the stored artifact and what the gateway's handset text says.
    const ev = await events(id);
    const rendered = JSON.parse(ev.find((e) => e.type === 'message.rendered')!.payload) as {
      sha256: string;
      registered: Record<
        string,
        { templateCode: string; params: { name: string; value: string }[]; text: string }
      >;
    };
    expect(rendered.registered.aliyun.templateCode).toBe('SMS_4802150');
    expect(rendered.registered.tencent.templateCode).toBe('2193844');
    expect(rendered.registered.aliyun.text).toBe(sent.text);
    const [artifact] = await api.db.rows<{ content: Buffer }>(
      'SELECT content FROM artifacts WHERE sha256 = ?',
      [rendered.sha256],
    );
    expect(Buffer.from(artifact.content).toString('utf8')).toBe(sent.text);
    const receipt = ev.find((e) => e.type === 'receipt.received');
    expect(JSON.parse(receipt!.payload)).toMatchObject({
      provider: 'aliyun',
      providerMessageId: sent.bizId,
      verification: { check: 'callback-token' },
    });
  });

  it('records an undelivered report and refuses forged ones', async () => {
    const id = await accept('C-cn-2', '+8613800000000');
    const row = await final(id);
    expect(row).toMatchObject({ status: 'undelivered', provider: 'aliyun' });

    // No token, a wrong token: refused before anything is stored.
    const forged = JSON.stringify([
      {
        biz_id: row.provider_message_id,
        out_id: id,
        success: true,
        err_code: 'DELIVERED',
        report_time: '2026-11-24 10:00:00',
      },
    ]);
    const headers = { 'content-type': 'application/json' };
    expect(
      (await fetch(`${api.baseUrl}/webhooks/aliyun`, { method: 'POST', headers, body: forged })).status,
    ).toBe(401);
    expect(
      (
        await fetch(`${api.baseUrl}/webhooks/aliyun?token=guess-${ALIYUN_TOKEN}`, {
          method: 'POST',
          headers,
          body: forged,
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await fetch(`${api.baseUrl}/webhooks/tencent?token=${ALIYUN_TOKEN}`, {
          method: 'POST',
          headers,
          body: JSON.stringify([{ sid: 'x', report_status: 'SUCCESS' }]),
        })
      ).status,
    ).toBe(401);
    expect((await api.db.rows<Row>('SELECT status FROM notifications WHERE id = ?', [id]))[0].status).toBe(
      'undelivered',
    );
    // Aliyun's report under Tencent's name (its token) does not match: provenance is by provider.
    const [{ n: before }] = await api.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM receipts');
    const res = await fetch(`${api.baseUrl}/webhooks/tencent?token=${TENCENT_TOKEN}`, {
      method: 'POST',
      headers,
      body: JSON.stringify([{ sid: row.provider_message_id, report_status: 'SUCCESS', errmsg: 'DELIVRD' }]),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ result: 0, errmsg: 'OK' });
    const [{ n: after }] = await api.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM receipts');
    expect(Number(after)).toBe(Number(before) + 1);
    expect((await api.db.rows<Row>('SELECT status FROM notifications WHERE id = ?', [id]))[0].status).toBe(
      'undelivered',
    );
  });

  it('polls the gateway for a report that never came', async () => {
    aliyun.setDropReports(true);
    try {
      const id = await accept('C-cn-7', phoneFor(710_007));
      const row = await final(id);
      expect(row).toMatchObject({ status: 'delivered', provider: 'aliyun' });
      const receipt = (await events(id)).find((e) => e.type === 'receipt.received');
      expect(JSON.parse(receipt!.payload)).toMatchObject({
        provider: 'aliyun',
        verification: { via: 'poll' },
      });
    } finally {
      aliyun.setDropReports(false);
    }
  });

  it('fails over to Tencent when Aliyun answers throttling, each message sent once', async () => {
    aliyun.throttleNext(1);
    const first = await accept('C-cn-3', phoneFor(710_003));
    const second = await accept('C-cn-4', phoneFor(710_004));
    const [a, b] = [await final(first), await final(second)];
    for (const r of [a, b]) expect(r).toMatchObject({ status: 'delivered', provider: 'tencent' });
    for (const id of [first, second]) {
      expect(tencent.messages().filter((m) => m.sessionContext === id)).toHaveLength(1);
      expect(aliyun.messages().filter((m) => m.outId === id)).toHaveLength(0);
    }
    const [sent] = tencent.messages().filter((m) => m.sessionContext === second);
    expect(sent.templateId).toBe('2193844');
    expect(sent.text.startsWith('【示例银行信用卡中心】')).toBe(true);
  });

  it('sends international numbers through Twilio', async () => {
    const id = await accept('C-cn-5', '+14155550123', { locale: 'en' });
    const row = await final(id);
    expect(row).toMatchObject({ status: 'delivered', provider: 'twilio' });
    expect(twilio.createsByTo('+14155550123')).toBe(1);
  });

  it('refuses a template without a registration for a configured gateway, naming it', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', {
      caseId: 'C-cn-6',
      channel: 'sms',
      templateKey: 'early.sms.third_party',
      locale: 'zh-CN',
      recipient: { role: 'contact', name: '李四', phone: phoneFor(710_006), timeZone: 'Asia/Shanghai' },
      data: { customerName: '张三' },
    });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'template_data' });
    expect(JSON.stringify(res.body)).toContain('registrations.tencent');
    // Lint (what the editor shows, and what blocks a submit) says the same about the template.
    const preview = await postJson(api.baseUrl, '/v1/templates/preview', {
      key: 'early.sms.third_party',
      locale: 'zh-CN',
    });
    expect(preview.status).toBe(200);
    const findings = preview.body.findings as { ruleId: string; severity: string; message: string }[];
    expect(findings.filter((f) => f.ruleId.startsWith('sms-registration'))).toEqual([
      expect.objectContaining({ ruleId: 'sms-registration-missing', severity: 'error' }),
    ]);
  });
});
