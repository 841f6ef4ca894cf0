import { describe, expect, it } from '@jest/globals';
import type { PostalAddress } from '#libs/core';
import { normaliseCountry, postalKey, validatePostalAddress } from './address.js';

const shenzhen: PostalAddress = {
  country: 'CN',
  province: '广东省',
  city: '深圳市',
  district: '南山区',
  street: '科技园路18号3栋502室',
  postcode: '518057',
};

function problems(addr: PostalAddress, name?: string): string[] {
  const r = validatePostalAddress(addr, name);
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.lines)}`);
  return r.problems.map((p) => `${p.path}: ${p.message}`);
}

describe('validatePostalAddress (China)', () => {
  it('orders envelope lines postcode, region, street, name', () => {
    const r = validatePostalAddress(shenzhen, '张三');
    expect(r).toEqual({
      ok: true,
      lines: ['518057', '广东省深圳市南山区', '科技园路18号3栋502室', '张三'],
      addressLines: ['广东省深圳市南山区', '科技园路18号3栋502室'],
      country: 'CN',
      postcode: '518057',
    });
  });

  it('accepts short province names and prints the full one; municipalities print once', () => {
    const r = validatePostalAddress({ ...shenzhen, province: '广东' });
    expect(r.ok && r.lines[1]).toBe('广东省深圳市南山区');
    const bj = validatePostalAddress({
      country: '中国',
      province: '北京市',
      city: '北京市',
      district: '朝阳区',
      street: '建国路88号',
      postcode: '100022',
    });
    expect(bj.ok && bj.lines).toEqual(['100022', '北京市朝阳区', '建国路88号']);
    const noCity = validatePostalAddress({
      country: 'CN',
      province: '上海',
      district: '浦东新区',
      street: '世纪大道100号',
      postcode: '200120',
    });
    expect(noCity.ok && noCity.lines[1]).toBe('上海市浦东新区');
  });

  it('puts extra lines after the street', () => {
    const r = validatePostalAddress({ ...shenzhen, lines: ['  某某科技有限公司 前台 '] }, '李四');
    expect(r.ok && r.lines).toEqual([
      '518057',
      '广东省深圳市南山区',
      '科技园路18号3栋502室',
      '某某科技有限公司 前台',
      '李四',
    ]);
  });

  it('rejects a postcode that is not 6 digits or not of the province', () => {
    expect(problems({ ...shenzhen, postcode: '51805' })).toEqual(['postcode: must be 6 digits']);
    expect(problems({ ...shenzhen, postcode: '51805a' })).toEqual(['postcode: must be 6 digits']);
    expect(problems({ ...shenzhen, postcode: '100022' })[0]).toMatch(
      /^postcode: does not belong to 广东省 \(expected 51xxxx or 52xxxx\)/,
    );
  });

  it('reports every problem at once', () => {
    const list = problems({ country: 'CN', province: '广东省', street: '', postcode: '' }, '');
    expect(list).toEqual(
      expect.arrayContaining([
        'name: is required',
        'city: is required',
        'street: is required',
        'postcode: must be 6 digits',
      ]),
    );
    expect(list).toHaveLength(4);
  });

  it('rejects unknown provinces, control characters and spreadsheet formulas', () => {
    expect(problems({ ...shenzhen, province: '广东州' })).toEqual([
      'province: is not a province-level division of China',
    ]);
    expect(problems({ ...shenzhen, street: '科技园路\n18号' })).toEqual([
      'street: contains control characters',
    ]);
    expect(problems({ ...shenzhen, street: '=HYPERLINK("x")' })).toEqual([
      'street: must not start with =, + or @',
    ]);
    expect(problems({ ...shenzhen, lines: ['a', 'b', 'c'] })).toEqual([
      'lines: at most 2 extra lines fit on an envelope',
    ]);
  });
});

describe('validatePostalAddress (other countries)', () => {
  it('US: city, state and ZIP on one line, country last', () => {
    const r = validatePostalAddress(
      {
        country: 'us',
        province: 'DC',
        city: 'Washington',
        street: '1600 Pennsylvania Ave NW',
        postcode: '20500',
      },
      'Jane Doe',
    );
    expect(r.ok && r.lines).toEqual([
      'Jane Doe',
      '1600 Pennsylvania Ave NW',
      'WASHINGTON DC 20500',
      'UNITED STATES',
    ]);
    expect(
      problems({ country: 'US', province: 'DC', city: 'Washington', street: '1 A St', postcode: '2050' }),
    ).toEqual(['postcode: is not a valid US postcode']);
    expect(problems({ country: 'US', city: 'Washington', street: '1 A St', postcode: '20500' })).toEqual([
      'province: is required',
    ]);
  });

  it('GB: postcode normalised and on its own line; DE: postcode before city', () => {
    const gb = validatePostalAddress({
      country: 'GB',
      city: 'London',
      street: '10 Downing Street',
      postcode: 'sw1a2aa',
    });
    expect(gb.ok && gb.lines).toEqual(['10 Downing Street', 'LONDON', 'SW1A 2AA', 'UNITED KINGDOM']);
    const de = validatePostalAddress({
      country: 'DE',
      city: 'Berlin',
      street: 'Unter den Linden 1',
      postcode: '10117',
    });
    expect(de.ok && de.lines).toEqual(['Unter den Linden 1', '10117 BERLIN', 'GERMANY']);
    expect(problems({ country: 'GB', city: 'London', street: '1 A St', postcode: '12345' })).toEqual([
      'postcode: is not a valid GB postcode',
    ]);
  });

  it('rejects unknown countries', () => {
    expect(problems({ country: 'Germany', city: 'Berlin', street: 'x 1', postcode: '10117' })).toEqual([
      'country: must be an ISO 3166-1 alpha-2 country code',
    ]);
    expect(normaliseCountry('XX')).toBe('');
    expect(normaliseCountry(' cn ')).toBe('CN');
    expect(normaliseCountry('China')).toBe('CN');
  });
});

describe('postalKey', () => {
  it('gives the same key to spellings of the same Chinese address', () => {
    const variants: PostalAddress[] = [
      { ...shenzhen, province: '广东', city: '深圳', district: '南山' },
      { ...shenzhen, street: '科技园路１８号 ３栋 502室', postcode: '５１８０５７' },
      { ...shenzhen, street: '科技园路18号, 3栋-502室' },
    ];
    for (const v of variants) expect(postalKey(v)).toBe(postalKey(shenzhen));
    expect(postalKey({ ...shenzhen, street: '科技园路18号3栋503室' })).not.toBe(postalKey(shenzhen));
    expect(postalKey({ ...shenzhen, district: '福田区', postcode: '518048' })).not.toBe(postalKey(shenzhen));
  });

  it('municipality with and without the city field match', () => {
    const a: PostalAddress = {
      country: 'CN',
      province: '北京',
      city: '北京市',
      district: '朝阳区',
      street: '建国路88号',
      postcode: '100022',
    };
    const b: PostalAddress = {
      country: 'CN',
      province: '北京市',
      district: '朝阳',
      street: '建国路 88 号',
      postcode: '100022',
    };
    expect(postalKey(a)).toBe(postalKey(b));
  });

  it('normalises English abbreviations, case and postcode spacing', () => {
    const a: PostalAddress = {
      country: 'GB',
      city: 'London',
      street: '10 Downing Street',
      postcode: 'SW1A 2AA',
    };
    const b: PostalAddress = { country: 'gb', city: 'LONDON', street: '10 downing st.', postcode: 'sw1a2aa' };
    expect(postalKey(a)).toBe(postalKey(b));
    expect(postalKey({ ...a, street: '11 Downing Street' })).not.toBe(postalKey(a));
  });
});
