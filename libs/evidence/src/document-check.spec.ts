import { describe, expect, it } from '@jest/globals';
import { maskPostalAddress } from '#libs/core';
import type { ChainedEvent } from './chain.js';
import {
  checkDocument,
  clientPseudonym,
  type IssuedDocument,
  isIssued,
  maskName,
  normaliseSha256,
  publicView,
  recordedArtifacts,
  supersedingNotice,
} from './document-check.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function doc(over: Partial<IssuedDocument> = {}): IssuedDocument {
  return {
    documentId: 'd-1',
    caseId: 'C-1',
    channel: 'letter',
    stage: 'late',
    templateKey: 'late.letter.demand',
    templateVersion: 1,
    status: 'sent',
    issuedOn: '2026-11-24',
    recipient: {
      role: 'debtor',
      name: '张三丰',
      address: { province: '上海市', city: '上海市', district: '浦东新区' },
    },
    artifacts: [
      { sha256: A, mediaType: 'application/pdf', part: 'document' },
      { sha256: B, mediaType: 'application/pdf', part: 'attachment' },
    ],
    supersededBy: null,
    ...over,
  };
}

function ev(type: string, payload: ChainedEvent['payload']): ChainedEvent {
  return {
    seq: 1,
    caseId: 'C-1',
    notificationId: 'd-1',
    type,
    occurredAt: '',
    recordedAt: '',
    payload,
    prevHash: '',
    hash: '',
  };
}

describe('document check', () => {
  it('a recorded file is genuine, anything else and anything unissued is not issued', () => {
    expect(checkDocument(doc(), A)).toEqual({ result: 'genuine', state: 'current', part: 'document' });
    expect(checkDocument(doc(), B)).toMatchObject({ result: 'genuine', part: 'attachment' });
    expect(checkDocument(doc(), 'c'.repeat(64))).toEqual({ result: 'not_issued' });
    expect(checkDocument(null, A)).toEqual({ result: 'not_issued' });
    for (const status of ['accepted', 'scheduled', 'sending', 'suppressed', 'failed']) {
      expect(isIssued(doc({ status }))).toBe(false);
      expect(checkDocument(doc({ status }), A)).toEqual({ result: 'not_issued' });
    }
    expect(checkDocument(doc({ artifacts: [] }), A)).toEqual({ result: 'not_issued' });
  });

  it('cancelled and superseded documents are genuine but not current', () => {
    expect(checkDocument(doc({ status: 'cancelled' }), A)).toMatchObject({ state: 'cancelled' });
    const later = doc({ supersededBy: { documentId: 'd-2', issuedOn: '2026-12-01' } });
    expect(checkDocument(later, A)).toMatchObject({ state: 'superseded' });
    expect(publicView(later, 'Bank', 'zh-CN')).toMatchObject({
      state: 'superseded',
      supersededOn: '2026-12-01',
    });
  });

  it('the public view is masked and the same for unknown and unissued ids', () => {
    const v = publicView(doc(), '示例银行', 'zh-CN');
    expect(v).toMatchObject({
      issued: true,
      documentType: '信函（后期催收）',
      maskedRecipient: '张**（本人），上海市****',
      sha256: A,
      attachments: [{ sha256: B }],
    });
    expect(JSON.stringify(v)).not.toContain('浦东');
    expect(publicView(doc(), 'Bank', 'en')).toMatchObject({ documentType: 'Letter (late-stage collection)' });
    expect(publicView(null, 'Bank', 'zh-CN')).toEqual({ issued: false, bankName: 'Bank' });
    expect(publicView(doc({ status: 'accepted' }), 'Bank', 'zh-CN')).toEqual({
      issued: false,
      bankName: 'Bank',
    });
    const sms = publicView(
      doc({ channel: 'sms', recipient: { role: 'contact', name: 'Li Si', phone: '+8613800138000' } }),
      'B',
      'en',
    );
    expect(sms).toMatchObject({ maskedRecipient: 'L*** S*** (contact), +86138****8000' });
  });

  it('masks names and addresses', () => {
    expect(maskName('张三')).toBe('张*');
    expect(maskName('欧阳娜娜')).toBe('欧***');
    expect(maskName('王')).toBe('*');
    expect(maskName('𠮷野家')).toBe('𠮷**');
    expect(maskPostalAddress({ province: '浙江省', city: '杭州市' })).toBe('浙江省杭州市****');
  });

  it('normalises pasted hashes', () => {
    expect(normaliseSha256(` ${A.toUpperCase().replace(/(.{8})/g, '$1 ')}`)).toBe(A);
    expect(normaliseSha256(`SHA256:${A}`)).toBe(A);
    expect(normaliseSha256('ab:cd'.repeat(16).replace(/:/g, ''))).toBe('abcd'.repeat(16));
    expect(normaliseSha256('xyz')).toBeNull();
    expect(normaliseSha256(A + 'a')).toBeNull();
  });

  it('reads the latest render and its attachments from the evidence', () => {
    const arts = recordedArtifacts([
      ev('message.rendered', { sha256: B, mediaType: 'text/plain' }),
      ev('provider.response', { sha256: 'c'.repeat(64) }),
      ev('message.rendered', {
        sha256: A,
        mediaType: 'message/rfc822',
        attachments: [{ sha256: B, mediaType: 'application/pdf' }, { sha256: 'bad' }],
      }),
    ]);
    expect(arts).toEqual([
      { sha256: A, mediaType: 'message/rfc822', part: 'document' },
      { sha256: B, mediaType: 'application/pdf', part: 'attachment' },
    ]);
  });

  it('a later sent notice to the same address over the same channel supersedes', () => {
    const self = { id: 'd-1', channel: 'letter', recipientAddress: 'x', createdAt: 100 };
    const s = (id: string, over: object) => ({
      id,
      channel: 'letter',
      recipientAddress: 'x',
      status: 'sent',
      createdAt: 200,
      issuedOn: '2026-12-01',
      ...over,
    });
    expect(supersedingNotice(self, [])).toBeNull();
    expect(supersedingNotice(self, [s('d-0', { createdAt: 50 })])).toBeNull();
    expect(supersedingNotice(self, [s('e', { channel: 'email' })])).toBeNull();
    expect(supersedingNotice(self, [s('o', { recipientAddress: 'y' })])).toBeNull();
    expect(supersedingNotice(self, [s('f', { status: 'failed' })])).toBeNull();
    expect(
      supersedingNotice(self, [s('d-2', {}), s('d-3', { createdAt: 300, issuedOn: '2026-12-09' })]),
    ).toEqual({
      documentId: 'd-3',
      issuedOn: '2026-12-09',
    });
  });

  it('client pseudonyms are keyed and do not contain the address', () => {
    const p = clientPseudonym('203.0.113.7', 'k1');
    expect(p).toMatch(/^[0-9a-f]{16}$/);
    expect(clientPseudonym('203.0.113.7', 'k1')).toBe(p);
    expect(clientPseudonym('203.0.113.7', 'k2')).not.toBe(p);
    expect(clientPseudonym('203.0.113.8', 'k1')).not.toBe(p);
  });
});
