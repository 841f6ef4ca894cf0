import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { dsnVerdict, parseDsn, parseFieldGroups } from './dsn.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

describe('parseDsn', () => {
  it('reads a hard bounce (Postfix, 5.1.1, original headers as text/rfc822-headers)', async () => {
    const receipts = await parseDsn(fixture('dsn-hard-bounce.eml'), {
      messageIdDomain: 'notices.examplebank.cn',
    });
    expect(receipts).toHaveLength(1);
    const [r] = receipts;
    expect(r).toMatchObject({
      provider: 'smtp',
      providerMessageId: '<3f1c9a52-7d4e-4b1a-9c2f-5e8d6a0b1c23@notices.examplebank.cn>',
      notificationId: '3f1c9a52-7d4e-4b1a-9c2f-5e8d6a0b1c23',
      outcome: 'undelivered',
      bounce: 'hard',
      providerStatus: 'failed',
      errorCode: '5.1.1',
      sandbox: false,
    });
    expect(r.complaint).toBeUndefined();
    expect(r.occurredAt.toISOString()).toBe('2026-05-12T02:15:03.000Z');
    expect(r.raw).toMatchObject({
      source: 'dsn',
      finalRecipient: 'wang.fang.0417@example.com',
      reportingMta: 'mx1.notices.examplebank.cn',
      remoteMta: 'mx.example.com',
      status: '5.1.1',
    });
    // A folded Diagnostic-Code is unfolded into one line.
    expect((r.raw as Record<string, string>).diagnosticCode).toBe(
      'smtp; 550 5.1.1 <wang.fang.0417@example.com>: Recipient address rejected: User unknown in virtual mailbox table',
    );
  });

  it('reads a soft bounce (delayed, 4.2.2, original message as message/rfc822)', async () => {
    const receipts = await parseDsn(fixture('dsn-soft-bounce.eml'));
    expect(receipts).toHaveLength(1);
    const [r] = receipts;
    expect(r).toMatchObject({
      providerMessageId: '<9d0e7b14-2a6c-4f85-b3e1-7c2a9f4d5e60@notices.examplebank.cn>',
      // No domain given: the notification id is not guessed.
      notificationId: null,
      outcome: 'queued',
      bounce: 'soft',
      providerStatus: 'delayed',
      errorCode: '4.2.2',
    });
    expect(r.occurredAt.toISOString()).toBe('2026-05-13T06:02:44.000Z');
    expect(r.raw).toMatchObject({
      finalRecipient: 'li.na@example.org',
      willRetryUntil: 'Mon, 18 May 2026 02:02:31 +0000',
      diagnosticCode: 'SMTP; 452 4.2.2 Mailbox full',
    });
  });

  it('gives one receipt per recipient; a failure after retries on a 4.x.x status is undelivered but soft', async () => {
    const receipts = await parseDsn(fixture('dsn-expired-multi.eml'), {
      messageIdDomain: 'notices.examplebank.cn',
    });
    expect(
      receipts.map((r) => [
        r.outcome,
        r.bounce,
        r.errorCode,
        (r.raw as { finalRecipient: string }).finalRecipient,
      ]),
    ).toEqual([
      ['undelivered', 'soft', '4.4.7', 'li.na@example.org'],
      ['delivered', undefined, '2.0.0', 'guarantor.zhao@example.net'],
    ]);
    expect(new Set(receipts.map((r) => r.notificationId))).toEqual(
      new Set(['5e0c2d7a-90ab-4cde-8f01-23456789abcd']),
    );
  });

  it('reads a feedback-report (ARF) complaint as delivered + complaint', async () => {
    const [r, ...rest] = await parseDsn(fixture('arf-complaint.eml'));
    expect(rest).toHaveLength(0);
    expect(r).toMatchObject({
      providerMessageId: '<a7c4e2f0-61b9-4d3e-8f15-2b9d0c6e7a14@notices.examplebank.cn>',
      outcome: 'delivered',
      complaint: true,
      providerStatus: 'complaint:abuse',
    });
    expect(r.bounce).toBeUndefined();
    expect(r.occurredAt.toISOString()).toBe('2026-05-14T08:58:12.000Z');
  });

  it('ignores mail that is not a report (an auto-reply)', async () => {
    const autoReply = [
      'From: li.na@example.org',
      'To: notices@notices.examplebank.cn',
      'Subject: 自动回复: 账单到期提醒',
      'Auto-Submitted: auto-replied',
      'Message-ID: <ooo-1@example.org>',
      'Content-Type: text/plain; charset=utf-8',
      '',
      '我正在休假，5 月 20 日回来。',
      '',
    ].join('\r\n');
    await expect(parseDsn(autoReply)).resolves.toEqual([]);
  });

  it('prefers an Original-Message-ID field over the returned headers', async () => {
    const text = fixture('dsn-hard-bounce.eml')
      .toString('utf8')
      .replace(
        'Reporting-MTA: dns; mx1.notices.examplebank.cn',
        'Reporting-MTA: dns; mx1.notices.examplebank.cn\r\nOriginal-Message-ID: <other-id@notices.examplebank.cn>',
      );
    const [r] = await parseDsn(text);
    expect(r.providerMessageId).toBe('<other-id@notices.examplebank.cn>');
  });
});

describe('dsnVerdict', () => {
  it.each([
    ['failed', '5.1.1', 'undelivered', 'hard'],
    ['failed', '4.4.7', 'undelivered', 'soft'],
    ['failed', null, 'undelivered', 'soft'],
    ['delayed', '4.2.2', 'queued', 'soft'],
    ['delivered', '2.0.0', 'delivered', undefined],
    ['relayed', '2.0.0', 'sent', undefined],
    ['something', '2.0.0', 'unknown', undefined],
  ])('%s %s -> %s %s', (action, status, outcome, bounce) => {
    expect(dsnVerdict(action, status)).toEqual(bounce ? { outcome, bounce } : { outcome });
  });
});

describe('parseFieldGroups', () => {
  it('splits groups on blank lines, unfolds continuations and keeps the first of a repeated field', () => {
    const groups = parseFieldGroups('A: 1\r\nB: x\r\n  y\r\nA: 2\r\n\r\n\r\nC: 3\n');
    expect(groups.map((g) => Object.fromEntries(g))).toEqual([{ a: '1', b: 'x y' }, { c: '3' }]);
  });
});
