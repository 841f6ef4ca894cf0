import { describe, expect, it } from '@jest/globals';
import { chainEvents, type ChainedEvent, GENESIS_HASH, type JsonValue } from './chain.js';
import {
  assessEligibility,
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
