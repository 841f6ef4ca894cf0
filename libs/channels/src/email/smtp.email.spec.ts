import { createHash, generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ProviderError } from '#libs/core';
import {
  startSmtpServer,
  type StartSmtpServerOptions,
  type TestSmtpServer,
} from '../../../../test/support/smtp.js';
import { verifyDkimRelaxed } from '../../../../test/support/dkim.js';
import type { OutboundMessage } from '../provider.js';
import { composeEml, dkimSign } from './eml.js';
import { classifySmtpError, SmtpEmailProvider, type SmtpEmailSettings } from './smtp.email.js';
import { listUnsubscribeHeaders } from './unsubscribe.js';

const FROM = '"示例银行信用卡中心" <notices@notices.bank.example>';

function fakePdf(): Buffer {
  // Enough binary content (all byte values) to catch any transfer-encoding damage.
  const body = Buffer.alloc(70_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 131 + 7) % 256;
  return Buffer.concat([
    Buffer.from('%PDF-1.7\n%\xE2\xE3\xCF\xD3\n', 'latin1'),
    body,
    Buffer.from('\n%%EOF\n'),
  ]);
}

function outbound(id: string, to: string, extra: Partial<OutboundMessage['email']> = {}): OutboundMessage {
  return {
    notificationId: id,
    channel: 'email',
    to,
    webhookBaseUrl: 'https://notices.bank.example/webhooks',
    email: {
      subject: '信用卡账单逾期提醒（尾号 8012）',
      text: '王芳女士：您的信用卡账单已逾期 12 天，应还金额 3,456.78 元。请尽快还款。',
      html: '<p>王芳女士：</p><p>您的信用卡账单已逾期 <b>12</b> 天，应还金额 <b>3,456.78</b> 元。</p>',
      ...extra,
    },
  };
}

describe('SmtpEmailProvider against a real SMTP server', () => {
  let server: TestSmtpServer | undefined;
  let provider: SmtpEmailProvider | undefined;

  async function setup(
    opts: StartSmtpServerOptions = {},
    settings: Partial<SmtpEmailSettings> = {},
  ): Promise<{ server: TestSmtpServer; provider: SmtpEmailProvider }> {
    server = await startSmtpServer(opts);
    provider = new SmtpEmailProvider({
      host: server.host,
      port: server.port,
      secure: false,
      ignoreTLS: true,
      from: FROM,
      maxConnections: 3,
      connectionTimeoutMs: 2000,
      greetingTimeoutMs: 2000,
      socketTimeoutMs: 2000,
      ...settings,
    });
    return { server, provider };
  }

  afterEach(async () => {
    provider?.stop();
    await server?.close();
    provider = undefined;
    server = undefined;
  });

  it('delivers subject, Chinese text and HTML, the PDF, the List-Unsubscribe headers and our Message-ID', async () => {
    const { server, provider } = await setup();
    const pdf = fakePdf();
    const unsubscribe = listUnsubscribeHeaders(
      'https://notices.bank.example/u/v1.abc_DEF-123.sig',
      'unsubscribe@notices.bank.example',
    );
    const id = '3f1c9a52-7d4e-4b1a-9c2f-5e8d6a0b1c23';
    const result = await provider.send(
      outbound(id, 'wang.fang@example.com', {
        headers: unsubscribe,
        attachments: [{ filename: '催收函.pdf', contentType: 'application/pdf', content: pdf }],
      }),
    );

    expect(result.providerMessageId).toBe(`<${id}@notices.bank.example>`);
    const raw = result.raw as Record<string, unknown>;
    expect(raw.response).toMatch(/^250 .*queued as T1/);
    expect(raw.accepted).toEqual(['wang.fang@example.com']);
    expect(raw.rejected).toEqual([]);

    const [msg] = await server.waitForMessages(1);
    expect(msg.envelope).toEqual({
      mailFrom: 'notices@notices.bank.example',
      rcptTo: ['wang.fang@example.com'],
    });
    const p = msg.parsed;
    expect(p.messageId).toBe(result.providerMessageId);
    expect(p.subject).toBe('信用卡账单逾期提醒（尾号 8012）');
    expect(p.from?.value[0]).toEqual({ name: '示例银行信用卡中心', address: 'notices@notices.bank.example' });
    expect(p.text?.trim()).toBe('王芳女士：您的信用卡账单已逾期 12 天，应还金额 3,456.78 元。请尽快还款。');
    expect(p.html).toContain('<p>您的信用卡账单已逾期 <b>12</b> 天，应还金额 <b>3,456.78</b> 元。</p>');
    expect(p.attachments).toHaveLength(1);
    expect(p.attachments[0].filename).toBe('催收函.pdf');
    expect(p.attachments[0].contentType).toBe('application/pdf');
    expect(createHash('sha256').update(p.attachments[0].content).digest('hex')).toBe(
      createHash('sha256').update(pdf).digest('hex'),
    );
    // Header values as they are on the wire (mailparser's parsed form of List-* is an object).
    const headerLines = msg.raw
      .toString('latin1')
      .split('\r\n\r\n')[0]
      .replace(/\r\n[ \t]+/g, ' ');
    expect(headerLines).toContain(
      'List-Unsubscribe: <https://notices.bank.example/u/v1.abc_DEF-123.sig>, <mailto:unsubscribe@notices.bank.example>',
    );
    expect(headerLines).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    // The evidence request carries the attachment hash, never the body.
    const request = result.request as { attachments: { sha256: string }[]; textLength: number };
    expect(request.attachments[0].sha256).toBe(createHash('sha256').update(pdf).digest('hex'));
    expect(JSON.stringify(result.request)).not.toContain('3,456.78');
  });

  it('uses the same Message-ID when the same notification is sent again', async () => {
    const { server, provider } = await setup();
    const a = await provider.send(outbound('n-1', 'a@example.com'));
    const b = await provider.send(outbound('n-1', 'a@example.com'));
    await server.waitForMessages(2);
    expect(a.providerMessageId).toBe(b.providerMessageId);
    expect(server.messages.map((m) => m.parsed.messageId)).toEqual([
      a.providerMessageId,
      a.providerMessageId,
    ]);
  });

  it('reuses pooled connections: 50 sends over at most maxConnections connections', async () => {
    const { server, provider } = await setup({}, { maxConnections: 3 });
    const ids = Array.from({ length: 50 }, (_, i) => `pool-${i}`);
    const results = await Promise.all(
      ids.map((id, i) => provider.send(outbound(id, `user${i}@example.com`))),
    );
    await server.waitForMessages(50);
    expect(new Set(results.map((r) => r.providerMessageId)).size).toBe(50);
    expect(server.connections).toBeGreaterThanOrEqual(1);
    expect(server.connections).toBeLessThanOrEqual(3);
    expect(new Set(server.messages.map((m) => m.sessionId)).size).toBe(server.connections);
  });

  it('signs with DKIM when configured, over the exact bytes that arrive', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { server, provider } = await setup(
      {},
      {
        dkim: {
          domainName: 'notices.bank.example',
          keySelector: 'n2026',
          privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        },
      },
    );
    await provider.send(
      outbound('dkim-1', 'a@example.com', { headers: listUnsubscribeHeaders('https://x.example/u/t') }),
    );
    const [msg] = await server.waitForMessages(1);
    const tags = verifyDkimRelaxed(msg.raw, publicKey);
    expect(tags.d).toBe('notices.bank.example');
    expect(tags.s).toBe('n2026');
    expect(tags.h.split(':')).toEqual(
      expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post', 'message-id']),
    );
  });

  describe('a stored .eml (raw)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dkim = {
      domainName: 'notices.bank.example',
      keySelector: 'n2026',
      privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    /** A hand-made message with lines that need dot-stuffing, signed like the renderer signs. */
    const stored = (id: string) =>
      dkimSign(
        Buffer.from(
          [
            `From: ${FROM}`,
            'To: a@example.com',
            'Subject: =?UTF-8?B?5YKs5pS25Ye9?=',
            `Message-ID: <${id}@notices.bank.example>`,
            'Date: Tue, 24 Nov 2026 02:00:00 +0000',
            'MIME-Version: 1.0',
            'Content-Type: text/plain; charset=us-ascii',
            'Content-Transfer-Encoding: 7bit',
            '',
            '.a line that starts with a dot',
            '.',
            '..two dots',
            'last line',
            '',
          ].join('\r\n'),
        ),
        dkim,
      );
    const raw = (id: string, bytes: Buffer): OutboundMessage => {
      const m = outbound(id, 'a@example.com');
      return { ...m, email: { ...m.email!, raw: bytes } };
    };

    it('arrives byte for byte, is not signed again, and request.written hashes the bytes read', async () => {
      const { server, provider } = await setup({}, { dkim });
      const bytes = await stored('raw-1');
      const result = await provider.send(raw('raw-1', bytes));
      const [msg] = await server.waitForMessages(1);
      expect(msg.raw.equals(bytes)).toBe(true);
      expect(msg.raw.toString('latin1').match(/^DKIM-Signature:/gim)).toHaveLength(1);
      verifyDkimRelaxed(msg.raw, publicKey);
      const request = result.request as {
        sha256: string;
        size: number;
        written: { sha256: string; size: number };
      };
      expect(request.sha256).toBe(sha(bytes));
      expect(request.written).toEqual({ sha256: sha(bytes), size: bytes.length });
      expect(result.providerMessageId).toBe('<raw-1@notices.bank.example>');
    });

    it('a resend of the same notification sends the same bytes', async () => {
      const { server, provider } = await setup(
        {
          afterData: (_r, attempt) => (attempt === 1 ? { code: 451, message: '4.3.0 try later' } : undefined),
        },
        { dkim },
      );
      const bytes = await stored('raw-2');
      const first = (await provider.send(raw('raw-2', bytes)).catch((e: unknown) => e)) as ProviderError;
      expect(first.retryable).toBe(true);
      await provider.send(raw('raw-2', bytes));
      const [msg] = await server.waitForMessages(1);
      expect(sha(msg.raw)).toBe(sha(bytes));
    });

    it('sends what composeEml built (the stored .eml of the renderer) unchanged, DKIM intact', async () => {
      const { server, provider } = await setup({}, { dkim });
      const m = outbound('raw-3', 'a@example.com');
      const bytes = await composeEml(
        { ...m.email!, from: FROM, to: m.to, messageId: '<raw-3@notices.bank.example>', date: new Date(0) },
        dkim,
      );
      await provider.send(raw('raw-3', bytes));
      const [msg] = await server.waitForMessages(1);
      expect(msg.raw.equals(bytes)).toBe(true);
      verifyDkimRelaxed(msg.raw, publicKey);
    });

    it.each([
      [
        'bare LF line breaks',
        async () => Buffer.from((await stored('raw-4')).toString('latin1').replace(/\r\n/g, '\n'), 'latin1'),
        /bare CR or LF/,
      ],
      ['no final CRLF', async () => (await stored('raw-4')).subarray(0, -2), /no final CRLF/],
      [
        'another Message-ID',
        () => stored('other'),
        /Message-ID <other@notices\.bank\.example> is not <raw-4@/,
      ],
      [
        'no DKIM signature while DKIM is configured',
        async () =>
          Buffer.from(
            (await stored('raw-4')).toString('latin1').replace(/^DKIM-Signature:[^]*?\r\n(?![ \t])/, ''),
            'latin1',
          ),
        /DKIM is configured/,
      ],
    ])('refuses a message with %s before connecting', async (_what, make, why) => {
      const { server, provider } = await setup({}, { dkim });
      const err = (await provider.send(raw('raw-4', await make())).catch((e: unknown) => e)) as ProviderError;
      expect(err).toBeInstanceOf(ProviderError);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(why);
      expect(server.connections).toBe(0);
    });
  });

  it.each([421, 451])('maps a %i reply to RCPT TO to a retryable error with the SMTP code', async (code) => {
    const { server, provider } = await setup({
      failWith: (_rcpt, attempt) => (attempt === 1 ? { code, message: '4.7.0 Try again later' } : undefined),
    });
    const err = await provider.send(outbound('soft-1', 'li.na@example.org')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    const pe = err as ProviderError;
    expect(pe.retryable).toBe(true);
    expect(pe.extra.smtpCode).toBe(code);
    expect(pe.extra.httpStatus).toBe(code);
    expect(pe.message).not.toContain('li.na@');
    // The second attempt goes through.
    const ok = await provider.send(outbound('soft-1', 'li.na@example.org'));
    expect(ok.providerMessageId).toBe('<soft-1@notices.bank.example>');
    expect(server.messages).toHaveLength(1);
  });

  it('maps a 550 to a non-retryable error and keeps the pool usable', async () => {
    const { server, provider } = await setup({
      failWith: (rcpt) =>
        rcpt.startsWith('nobody') ? { code: 550, message: `5.1.1 <${rcpt}>: user unknown` } : undefined,
    });
    const err = (await provider
      .send(outbound('hard-1', 'nobody@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retryable).toBe(false);
    expect(err.extra.smtpCode).toBe(550);
    expect(err.extra.enhancedCode).toBe('5.1.1');
    expect(String(err.extra.smtpResponse)).not.toContain('nobody@');
    await provider.send(outbound('ok-1', 'somebody@example.com'));
    expect(server.messages).toHaveLength(1);
  });

  it('maps a 554 reply to the end of DATA to a non-retryable error', async () => {
    const { provider } = await setup({
      afterData: () => ({ code: 554, message: '5.7.1 Message rejected as spam' }),
    });
    const err = (await provider
      .send(outbound('spam-1', 'a@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err.retryable).toBe(false);
    expect(err.extra.smtpCode).toBe(554);
  });

  it('marks a connection dropped after the whole message was sent as ambiguous (httpStatus null)', async () => {
    const { server, provider } = await setup({
      afterData: (_r, attempt) => (attempt === 1 ? 'drop' : undefined),
    });
    const err = (await provider
      .send(outbound('amb-1', 'a@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retryable).toBe(true);
    expect(err.extra.httpStatus).toBeNull();
    expect(err.extra.dataSent).toBe(true);
    expect(server.messages).toHaveLength(0);
  });

  it('marks a connection dropped before DATA as retryable but not ambiguous', async () => {
    const { provider } = await setup({ failWith: () => ({ code: 421, message: '4.3.2 Shutting down' }) });
    const err = (await provider
      .send(outbound('pre-1', 'a@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err.retryable).toBe(true);
    expect(err.extra.httpStatus).toBe(421);
  });

  it('marks a connection dropped without a reply before DATA as retryable but not ambiguous', async () => {
    const { server, provider } = await setup({ dropAtRcpt: (_r, attempt) => attempt === 1 });
    const err = (await provider
      .send(outbound('drop-1', 'a@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retryable).toBe(true);
    expect(err.extra.smtpCode).toBeNull();
    expect(err.extra.httpStatus).toBe(0);
    expect(err.extra.dataSent).toBe(false);
    await provider.send(outbound('drop-1', 'a@example.com'));
    expect(server.messages).toHaveLength(1);
  });

  it('marks a refused connection as retryable and not ambiguous', async () => {
    const started = await setup();
    await started.server.close();
    server = undefined;
    const err = (await started.provider
      .send(outbound('down-1', 'a@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retryable).toBe(true);
    expect(err.extra.httpStatus).toBe(0);
    expect(err.extra.dataSent).toBe(false);
  });

  it('marks a reply that never comes (socket timeout after DATA) as ambiguous', async () => {
    const { provider } = await setup({ replyDelayMs: 1500 }, { socketTimeoutMs: 300 });
    const err = (await provider
      .send(outbound('slow-1', 'a@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err.retryable).toBe(true);
    expect(err.extra.httpStatus).toBeNull();
  });

  it('checks credentials when the server requires them', async () => {
    const { provider } = await setup(
      { auth: { user: 'u', pass: 'right' } },
      { auth: { user: 'u', pass: 'wrong' } },
    );
    const err = (await provider
      .send(outbound('auth-1', 'a@example.com'))
      .catch((e: unknown) => e)) as ProviderError;
    expect(err.retryable).toBe(false);
    expect(err.extra.smtpCode).toBe(535);
  });

  it('sends with the right credentials', async () => {
    const { server, provider } = await setup(
      { auth: { user: 'u', pass: 'right' } },
      { auth: { user: 'u', pass: 'right' } },
    );
    await provider.verify();
    await provider.send(outbound('auth-2', 'a@example.com'));
    expect(server.messages).toHaveLength(1);
  });

  it('has no status API: poll and findSent return null', async () => {
    const { provider } = await setup();
    const m = outbound('x', 'a@example.com');
    await expect(provider.poll('<x@notices.bank.example>', m)).resolves.toBeNull();
    await expect(provider.findSent(m, new Date())).resolves.toBeNull();
  });

  it('refuses a message without an email part', async () => {
    const { provider } = await setup();
    const m: OutboundMessage = { ...outbound('x', 'a@example.com'), email: undefined };
    await expect(provider.send(m)).rejects.toMatchObject({ retryable: false });
  });
});

describe('classifySmtpError', () => {
  it.each([
    [{ code: 'EENVELOPE', responseCode: 452, response: '452 4.5.3 Too many recipients' }, false, true, 452],
    [{ code: 'EMESSAGE', responseCode: 451, response: '451 4.3.0 Local error' }, true, true, 451],
    [{ code: 'EENVELOPE', responseCode: 553, response: '553 5.1.3 Bad address' }, false, false, 553],
    [{ code: 'EPROTOCOL', responseCode: 503, response: '503 5.5.1 Bad sequence' }, false, true, 503],
    [{ code: 'ECONNECTION' }, false, true, 0],
    [{ code: 'ECONNECTION' }, true, true, null],
    [{ code: 'ETIMEDOUT' }, true, true, null],
    [{ code: 'EENVELOPE' }, false, false, 0],
  ])('%j (data sent: %s) -> retryable %s, httpStatus %s', (err, dataSent, retryable, httpStatus) => {
    const pe = classifySmtpError(Object.assign(new Error('x'), err), dataSent);
    expect(pe.retryable).toBe(retryable);
    expect(pe.extra.httpStatus).toBe(httpStatus);
  });

  it('takes the code of a rejected recipient when the error itself has none', () => {
    const rcptErr = Object.assign(new Error('rcpt'), { responseCode: 550, response: '550 5.1.1 unknown' });
    const pe = classifySmtpError(
      Object.assign(new Error("Can't send mail - all recipients were rejected"), {
        code: 'EENVELOPE',
        rejectedErrors: [rcptErr],
      }),
      false,
    );
    expect(pe.retryable).toBe(false);
    expect(pe.extra.smtpCode).toBe(550);
    expect(pe.extra.enhancedCode).toBe('5.1.1');
  });
});
