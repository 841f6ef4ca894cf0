import { describe, expect, it } from '@jest/globals';
import {
  domainOfAddress,
  messageIdFor,
  normaliseMessageId,
  notificationIdFromMessageId,
} from './message-id.js';

describe('Message-IDs from notification ids', () => {
  it('wraps a UUID as it is and reads it back', () => {
    const id = '3f1c9a52-7d4e-4b1a-9c2f-5e8d6a0b1c23';
    const mid = messageIdFor(id, 'Notices.Bank.Example');
    expect(mid).toBe(`<${id}@notices.bank.example>`);
    expect(notificationIdFromMessageId(mid, 'notices.bank.example')).toBe(id);
    expect(notificationIdFromMessageId(mid, 'other.example')).toBeNull();
  });

  it('encodes characters that may not appear in a Message-ID, reversibly', () => {
    for (const id of ['a b<c>@d', '.lead', 'trail.', 'a..b', '通知-1', 'x=41']) {
      const mid = messageIdFor(id, 'x.example');
      expect(mid).toMatch(/^<[A-Za-z0-9._=-]+@x\.example>$/);
      expect(mid).not.toMatch(/<\.|\.@|\.\./);
      expect(notificationIdFromMessageId(mid)).toBe(id);
    }
  });

  it('normalises ids with or without brackets and surrounding text', () => {
    expect(normaliseMessageId(' <a@b> ')).toBe('<a@b>');
    expect(normaliseMessageId('a@b')).toBe('<a@b>');
    expect(normaliseMessageId('')).toBeNull();
    expect(domainOfAddress('"示例银行" <notices@Notices.Bank.Example>')).toBe('notices.bank.example');
    expect(domainOfAddress('nobody')).toBeNull();
  });
});
