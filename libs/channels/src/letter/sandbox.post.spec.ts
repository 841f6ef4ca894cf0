import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { PostalAddress } from '#libs/core';
import { ProviderError } from '#libs/core';
import type { NormalisedReceipt, OutboundMessage } from '../provider.js';
import { SandboxPostProvider } from './sandbox.post.js';

function message(id: string, postcode: string): OutboundMessage {
  const pdf = Buffer.from(`%PDF-1.7\n% sandbox ${id}\n%%EOF\n`);
  const address: PostalAddress = {
    country: 'CN',
    province: '北京市',
    district: '朝阳区',
    street: '建国路88号',
    postcode,
  };
  return {
    notificationId: id,
    channel: 'letter',
    to: 'key',
    webhookBaseUrl: '',
    letter: {
      documentId: `DOC-${id}`,
      pdf,
      pdfSha256: createHash('sha256').update(pdf).digest('hex'),
      recipientName: '王五',
      address,
      service: 'registered',
    },
  };
}

async function collect(p: SandboxPostProvider, n: number): Promise<NormalisedReceipt[]> {
  const got: NormalisedReceipt[] = [];
  await new Promise<void>((resolve) => {
    p.setReceiptSink(async (r) => {
      got.push(r);
      if (got.length === n) resolve();
    });
  });
  return got;
}

describe('SandboxPostProvider', () => {
  const p = new SandboxPostProvider(20);
  afterEach(() => p.stop());

  it('reports printed, mailed, delivered signed by SANDBOX, all marked sandbox', async () => {
    const done = collect(p, 3);
    const res = await p.send(message('n-1', '100022'));
    const receipts = await done;
    expect(res.providerMessageId).toBe(SandboxPostProvider.providerId('n-1'));
    expect(receipts.map((r) => [r.outcome, r.postEvent ?? null, r.signer ?? null])).toEqual([
      ['queued', 'printed', null],
      ['sent', 'mailed', null],
      ['delivered', null, 'SANDBOX'],
    ]);
    expect(receipts.every((r) => r.sandbox && r.notificationId === 'n-1')).toBe(true);
  });

  it('returns letters to postcodes ending in 0000 as bad_address', async () => {
    const done = collect(p, 3);
    await p.send(message('n-2', '100000'));
    const last = (await done)[2];
    expect(last).toMatchObject({
      outcome: 'undelivered',
      postEvent: 'returned',
      returnReason: 'bad_address',
      sandbox: true,
    });
    const polled = await p.poll(SandboxPostProvider.providerId('n-2'), message('n-2', '100000'));
    expect(polled?.returnReason).toBe('bad_address');
    expect(await p.poll('other', message('n-2', '100000'))).toBeNull();
  });

  it('gives a repeated send the same id and rejects invalid letters like a real adapter', async () => {
    const a = await p.send(message('n-3', '100022'));
    const b = await p.send(message('n-3', '100022'));
    expect(a.providerMessageId).toBe(b.providerMessageId);
    const bad = message('n-4', '12345');
    await expect(p.send(bad)).rejects.toMatchObject({
      retryable: false,
      extra: { providerCode: 'invalid_address' },
    });
    const tampered = message('n-5', '100022');
    tampered.letter = { ...tampered.letter!, pdfSha256: '0'.repeat(64) };
    await expect(p.send(tampered)).rejects.toBeInstanceOf(ProviderError);
  });

  it('stop cancels pending receipts', async () => {
    const got: NormalisedReceipt[] = [];
    const slow = new SandboxPostProvider(50);
    slow.setReceiptSink(async (r) => void got.push(r));
    await slow.send(message('n-6', '100022'));
    await new Promise((r) => setTimeout(r, 5));
    slow.stop();
    await new Promise((r) => setTimeout(r, 80));
    expect(got.map((r) => r.providerStatus)).toEqual(['printed']);
  });
});
