import { describe, expect, it } from '@jest/globals';
import { chainEvents, GENESIS_HASH, type JsonValue } from './chain.js';
import { ArtifactCollector, artifactExtension, beijingTime, certificateMarkdown } from './bundle.service.js';
import type { StoredCheckpoint } from './checkpoint.service.js';
import { NoticeSummaryBuilder, summariseNotices, zonedTime } from './certificate.js';

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

  it('writes the certificate in Chinese, one section per notice, Beijing and local times', () => {
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
    const evs = chainEvents(
      { seq: 0, hash: GENESIS_HASH },
      [
        [
          'n1',
          'notification.accepted',
          {
            request: {
              channel: 'sms',
              recipient: { role: 'debtor', name: '张三', phone: '+8613800138000', timeZone: 'Asia/Shanghai' },
            },
          },
        ],
        ['n1', 'template.pinned', { key: 'early.sms.reminder', version: 3 }],
        ['n1', 'message.rendered', { sha256: sha('a'), mediaType: 'text/plain' }],
        ['n1', 'provider.response', { provider: 'twilio', providerMessageId: 'SM|1' }],
        ['n1', 'status.changed', { from: 'sending', to: 'sent' }],
        [
          'n1',
          'receipt.received',
          {
            outcome: 'delivered',
            providerStatus: 'delivered',
            sandbox: true,
            verification: { verified: true, via: 'sandbox' },
          },
        ],
        ['n1', 'status.changed', { from: 'sent', to: 'delivered' }],
        [
          'n2',
          'notification.accepted',
          {
            request: {
              stage: 'late',
              recipient: {
                role: 'contact',
                name: '李四',
                email: 'lisi@example.com',
                timeZone: 'Europe/London',
              },
            },
          },
        ],
        ['n2', 'template.pinned', { key: 'late.email.demand', version: 1 }],
        ['n2', 'provider.response', { provider: 'smtp', providerMessageId: '<m2@x>' }],
        [
          'n2',
          'receipt.received',
          {
            outcome: 'delivered',
            providerStatus: 'delivered',
            sandbox: false,
            verification: { verified: true, via: 'webhook' },
            raw: { source: 'email-event' },
          },
        ],
        ['n2', 'status.changed', { from: 'sent', to: 'delivered' }],
      ].map(([n, type, payload], i) => ({
        caseId: 'C-1',
        notificationId: n as string,
        type: type as string,
        occurredAt: new Date(Date.parse('2026-11-24T02:00:00.000Z') + i * 1000).toISOString(),
        recordedAt: '2026-11-24T02:00:00.000Z',
        payload: payload as JsonValue,
      })),
    ).events;
    const notices = summariseNotices(evs);
    expect(notices).toHaveLength(2);
    expect(notices[0]).toMatchObject({
      channel: 'sms',
      role: 'debtor',
      maskedAddress: '+86138****8000',
      templateKey: 'early.sms.reminder',
      templateVersion: 3,
      provider: 'twilio',
      providerMessageId: 'SM|1',
      status: 'delivered',
      proof: 'sandbox',
      seqs: [1, 7],
    });
    expect(notices[1]).toMatchObject({
      channel: 'email',
      role: 'contact',
      maskedAddress: 'l***@example.com',
      proof: 'legal',
    });
    const input = {
      caseId: 'C-1',
      debtorName: '张三',
      head: { seq: 12, hash: sha('9') },
      checkpoint,
      notices,
      omittedNotices: 4,
      artifacts: 1,
      keyId: sha('1'),
      createdAt: new Date('2026-11-24T02:00:00.000Z'),
    };
    const md = certificateMarkdown(input, { name: '示例银行', phone: '400' }, 'https://bank.example');
    expect(md).toContain('**通知 1：短信 · 本人**');
    expect(md).toContain('**通知 2：电子邮件 · 联系人**');
    expect(md).toContain('| 收件地址（已遮蔽） | +86138\\*\\*\\*\\*8000 |');
    expect(md).toContain('| 服务商消息编号 | SM\\|1 |');
    expect(md).toContain('| 模板及版本 | early.sms.reminder 第 3 版 |');
    expect(md).toContain('| 发出时间 | 2026-11-24 10:00:04 +08:00（北京时间） |');
    // A recipient in another zone: local time first, then Beijing time.
    expect(md).toContain(
      '| 送达时间 | 2026-11-24 02:00:10 +00:00 Europe/London（收件人当地时间）；2026-11-24 10:00:10 +08:00（北京时间） |',
    );
    expect(md).toContain('| 证明效力 | 沙箱，不作证明（测试模拟回执） |');
    expect(md).toContain('| 证明效力 | 可作送达证明（服务商真实回执） |');
    expect(md).toContain('| 回执来源 | 服务商签名回调（已送达；服务商状态 delivered） |');
    expect(md).toContain('| 最终状态 | 已送达 |');
    expect(md).toContain('第 7 号，覆盖 3 个案件');
    expect(md).toContain('另有 4 件通知未列入');
    expect(md).toContain('https://bank.example/v1/evidence/public-key');
    expect(md).not.toMatch(/receipt\.received|status\.changed|delivered \(/);
    const en = certificateMarkdown(
      input,
      { name: 'Example Bank', phone: '400' },
      'https://bank.example',
      'en',
    );
    expect(en).toContain('**Notice 2: Email · contact**');
    expect(en).toContain('| Evidential value | sandbox receipt, not proof |');
    expect(en).toContain('(Beijing time)');
    expect(beijingTime('2026-11-24T16:30:00.000Z')).toBe('2026-11-25 00:30:00');
  });

  it('summarises at most the first notices and counts the rest', () => {
    const b = new NoticeSummaryBuilder(1);
    const [verified] = events([{ n: 'a', type: 'document.verified', payload: { result: 'genuine' } }]);
    for (const e of events([
      { n: 'a', type: 'notification.accepted', payload: { request: { channel: 'sms' } } },
      { n: 'b', type: 'notification.accepted', payload: { request: { channel: 'sms' } } },
      { n: 'b', type: 'status.changed', payload: { to: 'sent' } },
    ]))
      b.add(e);
    b.add({ ...verified, seq: 9 });
    expect(b.notices().map((n) => n.notificationId)).toEqual(['a']);
    expect(b.notices()[0]).toMatchObject({ verifications: 1, seqs: [1, 1] });
    expect(b.omitted).toBe(1);
    expect(zonedTime('2026-06-01T00:00:00.000Z', 'America/New_York')).toBe('2026-05-31 20:00:00 -04:00');
  });
});
