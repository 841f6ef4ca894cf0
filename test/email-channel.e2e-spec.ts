import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signEmailEvent } from '#libs/channels';
import { DEFAULT_STAGE_POLICY } from '#libs/config';
import { OffsetClock } from '#libs/core';
import { Sweeper } from '#libs/notifications';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { ADDRESS, DAYTIME, LETTER_DATA, MID_SMS_DATA } from './support/fixtures.js';
import { waitFor } from './support/infra.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';

const SECRET = 'email-webhook-secret-for-tests';

interface Ev {
  seq: number;
  type: string;
  notificationId: string | null;
  payload: Record<string, unknown>;
}
interface View {
  id: string;
  status: string;
  statusReason: string | null;
  providerMessageId: string | null;
  compliance: { ruleId: string | null } | null;
  events: Ev[];
}

describe('email channel against a real SMTP server', () => {
  let smtp: TestSmtpServer;
  let api: InProcessApp;
  const clock = new OffsetClock(new Date(DAYTIME));
  const attempts = new Map<string, number>();

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
  const signed = (body: string, contentType: string) => {
    const ts = String(Math.floor(clock.now().getTime() / 1000));
    return fetch(`${api.baseUrl}/webhooks/email/events`, {
      method: 'POST',
      headers: {
        'content-type': contentType,
        'x-email-timestamp': ts,
        'x-email-signature': signEmailEvent(SECRET, ts, body),
      },
      body,
    });
  };
  const emailRequest = (caseId: string, email: string, templateKey = 'late.email.demand_copy') => ({
    caseId,
    channel: 'email',
    templateKey,
    locale: 'zh-CN',
    recipient: { role: 'debtor', name: '张三', email, address: ADDRESS, timeZone: 'Asia/Shanghai' },
    data: LETTER_DATA,
  });

  beforeAll(async () => {
    smtp = await startSmtpServer({
      failWith: (rcpt) => {
        const n = (attempts.get(rcpt) ?? 0) + 1;
        attempts.set(rcpt, n);
        if (rcpt.startsWith('busy') && n <= 2)
          return { code: n === 1 ? 421 : 451, message: 'try again later' };
        if (rcpt.startsWith('nobody')) return { code: 550, message: '5.1.1 user unknown' };
        return undefined;
      },
    });
    api = await startInProcess({
      dialect: 'sqlite',
      clock,
      env: {
        EMAIL_PROVIDER: 'smtp',
        SMTP_HOST: smtp.host,
        SMTP_PORT: String(smtp.port),
        SMTP_SECURE: 'false',
        EMAIL_WEBHOOK_SECRET: SECRET,
        EMAIL_MESSAGE_ID_DOMAIN: 'notices.bank.example',
        COMPLIANCE_OVERRIDES: JSON.stringify({
          stageGap: null,
          caps: { email: { perDay: 20 }, letter: { per7Days: 20 } },
        }),
      },
    });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
    await smtp?.close();
  });

  it('delivers subject, Chinese text, HTML and the letter PDF whose SHA-256 is in the evidence', async () => {
    const res = await postJson(
      api.baseUrl,
      '/v1/notifications',
      emailRequest('C-mail-1', 'zhang.san@example.com'),
    );
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    const sent = await until(id, (v) => v.status === 'sent', 'sent');
    const [msg] = await smtp.waitForMessages(1);
    expect(msg.envelope.rcptTo).toEqual(['zhang.san@example.com']);
    expect(msg.parsed.messageId).toBe(`<${id}@notices.bank.example>`);
    expect(sent.providerMessageId).toBe(`<${id}@notices.bank.example>`);
    expect(msg.parsed.subject).toMatch(/[\u4e00-\u9fff]/);
    expect(msg.parsed.text).toContain('张三');
    expect(msg.parsed.text).toContain('23,456.78');
    expect(String(msg.parsed.html)).toContain('<');
    expect(msg.raw.toString('utf8')).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
    const pdf = msg.parsed.attachments.find((a) => a.contentType === 'application/pdf');
    expect(pdf).toBeDefined();
    const pdfSha = createHash('sha256').update(pdf!.content).digest('hex');
    const rendered = sent.events.find((e) => e.type === 'message.rendered');
    const declared = (rendered?.payload.attachments as { sha256: string }[])[0].sha256;
    expect(pdfSha).toBe(declared);
    const response = sent.events.find((e) => e.type === 'provider.response');
    expect(JSON.stringify(response?.payload)).toMatch(/250/); // the SMTP server's reply is in the evidence
    // The stored .eml artifact is the one whose hash the evidence carries.
    const [art] = await api.db.rows<{ size: number }>('SELECT size FROM artifacts WHERE sha256 = ?', [
      rendered?.payload.sha256,
    ]);
    expect(Number(art.size)).toBeGreaterThan(pdf!.content.length);

    // A signed JSON "delivered" event completes it.
    const delivered = JSON.stringify([
      {
        id: 'ev-1',
        type: 'delivered',
        timestamp: clock.now().toISOString(),
        messageId: sent.providerMessageId,
      },
    ]);
    expect((await signed(delivered, 'application/json')).status).toBe(200);
    await until(id, (v) => v.status === 'delivered', 'delivered');
    // A forged event is refused and changes nothing.
    const forged = await fetch(`${api.baseUrl}/webhooks/email/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-email-timestamp': '1',
        'x-email-signature': '00'.repeat(32),
      },
      body: delivered,
    });
    expect(forged.status).toBe(403);
  }, 30_000);

  it('a hard-bounce DSN marks the notice undelivered, suppresses the address and starts the next channel', async () => {
    const email = 'wang.fang@example.com';
    const res = await postJson(api.baseUrl, '/v1/notifications', emailRequest('C-mail-2', email));
    const id = res.body.id as string;
    await until(id, (v) => v.status === 'sent', 'sent');
    const dsn = readFileSync(
      new URL('../libs/channels/src/email/fixtures/dsn-hard-bounce.eml', import.meta.url),
      'utf8',
    )
      .replaceAll('wang.fang.0417@example.com', email)
      .replace(
        '<3f1c9a52-7d4e-4b1a-9c2f-5e8d6a0b1c23@notices.examplebank.cn>',
        `<${id}@notices.bank.example>`,
      );
    const hook = await signed(dsn, 'message/rfc822');
    expect(hook.status).toBe(200);
    const bounced = await until(id, (v) => v.status === 'undelivered', 'undelivered');
    expect(bounced.statusReason).toMatch(/hard bounce/);
    const [opt] = await api.db.rows<{ reason: string }>(
      "SELECT reason FROM opt_outs WHERE address = ? AND channel = 'email'",
      [email],
    );
    expect(opt.reason).toBe('hard_bounce');
    const esc = bounced.events.find((e) => e.type === 'escalation.started');
    expect(esc?.payload).toMatchObject({ from: 'email', channel: 'letter' });
    const child = await until(
      esc?.payload.childId as string,
      (v) => v.status === 'delivered',
      'letter delivered',
    );
    expect(child.events.find((e) => e.type === 'message.rendered')?.payload).toMatchObject({
      service: 'registered',
    });

    const again = await postJson(api.baseUrl, '/v1/notifications', emailRequest('C-mail-2b', email));
    expect(again.body).toMatchObject({ status: 'suppressed', compliance: { ruleId: 'optout.email' } });
  }, 30_000);

  it('one-click unsubscribe suppresses the next email with the rule id', async () => {
    const email = 'li.si@example.com';
    const res = await postJson(api.baseUrl, '/v1/notifications', emailRequest('C-mail-3', email));
    await until(res.body.id as string, (v) => v.status === 'sent', 'sent');
    const msg =
      (await smtp.waitForMessages(1)).find((m) => m.envelope.rcptTo.includes(email)) ??
      (await waitFor('message', async () => smtp.messages.find((m) => m.envelope.rcptTo.includes(email))));
    const header = /^List-Unsubscribe:(.*(?:\r?\n[ \t].*)*)/m.exec(msg.raw.toString('utf8'))?.[1] ?? '';
    const url = /<(https?:[^>]+)>/.exec(header.replace(/\r?\n[ \t]+/g, ''))?.[1];
    if (!url) throw new Error('no unsubscribe url in: ' + msg.raw.toString('utf8').slice(0, 1500));
    const un = await fetch(url!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(un.status).toBe(200);
    // Change one character inside the token (not the last one: its low bits may be padding).
    const at = url!.indexOf('t=') + 10;
    const flipped = url!.slice(0, at) + (url![at] === 'A' ? 'B' : 'A') + url!.slice(at + 1);
    const tampered = await fetch(flipped, { method: 'POST' });
    expect(tampered.status).toBe(400);
    const next = await postJson(api.baseUrl, '/v1/notifications', emailRequest('C-mail-3b', email));
    expect(next.body.status).toBe('suppressed');
    expect(next.body.statusReason).toContain('optout.email');
    const v = await view(next.body.id as string);
    expect(v.events.find((e) => e.type === 'compliance.decision')?.payload).toMatchObject({
      ruleId: 'optout.email',
    });
  }, 30_000);

  it('SMTP 421/451 are retried until accepted; 550 is not retried and escalates', async () => {
    const busy = await postJson(
      api.baseUrl,
      '/v1/notifications',
      emailRequest('C-mail-4', 'busy@example.com'),
    );
    const ok = await until(busy.body.id as string, (v) => v.status === 'sent', 'sent after retries');
    const errors = ok.events.filter((e) => e.type === 'provider.error').map((e) => e.payload);
    // 421 closes the connection (the pool may retry it on a fresh one), 451 comes back to us:
    // at least one transient error, each retryable, and the message arrives exactly once.
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.every((e) => e.retryable === true)).toBe(true);
    expect(attempts.get('busy@example.com')).toBeGreaterThanOrEqual(3);
    expect(smtp.messages.filter((m) => m.envelope.rcptTo.includes('busy@example.com'))).toHaveLength(1);

    const dead = await postJson(
      api.baseUrl,
      '/v1/notifications',
      emailRequest('C-mail-5', 'nobody@example.com'),
    );
    const failed = await until(dead.body.id as string, (v) => v.status === 'failed', 'failed');
    const errs = failed.events.filter((e) => e.type === 'provider.error');
    expect(errs).toHaveLength(1);
    expect(errs[0].payload.retryable).toBe(false);
    expect(failed.events.find((e) => e.type === 'escalation.started')?.payload).toMatchObject({
      channel: 'letter',
    });
  }, 30_000);
});

describe('escalation chain SMS -> email -> registered letter (sandbox providers)', () => {
  let api: InProcessApp;
  beforeAll(async () => {
    const policy = structuredClone(DEFAULT_STAGE_POLICY);
    const mid = policy.stages.find((s) => s.stage === 'mid')!;
    mid.channels = [
      { channel: 'sms', templateKey: 'mid.sms.notice', registered: false },
      { channel: 'email', templateKey: 'mid.email.notice', registered: false },
      { channel: 'letter', templateKey: 'mid.letter.notice', registered: true },
    ];
    api = await startInProcess({ dialect: 'postgres', env: { STAGE_POLICY: JSON.stringify(policy) } });
  }, 30_000);
  afterAll(async () => {
    await api?.close();
  });

  it('appears in order in the case evidence', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', {
      caseId: 'C-chain-1',
      channel: 'sms',
      templateKey: 'mid.sms.notice',
      recipient: {
        role: 'debtor',
        name: '张三',
        phone: '+8613800130000', // sandbox: undelivered
        email: 'zhang.san0000@example.com', // sandbox: hard bounce
        address: ADDRESS,
        timeZone: 'Asia/Shanghai',
      },
      data: MID_SMS_DATA,
    });
    expect(res.status).toBe(202);
    const events = await waitFor(
      'letter delivered',
      async () => {
        const body = (await (await fetch(`${api.baseUrl}/v1/cases/C-chain-1/evidence`)).json()) as {
          verification: { ok: boolean };
          events: Ev[];
        };
        const done = body.events.some((e) => e.type === 'status.changed' && e.payload.to === 'delivered');
        return done ? body : undefined;
      },
      20_000,
    );
    expect(events.verification.ok).toBe(true);
    const story = events.events
      .filter(
        (e) => e.type === 'status.changed' && ['undelivered', 'delivered'].includes(e.payload.to as string),
      )
      .map((e) => e.payload.to);
    expect(story).toEqual(['undelivered', 'undelivered', 'delivered']);
    const started = events.events
      .filter((e) => e.type === 'escalation.started')
      .map((e) => [e.payload.from, e.payload.channel]);
    expect(started).toEqual([
      ['sms', 'email'],
      ['email', 'letter'],
    ]);
    const letter = events.events.find(
      (e) => e.type === 'message.rendered' && e.payload.mediaType === 'application/pdf',
    );
    expect(letter?.payload.service).toBe('registered');
    const signer = events.events.find(
      (e) => e.type === 'receipt.received' && e.payload.outcome === 'delivered' && e.payload.signer,
    );
    expect(signer).toBeDefined();
  }, 30_000);
  it('the sweeper starts an escalation whose trigger was lost (crash after the failing commit)', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', {
      caseId: 'C-chain-2',
      channel: 'sms',
      templateKey: 'mid.sms.notice',
      recipient: {
        role: 'debtor',
        name: '张三',
        phone: '+8613800131111',
        email: 'zhang.san@example.com',
        timeZone: 'Asia/Shanghai',
      },
      data: MID_SMS_DATA,
    });
    const id = res.body.id as string;
    await waitFor('delivered', async () => {
      const [r] = await api.db.rows<{ status: string }>('SELECT status FROM notifications WHERE id = ?', [
        id,
      ]);
      return r.status === 'delivered';
    });
    // As if the carrier had reported a failure and the process died before escalating.
    await api.db.exec(
      "UPDATE notifications SET status = 'undelivered', updated_at = updated_at - 600000 WHERE id = ?",
      [id],
    );
    const report = await api.app.get(Sweeper).sweep();
    expect(report.escalated).toBe(1);
    const [child] = await api.db.rows<{ channel: string }>(
      'SELECT channel FROM notifications WHERE parent_id = ?',
      [id],
    );
    expect(child.channel).toBe('email');
    // A second sweep does nothing more.
    expect((await api.app.get(Sweeper).sweep()).escalated).toBe(0);
  }, 30_000);
});
