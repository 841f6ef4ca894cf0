import { describe, expect, it } from '@jest/globals';
import { chainEvents, type ChainedEvent, GENESIS_HASH, type JsonValue } from './chain.js';
import { caseTimeline } from './legal-view.js';
import {
  assessEligibility,
  CASE_FACTS_EVENT,
  calendarDate,
  parseAmount,
  timelineOf,
  wholeMonthsBetween,
} from './eligibility.js';

const T = { minPrincipal: 10_000, minDelivered: 2, minMonthsNoPayment: 6 };
const AS_OF = new Date('2026-11-24T02:00:00.000Z');

type Spec = { n: string | null; type: string; payload: JsonValue };

function chain(specs: Spec[]): ChainedEvent[] {
  return chainEvents(
    { seq: 0, hash: GENESIS_HASH },
    specs.map((s) => ({
      caseId: 'C-1',
      notificationId: s.n,
      type: s.type,
      occurredAt: '2026-11-24T02:00:00.000Z',
      recordedAt: '2026-11-24T02:00:00.000Z',
      payload: s.payload,
    })),
  ).events;
}

function notice(
  n: string,
  data: Record<string, JsonValue>,
  opts: { sandbox?: boolean; role?: string } = {},
): Spec[] {
  const sandbox = opts.sandbox ?? false;
  return [
    {
      n,
      type: 'notification.accepted',
      payload: {
        request: { channel: 'sms', recipient: { role: opts.role ?? 'debtor', name: '张三' }, data },
      },
    },
    { n, type: 'provider.response', payload: { providerMessageId: `SM${n}` } },
    { n, type: 'receipt.received', payload: { outcome: 'delivered', providerStatus: 'delivered', sandbox } },
    { n, type: 'status.changed', payload: { from: 'sent', to: 'delivered', sandbox } },
  ];
}

const DATA = { outstandingPrincipal: '12,345.67', amountDue: '15000', lastPaymentDate: '2026-03-01' };

describe('legal-action eligibility', () => {
  it('is eligible with real receipts and names the proving seqs', () => {
    const events = chain([...notice('n1', DATA), ...notice('n2', DATA)]);
    const r = assessEligibility('C-1', events, T, AS_OF);
    expect(r.eligible).toBe(true);
    const [p, d, m] = r.criteria;
    expect(p).toMatchObject({
      id: 'outstanding_principal',
      met: true,
      value: 12345.67,
      source: 'data.outstandingPrincipal',
      evidenceSeqs: [5],
    });
    expect(d).toMatchObject({
      id: 'delivered_notices',
      met: true,
      value: 2,
      evidenceSeqs: [1, 3, 4, 5, 7, 8],
    });
    expect(m).toMatchObject({
      id: 'months_without_payment',
      met: true,
      value: 8,
      lastPaymentDate: '2026-03-01',
    });
    expect(r.head.seq).toBe(8);
  });

  it('never counts sandbox receipts, and says so', () => {
    const events = chain([
      ...notice('n1', DATA, { sandbox: true }),
      ...notice('n2', DATA, { sandbox: true }),
    ]);
    const r = assessEligibility('C-1', events, T, AS_OF);
    expect(r.eligible).toBe(false);
    const d = r.criteria[1];
    expect(d).toMatchObject({ met: false, value: 0, sandboxOnly: 2, evidenceSeqs: [] });
    expect(d.reason).toMatch(/sandbox/);
  });

  it('falls back to amountDue, reports an unknown last payment as not met', () => {
    const events = chain(notice('n1', { amountDue: 9999.5 }));
    const r = assessEligibility('C-1', events, T, AS_OF);
    expect(r.criteria[0]).toMatchObject({ met: false, value: 9999.5, source: 'data.amountDue' });
    expect(r.criteria[2]).toMatchObject({ met: false, value: null });
    expect(r.criteria[2].reason).toMatch(/unknown/);
  });

  it('uses the latest accepted notice and ignores notices to contacts', () => {
    const events = chain([
      ...notice('n1', DATA),
      ...notice('n2', { outstandingPrincipal: 500, lastPaymentDate: '2026-10-01' }),
      ...notice('n3', DATA, { role: 'contact' }),
    ]);
    const r = assessEligibility('C-1', events, { ...T, minDelivered: 3 }, AS_OF);
    // n3 (a contact) carries the latest data, but its delivery is not a notice to the debtor.
    expect(r.criteria[0]).toMatchObject({ value: 12345.67, evidenceSeqs: [9] });
    expect(r.criteria[1]).toMatchObject({ value: 2, met: false });
  });

  it('parses amounts and dates strictly', () => {
    expect(parseAmount('¥10,000.00')).toBe(10000);
    expect(parseAmount('ten')).toBeNull();
    expect(calendarDate('2026-02-30')).toBeNull();
    expect(calendarDate('2026-05-31T10:00:00Z')).toBe('2026-05-31');
    expect(wholeMonthsBetween('2026-05-31', new Date('2026-11-29T16:00:00Z'))).toBe(5); // 11-30 in Beijing
    expect(wholeMonthsBetween('2026-05-24', new Date('2026-11-23T16:00:00Z'))).toBe(6); // 11-24 in Beijing
  });

  it('takes the last payment date and principal from recorded case facts, the latest by seq', () => {
    const noDate = { amountDue: '15000' };
    const facts = (payload: JsonValue): Spec => ({ n: null, type: CASE_FACTS_EVENT, payload });
    const events = chain([
      ...notice('n1', noDate),
      facts({ lastPaymentDate: '2026-04-01', principal: '38000.00', actor: 'bank' }),
      ...notice('n2', { principal: '20000', lastPaymentDate: '2026-10-01' }),
      facts({ lastPaymentDate: '2026-05-10', actor: 'bank' }),
    ]);
    const [p, , m] = assessEligibility('C-1', events, T, AS_OF).criteria;
    // The second notice's principal is later than the first fact; the second fact's date is the latest.
    expect(p).toMatchObject({ value: 20000, source: 'data.principal', evidenceSeqs: [6] });
    expect(m).toMatchObject({
      met: true,
      value: 6,
      source: 'facts.lastPaymentDate',
      lastPaymentDate: '2026-05-10',
      evidenceSeqs: [10],
    });
    const onlyFacts = assessEligibility(
      'C-1',
      chain([...notice('n1', noDate), facts({ principal: '9000' })]),
      T,
      AS_OF,
    );
    expect(onlyFacts.criteria[0]).toMatchObject({ value: 9000, met: false, source: 'facts.principal' });
    expect(onlyFacts.criteria[2]).toMatchObject({ value: null, met: false, source: null });
  });

  it('labels the case view: event names, one summary per notice with its receipts', () => {
    const events = chain([...notice('n1', DATA, { sandbox: true }), ...notice('n2', DATA)]);
    const zh = caseTimeline('C-1', events, 'zh-CN');
    expect(zh.rows.map((r) => r.label).slice(0, 4)).toEqual([
      '受理通知请求',
      '服务商已接收',
      '收到回执',
      '状态变更',
    ]);
    expect(zh.notices.map((n) => [n.notificationId, n.labels.channel, n.labels.status, n.proof])).toEqual([
      ['n1', '短信', '已送达', 'sandbox'],
      ['n2', '短信', '已送达', 'legal'],
    ]);
    expect(zh.notices[0].receipts).toEqual([
      expect.objectContaining({ seq: 3, outcomeLabel: '已送达', sandbox: true }),
    ]);
    expect(zh.notices[1].labels.proof).toBe('可作送达证明（服务商真实回执）');
    const en = caseTimeline('C-1', events, 'en');
    expect(en.rows[2].label).toBe('Receipt received');
    expect(en.notices[0].labels.channel).toBe('Text message');
  });

  it('builds a timeline with channel, provider id and receipt', () => {
    const rows = timelineOf(chain(notice('n1', DATA, { sandbox: true })));
    expect(rows.map((r) => r.event)).toEqual([
      'notification.accepted',
      'provider.response',
      'receipt.received',
      'status.changed',
    ]);
    expect(rows[2]).toMatchObject({
      channel: 'sms',
      providerId: 'SMn1',
      receipt: 'delivered (delivered) sandbox',
    });
    expect(rows[3].detail).toBe('sent → delivered');
  });
});
