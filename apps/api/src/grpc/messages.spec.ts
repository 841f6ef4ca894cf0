import { describe, expect, it } from '@jest/globals';
import { isAutomaticRequest, OptOutBodySchema, parseCreateNotification, parseStrict } from '#libs/contracts';
import { ValidationError } from '#libs/core';
import { notificationMessage, type SendRequestMsg, toCreateBody, toOptOutBody } from './messages.js';

/** A SendRequest as proto-loader decodes it: every scalar present with its proto3 default. */
function decoded(over: Partial<SendRequestMsg>): SendRequestMsg {
  return {
    idempotencyKey: '',
    caseId: 'C-1',
    channel: '',
    templateKey: '',
    locale: '',
    recipient: {
      role: 'debtor',
      name: '张三',
      phone: '+8613800138000',
      email: '',
      address: null,
      timeZone: '',
    },
    dataJson: '{"amountDue":"1.00"}',
    stage: '',
    ...over,
  };
}

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.fields.map((f) => f.path);
    throw e;
  }
  return [];
}

describe('gRPC SendRequest -> the REST body', () => {
  it('dpd 0 (proto3 optional, present) is automatic mode; an unset dpd is absent', () => {
    const auto = parseCreateNotification(toCreateBody(decoded({ dpd: 0 })));
    expect(isAutomaticRequest(auto)).toBe(true);
    expect(auto).toMatchObject({ caseId: 'C-1', dpd: 0, locale: 'zh-CN' });
    expect(auto.recipient.timeZone).toBe('Asia/Shanghai');
    expect(toCreateBody(decoded({}))).not.toHaveProperty('dpd');
    expect(fieldsOf(() => parseCreateNotification(toCreateBody(decoded({}))))).toContain('(body)');
  });

  it('stage alone is automatic; with channel + template key it is refused naming both', () => {
    expect(isAutomaticRequest(parseCreateNotification(toCreateBody(decoded({ stage: 'late' }))))).toBe(true);
    const both = decoded({ stage: 'late', channel: 'sms', templateKey: 'early.sms.reminder' });
    expect(fieldsOf(() => parseCreateNotification(toCreateBody(both))).sort()).toEqual([
      'channel',
      'templateKey',
    ]);
    expect(fieldsOf(() => parseCreateNotification(toCreateBody(decoded({ stage: 'soon' }))))).toEqual([
      'stage',
    ]);
  });

  it('explicit mode is unchanged', () => {
    const explicit = parseCreateNotification(
      toCreateBody(decoded({ channel: 'sms', templateKey: 'early.sms.reminder' })),
    );
    expect(isAutomaticRequest(explicit)).toBe(false);
    expect(explicit).toMatchObject({ channel: 'sms', templateKey: 'early.sms.reminder' });
  });
});

describe('gRPC AddOptOutRequest -> the POST /v1/opt-outs body', () => {
  const postal = {
    country: '',
    province: '',
    city: '上海市',
    district: '',
    street: '世纪大道 100 号',
    postcode: '200120',
    lines: [],
  };

  it('a contact, empty channel and reason take the REST defaults', () => {
    expect(
      parseStrict(
        OptOutBodySchema,
        toOptOutBody({ contact: '+8613800138000', channel: '', reason: '' }),
        'opt-out',
      ),
    ).toEqual({
      address: '+8613800138000',
      channel: '*',
      reason: 'opt_out',
    });
  });

  it('a postal address drops its proto3 defaults (country defaults to CN)', () => {
    const body = parseStrict(
      OptOutBodySchema,
      toOptOutBody({ postal, channel: 'letter', reason: 'complaint' }),
      'opt-out',
    );
    expect(body.address).toEqual({
      country: 'CN',
      city: '上海市',
      street: '世纪大道 100 号',
      postcode: '200120',
    });
  });

  it('a NUL anywhere is refused naming the field', () => {
    expect(fieldsOf(() => toOptOutBody({ contact: 'a\u0000b', channel: '', reason: '' }))).toEqual([
      'contact',
    ]);
  });
});

describe('views -> messages', () => {
  it('instants become Timestamps, absent ones unset; list rows have no events', () => {
    const m = notificationMessage({
      id: 'n1',
      caseId: 'C-1',
      channel: 'sms',
      status: 'scheduled',
      statusReason: null,
      template: { key: 'early.sms.reminder', version: 1, locale: 'zh-CN' },
      recipient: { role: 'debtor', name: '张三', address: '+8613800138000' },
      provider: null,
      providerMessageId: null,
      notBefore: null,
      createdAt: '2026-11-24T14:30:00.123Z',
      updatedAt: '2026-11-24T14:30:01.000Z',
    });
    expect(m.notBefore).toBeNull();
    expect(m.createdAt).toEqual({ seconds: '1795530600', nanos: 123_000_000 });
    expect(m.updatedAt).toEqual({ seconds: '1795530601', nanos: 0 });
    expect(m.events).toEqual([]);
    expect(m).toMatchObject({ statusReason: '', provider: '', providerMessageId: '', replayed: false });
  });
});
