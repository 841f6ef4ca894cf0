import { describe, expect, it } from '@jest/globals';
import { chainEvents, GENESIS_HASH, type JsonValue } from './chain.js';
import { ArtifactCollector, artifactExtension, beijingTime, certificateMarkdown } from './bundle.service.js';
import type { StoredCheckpoint } from './checkpoint.service.js';

const sha = (c: string) => c.repeat(64);

function events(payloads: { n: string | null; type: string; payload: JsonValue }[]) {
  return chainEvents(
    { seq: 0, hash: GENESIS_HASH },
    payloads.map((p) => ({
      caseId: 'C-1',
      notificationId: p.n,
      type: p.type,
      occurredAt: '2026-11-24T02:00:00.000Z',
      recordedAt: '2026-11-24T02:00:00.000Z',
      payload: p.payload,
    })),
  ).events;
}

describe('bundle service helpers', () => {
  it('names artifacts by notification id and media type, once per distinct file', () => {
    const c = new ArtifactCollector();
    for (const ev of events([
      {
        n: 'n1',
        type: 'message.rendered',
        payload: { sha256: sha('a'), mediaType: 'text/plain; charset=utf-8' },
      },
      {
        n: 'n1',
        type: 'message.rendered',
        payload: { sha256: sha('a'), mediaType: 'text/plain; charset=utf-8' },
      },
      {
        n: 'n1',
        type: 'message.rendered',
        payload: { sha256: sha('b'), mediaType: 'text/plain; charset=utf-8' },
      },
      {
        n: 'n2',
        type: 'message.rendered',
        payload: {
          sha256: sha('c'),
          mediaType: 'message/rfc822',
          attachments: [{ sha256: sha('d'), mediaType: 'application/pdf' }],
        },
      },
      { n: 'n3', type: 'message.rendered', payload: { sha256: 'not-a-hash', mediaType: 'application/pdf' } },
      { n: 'n3', type: 'provider.response', payload: { sha256: sha('e') } },
    ]))
      c.add(ev);
    expect(c.refs.map((r) => [r.name, r.sha256[0]])).toEqual([
      ['n1.txt', 'a'],
      ['n1-2.txt', 'b'],
      ['n2.eml', 'c'],
      ['n2-attachment-1.pdf', 'd'],
    ]);
    expect(artifactExtension('application/octet-stream')).toBe('.bin');
  });

  it('writes the certificate in Chinese with an escaped timeline table', () => {
    const checkpoint: StoredCheckpoint = {
      id: 7,
      reason: 'bundle',
      signed: {
        checkpoint: {
          version: 1,
          treeSize: 3,
          rootHash: sha('f'),
          createdAt: '2026-11-24T02:00:00.000Z',
          keyId: sha('1'),
        },
        body: '{}',
        signature: '',
      },
    };
    const md = certificateMarkdown(
      {
        caseId: 'C-1',
        debtorName: '张三',
        head: { seq: 9, hash: sha('9') },
        checkpoint,
        rows: [
          {
            seq: 3,
            time: '2026-11-24T02:00:00.000Z',
            notificationId: 'n1',
            channel: 'sms',
            event: 'receipt.received',
            detail: '',
            providerId: 'SM|1',
            receipt: 'delivered (delivered) sandbox',
          },
        ],
        omitted: 4,
        artifacts: 1,
        keyId: sha('1'),
        createdAt: new Date('2026-11-24T02:00:00.000Z'),
      },
      '示例银行',
    );
    expect(md).toContain(
      '| 2026-11-24 10:00:00 | 短信 | 收到回执 | SM\\|1 | delivered (delivered)（沙箱，不作证明） |',
    );
    expect(md).toContain('第 7 号，覆盖 3 个案件');
    expect(md).toContain('另有 4 条记录未列入上表');
    expect(beijingTime('2026-11-24T16:30:00.000Z')).toBe('2026-11-25 00:30:00');
  });
});
