import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { simpleParser } from 'mailparser';
import { verifyDkimRelaxed } from '../../../../test/support/dkim.js';
import {
  composeEml,
  dkimSignatures,
  dkimSign,
  emlHeader,
  type EmlInput,
  isWireForm,
  toWireForm,
} from './eml.js';
import { listUnsubscribeHeaders } from './unsubscribe.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const DKIM = {
  domainName: 'notices.bank.example',
  keySelector: 'n2026',
  privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};

function input(over: Partial<EmlInput> = {}): EmlInput {
  const pdf = Buffer.alloc(5000);
  for (let i = 0; i < pdf.length; i++) pdf[i] = (i * 37) % 256;
  return {
    from: '"示例银行信用卡中心" <notices@notices.bank.example>',
    to: 'wang.fang@example.com',
    subject: '信用卡账单逾期提醒',
    text: '王芳女士：\n您的账单已逾期 12 天。\n.以点开头的一行\n',
    html: '<p>王芳女士：</p><p>您的账单已逾期 <b>12</b> 天。</p>',
    messageId: '<n-1@notices.bank.example>',
    date: new Date('2026-11-24T02:00:00.000Z'),
    headers: listUnsubscribeHeaders('https://notices.bank.example/unsubscribe?t=abc'),
    attachments: [{ filename: '催收函.pdf', contentType: 'application/pdf', content: pdf }],
    ...over,
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('composeEml', () => {
  it('gives the same bytes every time for the same input (boundaries included), signed or not', async () => {
    const [a, b] = await Promise.all([composeEml(input()), composeEml(input())]);
    expect(sha(a)).toBe(sha(b));
    const [c, d] = await Promise.all([composeEml(input(), DKIM), composeEml(input(), DKIM)]);
    expect(sha(c)).toBe(sha(d));
    expect(a.toString('latin1')).toMatch(/boundary="--_NmP-[0-9a-f]{32}-Part_1"/);
  });

  it('changes the boundaries when the content changes', async () => {
    const a = (await composeEml(input())).toString('latin1');
    const b = (await composeEml(input({ text: 'other text' }))).toString('latin1');
    const boundary = (s: string) => /boundary="([^"]+)"/.exec(s)?.[1];
    expect(boundary(a)).toBeDefined();
    expect(boundary(a)).not.toBe(boundary(b));
  });

  it('is in wire form, carries our Message-ID, Date and List-Unsubscribe, and parses back', async () => {
    const eml = await composeEml(input(), DKIM);
    expect(isWireForm(eml)).toBe(true);
    expect(emlHeader(eml, 'message-id')).toBe('<n-1@notices.bank.example>');
    expect(emlHeader(eml, 'Date')).toBe('Tue, 24 Nov 2026 02:00:00 +0000');
    expect(emlHeader(eml, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    const p = await simpleParser(eml);
    expect(p.subject).toBe('信用卡账单逾期提醒');
    expect(p.text).toContain('.以点开头的一行');
    expect(sha(p.attachments[0].content)).toBe(sha(input().attachments![0].content));
  });

  it('puts one DKIM-Signature first that verifies and covers Message-ID and List-Unsubscribe', async () => {
    const eml = await composeEml(input(), DKIM);
    expect(eml.subarray(0, 15).toString()).toBe('DKIM-Signature:');
    expect(dkimSignatures(eml)).toEqual([{ domain: 'notices.bank.example', selector: 'n2026' }]);
    const tags = verifyDkimRelaxed(eml, publicKey);
    expect(tags.h.split(':')).toEqual(
      expect.arrayContaining([
        'from',
        'subject',
        'date',
        'message-id',
        'list-unsubscribe',
        'list-unsubscribe-post',
      ]),
    );
    // One changed byte in the body breaks the body hash.
    const tampered = Buffer.from(eml);
    tampered[tampered.length - 10] ^= 1;
    expect(() => verifyDkimRelaxed(tampered, publicKey)).toThrow(/body hash/);
  });

  it('without DKIM has no signature', async () => {
    expect(dkimSignatures(await composeEml(input()))).toEqual([]);
  });

  it('refuses to pass off an unsigned message when the key cannot sign', async () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(dkimSign(await composeEml(input()), { ...DKIM, privateKey: ed })).rejects.toThrow(/DKIM/);
  });
});

describe('wire form', () => {
  it.each([
    ['a\r\nb\r\n', true],
    ['a\nb\r\n', false],
    ['a\rb\r\n', false],
    ['a\r\nb', false],
    ['\n', false],
  ])('%j -> %s', (text, ok) => {
    expect(isWireForm(Buffer.from(text))).toBe(ok);
    expect(isWireForm(toWireForm(Buffer.from(text)))).toBe(true);
  });

  it('keeps every other byte', () => {
    const bytes = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x2e, 0x80, 0x0d, 0x0a]);
    expect(toWireForm(bytes).equals(bytes)).toBe(true);
  });
});
