import { describe, it, expect } from '@jest/globals';
import {
  cnyToChineseCapital,
  formatCny,
  formatDate,
  maskCardNumber,
  maskIdNumber,
  maskPhoneNumber,
  parseAmount,
  pluralize,
  TemplateHelperError,
} from './helpers.js';

describe('formatCny', () => {
  it.each([
    ['12345.67', '12,345.67'],
    ['0', '0.00'],
    ['0.5', '0.50'],
    ['1000', '1,000.00'],
    ['999', '999.00'],
    ['1234567890.1', '1,234,567,890.10'],
    ['007.10', '7.10'],
    ['-1500.25', '-1,500.25'],
    ['-0.00', '0.00'],
  ])('%s -> %s', (input, expected) => {
    expect(formatCny(input)).toBe(expected);
  });

  it('accepts finite numbers', () => {
    expect(formatCny(12345.6)).toBe('12,345.60');
    expect(formatCny(0.1 + 0.2)).toBe('0.30');
  });

  it.each([['12.345'], ['1,000.00'], ['abc'], [''], ['1e3']])('rejects %p', (input) => {
    expect(() => formatCny(input)).toThrow(TemplateHelperError);
  });

  it('rejects missing and non-finite values', () => {
    expect(() => formatCny(undefined)).toThrow(/missing value/);
    expect(() => formatCny(Number.NaN)).toThrow(TemplateHelperError);
    expect(() => formatCny({})).toThrow(TemplateHelperError);
  });

  it('parses into yuan and cents without floating point', () => {
    expect(parseAmount('99999999999.99')).toEqual({ negative: false, int: '99999999999', cents: '99' });
  });
});

describe('cnyToChineseCapital', () => {
  it.each([
    ['12345.67', '壹万贰仟叁佰肆拾伍元陆角柒分'],
    ['10000.00', '壹万元整'],
    ['10000', '壹万元整'],
    ['100.05', '壹佰元零伍分'],
    ['0.50', '伍角'],
    ['0.05', '伍分'],
    ['0.00', '零元整'],
    ['10', '壹拾元整'],
    ['16', '壹拾陆元整'],
    ['10.01', '壹拾元零壹分'],
    ['12.3', '壹拾贰元叁角'],
    ['1409.50', '壹仟肆佰零玖元伍角'],
    ['6007.14', '陆仟零柒元壹角肆分'],
    ['1680.32', '壹仟陆佰捌拾元零叁角贰分'],
    ['107000.53', '壹拾万柒仟元零伍角叁分'],
    ['1010', '壹仟零壹拾元整'],
    ['10100', '壹万零壹佰元整'],
    ['1000000', '壹佰万元整'],
    ['100000001', '壹亿零壹元整'],
    ['100010000', '壹亿零壹万元整'],
    ['20000000000.10', '贰佰亿元零壹角'],
    ['1000000000000', '壹万亿元整'],
    ['-5.5', '负伍元伍角'],
  ])('%s -> %s', (input, expected) => {
    expect(cnyToChineseCapital(input)).toBe(expected);
  });

  it('never writes 零 twice in a row nor ends the integer with 零', () => {
    for (const n of ['1000001', '10000010', '1001001001', '300000000.07', '90009']) {
      const text = cnyToChineseCapital(n);
      expect(text).not.toMatch(/零零/);
      expect(text).not.toMatch(/零[元万亿]/);
    }
  });

  it('refuses amounts beyond 万亿 and malformed input', () => {
    expect(() => cnyToChineseCapital('12345678901234567')).toThrow(/too large/);
    expect(() => cnyToChineseCapital('1.234')).toThrow(TemplateHelperError);
  });
});

describe('formatDate', () => {
  it('formats zh-CN and en without leading zeros', () => {
    expect(formatDate('2026-11-01', 'zh-CN')).toBe('2026年11月1日');
    expect(formatDate('2026-11-01', 'en')).toBe('1 November 2026');
    expect(formatDate('2027-02-28', 'en')).toBe('28 February 2027');
  });

  it('accepts 29 February only in leap years', () => {
    expect(formatDate('2028-02-29', 'zh-CN')).toBe('2028年2月29日');
    expect(() => formatDate('2027-02-29', 'zh-CN')).toThrow(/not a calendar date/);
  });

  it.each([['2026-13-01'], ['2026-1-1'], ['2026-11-01T00:00:00Z'], [''], [20261101]])(
    'rejects %p',
    (input) => {
      expect(() => formatDate(input, 'en')).toThrow(TemplateHelperError);
    },
  );
});

describe('masking', () => {
  it('masks cards to the last four digits', () => {
    expect(maskCardNumber('1234')).toBe('**** 1234');
    expect(maskCardNumber('6222 0212 3456 7890')).toBe('**** 7890');
    expect(() => maskCardNumber('12')).toThrow(TemplateHelperError);
  });

  it('masks mainland mobile numbers as 3 + **** + 4', () => {
    expect(maskPhoneNumber('13812348000')).toBe('138****8000');
    expect(maskPhoneNumber('+8613812348000')).toBe('138****8000');
    expect(maskPhoneNumber('138-1234-8000')).toBe('138****8000');
    expect(() => maskPhoneNumber('12345')).toThrow(TemplateHelperError);
  });

  it('masks resident ID numbers keeping 4 + 4 characters', () => {
    expect(maskIdNumber('110101199001011234')).toBe('1101**********1234');
    expect(maskIdNumber('11010119900101123x')).toBe('1101**********123X');
    expect(() => maskIdNumber('1101')).toThrow(TemplateHelperError);
  });
});

describe('pluralize', () => {
  it('chooses singular only for exactly one', () => {
    expect(pluralize(1, 'day', 'days')).toBe('1 day');
    expect(pluralize(0, 'day', 'days')).toBe('0 days');
    expect(pluralize(45, 'day', 'days')).toBe('45 days');
    expect(() => pluralize('3', 'day', 'days')).toThrow(TemplateHelperError);
  });
});
