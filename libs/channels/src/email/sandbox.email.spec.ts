import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { NormalisedReceipt, OutboundMessage } from '../provider.js';
import { SandboxEmailProvider } from './sandbox.email.js';

function msg(id: string, to: string): OutboundMessage {
  return {
    notificationId: id,
    channel: 'email',
    to,
    webhookBaseUrl: 'http://127.0.0.1/webhooks',
    email: { subject: '提醒', text: '正文', html: '<p>正文</p>' },
  };
}

async function collect(p: SandboxEmailProvider, count: number): Promise<NormalisedReceipt[]> {
  const got: NormalisedReceipt[] = [];
  await new Promise<void>((resolve) => {
    p.setReceiptSink(async (r) => {
      got.push(r);
      if (got.length === count) resolve();
    });
  });
  return got;
}

describe('SandboxEmailProvider', () => {
  const p = new SandboxEmailProvider(5);
  afterEach(() => p.stop());

  it('delivers ordinary addresses, with a provider id derived from ours', async () => {
    const receipts = collect(p, 4);
    const res = await p.send(msg('n-1', 'li.na@example.org'));
    expect(res.providerMessageId).toBe('<n-1@sandbox.invalid>');
    expect((await p.send(msg('n-1', 'li.na@example.org'))).providerMessageId).toBe(res.providerMessageId);
    const got = await receipts;
    expect(got.map((r) => r.outcome).sort()).toEqual(['delivered', 'delivered', 'sent', 'sent']);
    expect(
      got.every(
        (r) => r.sandbox && r.providerMessageId === res.providerMessageId && r.notificationId === 'n-1',
      ),
    ).toBe(true);
    expect(got.some((r) => r.bounce !== undefined)).toBe(false);
  });

  it('takes the stored .eml as the message and records the SHA-256 of exactly those bytes', async () => {
    const raw = Buffer.from('Message-ID: <n-r@notices.bank.example>\r\nSubject: x\r\n\r\nbody\r\n');
    const m = msg('n-r', 'li.na@example.org');
    const res = await p.send({ ...m, email: { ...m.email!, raw } });
    expect(res.request).toMatchObject({
      sha256: createHash('sha256').update(raw).digest('hex'),
      size: raw.length,
    });
    // Bytes an SMTP client would rewrite (bare LF) are refused, as the SMTP provider does.
    const bare = Buffer.from(raw.toString().replace(/\r\n/g, '\n'));
    await expect(p.send({ ...m, email: { ...m.email!, raw: bare } })).rejects.toMatchObject({
      retryable: false,
    });
  });

  it('refuses a message without an email part or address', async () => {
    await expect(p.send({ ...msg('n-x', 'a@example.com'), email: undefined })).rejects.toMatchObject({
      retryable: false,
    });
    await expect(p.send(msg('n-x', ''))).rejects.toMatchObject({ retryable: false });
  });

  it('hard-bounces addresses whose local part ends in 0000', async () => {
    const sink: NormalisedReceipt[] = [];
    const q = new SandboxEmailProvider(1);
    q.setReceiptSink(async (r) => {
      sink.push(r);
    });
    await q.send(msg('n-2', 'debtor.0000@example.com'));
    await new Promise((r) => setTimeout(r, 30));
    q.stop();
    expect(sink.map((r) => [r.outcome, r.bounce ?? null])).toEqual([
      ['sent', null],
      ['undelivered', 'hard'],
    ]);
    expect(sink.every((r) => r.sandbox)).toBe(true);
    // 0000 in the domain does not count.
    expect(SandboxEmailProvider.fate('debtor@mail0000.example.com')).toBe('delivered');
  });

  it('reports a complaint after delivery for local parts ending in 0002', async () => {
    const sink: NormalisedReceipt[] = [];
    const q = new SandboxEmailProvider(1);
    q.setReceiptSink(async (r) => {
      sink.push(r);
    });
    await q.send(msg('n-3', 'x0002@example.com'));
    await new Promise((r) => setTimeout(r, 40));
    q.stop();
    expect(sink.map((r) => [r.outcome, r.complaint ?? false])).toEqual([
      ['sent', false],
      ['delivered', false],
      ['delivered', true],
    ]);
  });

  it('polls the final state and knows nothing of other ids', async () => {
    const m = msg('n-4', 'a0000@example.com');
    const r = await p.poll('<n-4@sandbox.invalid>', m);
    expect(r).toMatchObject({ outcome: 'undelivered', bounce: 'hard', sandbox: true });
    await expect(p.poll('<other@sandbox.invalid>', m)).resolves.toBeNull();
  });

  it('stop() cancels pending receipts', async () => {
    const sink: NormalisedReceipt[] = [];
    const q = new SandboxEmailProvider(20);
    q.setReceiptSink(async (r) => {
      sink.push(r);
    });
    await q.send(msg('n-5', 'a@example.com'));
    q.stop();
    await new Promise((r) => setTimeout(r, 40));
    expect(sink).toEqual([]);
  });
});
