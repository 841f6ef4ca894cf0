import type { PostalAddress } from '#libs/core';

/**
 * Postal address validation and envelope lines for the letter channel (pure, no I/O).
 *
 * - China (`CN`): province-level division from the official list (full or short name), city (may be left
 *   out for the four municipalities), optional district, street, and a 6-digit postcode whose first two
 *   digits must belong to the province. Envelope lines: postcode, province + city + district, street
 *   (+ extra `lines`), recipient name.
 * - Other countries (ISO 3166-1 alpha-2): street (+ extra `lines`), city, postcode in the country's format,
 *   country name in capitals. US/CA/AU put city, state and postcode on one line; most of continental Europe
 *   writes `postcode city`; elsewhere city and postcode are separate lines (UPU practice).
 */

export interface AddressProblem {
  path: string;
  message: string;
}

export interface ValidAddress {
  ok: true;
  /** Envelope lines in print order (recipient name included when given). */
  lines: string[];
  /** Address lines without name, postcode and country (what a print vendor's `addressLines` wants). */
  addressLines: string[];
  /** ISO 3166-1 alpha-2, upper case. */
  country: string;
  /** Postcode as printed (CN: 6 digits; GB/CA: upper case with the standard space). */
  postcode: string;
}

export type AddressValidation = ValidAddress | { ok: false; problems: AddressProblem[] };

interface Province {
  full: string;
  short: string;
  /** First two digits of the postcodes of the province. */
  prefixes: string[];
  municipality?: boolean;
}

/** The 31 province-level divisions of mainland China with their postcode areas. */
const CN_PROVINCES: Province[] = [
  { full: '北京市', short: '北京', prefixes: ['10'], municipality: true },
  { full: '天津市', short: '天津', prefixes: ['30'], municipality: true },
  { full: '上海市', short: '上海', prefixes: ['20'], municipality: true },
  { full: '重庆市', short: '重庆', prefixes: ['40'], municipality: true },
  { full: '河北省', short: '河北', prefixes: ['05', '06', '07'] },
  { full: '山西省', short: '山西', prefixes: ['03', '04'] },
  { full: '内蒙古自治区', short: '内蒙古', prefixes: ['01', '02'] },
  { full: '辽宁省', short: '辽宁', prefixes: ['11', '12'] },
  { full: '吉林省', short: '吉林', prefixes: ['13'] },
  { full: '黑龙江省', short: '黑龙江', prefixes: ['15', '16'] },
  { full: '江苏省', short: '江苏', prefixes: ['21', '22'] },
  { full: '浙江省', short: '浙江', prefixes: ['31', '32'] },
  { full: '安徽省', short: '安徽', prefixes: ['23', '24'] },
  { full: '福建省', short: '福建', prefixes: ['35', '36'] },
  { full: '江西省', short: '江西', prefixes: ['33', '34'] },
  { full: '山东省', short: '山东', prefixes: ['25', '26', '27'] },
  { full: '河南省', short: '河南', prefixes: ['45', '46', '47'] },
  { full: '湖北省', short: '湖北', prefixes: ['43', '44'] },
  { full: '湖南省', short: '湖南', prefixes: ['41', '42'] },
  { full: '广东省', short: '广东', prefixes: ['51', '52'] },
  { full: '广西壮族自治区', short: '广西', prefixes: ['53', '54'] },
  { full: '海南省', short: '海南', prefixes: ['57'] },
  { full: '四川省', short: '四川', prefixes: ['61', '62', '63', '64'] },
  { full: '贵州省', short: '贵州', prefixes: ['55', '56'] },
  { full: '云南省', short: '云南', prefixes: ['65', '66', '67'] },
  { full: '西藏自治区', short: '西藏', prefixes: ['85', '86'] },
  { full: '陕西省', short: '陕西', prefixes: ['71', '72'] },
  { full: '甘肃省', short: '甘肃', prefixes: ['73', '74'] },
  { full: '青海省', short: '青海', prefixes: ['81'] },
  { full: '宁夏回族自治区', short: '宁夏', prefixes: ['75'] },
  { full: '新疆维吾尔自治区', short: '新疆', prefixes: ['83', '84'] },
];

const CN_ALIASES = new Set(['CN', 'CHN', 'CHINA', 'PRC', '中国', '中华人民共和国']);

/** Postcode formats of the countries we know; others get a generic check. */
const POSTCODE_FORMATS: Record<string, RegExp> = {
  US: /^\d{5}(-\d{4})?$/,
  GB: /^(GIR 0AA|[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2})$/,
  CA: /^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d$/,
  AU: /^\d{4}$/,
  DE: /^\d{5}$/,
  FR: /^\d{5}$/,
  IT: /^\d{5}$/,
  ES: /^\d{5}$/,
  NL: /^\d{4} ?[A-Z]{2}$/,
  JP: /^\d{3}-?\d{4}$/,
  SG: /^\d{6}$/,
};
/** Countries without postcodes (the field must be empty). */
const NO_POSTCODE = new Set(['HK', 'MO', 'AE', 'QA']);
/** Countries that write `postcode city` on one line. */
const POSTCODE_BEFORE_CITY = new Set([
  'DE',
  'FR',
  'IT',
  'ES',
  'NL',
  'BE',
  'CH',
  'AT',
  'SE',
  'NO',
  'DK',
  'FI',
  'PT',
  'PL',
  'CZ',
  'LU',
]);
/** Countries that write `city state postcode` on one line. */
const CITY_STATE_POSTCODE = new Set(['US', 'CA', 'AU']);

const MAX_FIELD = 120;
const MAX_EXTRA_LINES = 2;
// Control characters (tabs and newlines included: every field is one envelope line).
const CONTROL = /\p{Cc}/u;
// A leading =, + or @ would be read as a formula by spreadsheet tools opening a manifest.
const FORMULA_START = /^[=+@]/;

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

function clean(value: string | undefined): string {
  // Runs of spaces/tabs become one space; line breaks stay (and are rejected as control characters).
  return (value ?? '')
    .normalize('NFC')
    .trim()
    .replace(/[^\S\r\n]+/g, ' ');
}

function checkText(
  problems: AddressProblem[],
  path: string,
  value: string,
  required: boolean,
  max = MAX_FIELD,
): void {
  if (!value) {
    if (required) problems.push({ path, message: 'is required' });
    return;
  }
  if (CONTROL.test(value)) problems.push({ path, message: 'contains control characters' });
  if (FORMULA_START.test(value)) problems.push({ path, message: 'must not start with =, + or @' });
  if ([...value].length > max) problems.push({ path, message: `is longer than ${max} characters` });
}

/** Normalises a country field to ISO alpha-2 (`China`/`中国`/`CHN` -> `CN`); returns '' when unusable. */
export function normaliseCountry(country: string): string {
  const c = clean(country).toUpperCase();
  if (CN_ALIASES.has(c)) return 'CN';
  if (!/^[A-Z]{2}$/.test(c)) return '';
  const name = regionNames.of(c);
  return name && name !== c && !/unknown/i.test(name) ? c : '';
}

export function findProvince(name: string): Province | undefined {
  const n = clean(name).replace(/\s/g, '');
  if (!n) return undefined;
  return CN_PROVINCES.find((p) => p.full === n || p.short === n);
}

function normalisePostcode(country: string, postcode: string): string {
  const p = clean(postcode).toUpperCase();
  if (country === 'GB' || country === 'CA') {
    const compact = p.replace(/\s/g, '');
    return compact.length > 3 ? `${compact.slice(0, -3)} ${compact.slice(-3)}` : compact;
  }
  return p;
}

function extraLines(addr: PostalAddress, problems: AddressProblem[]): string[] {
  const lines = (addr.lines ?? []).map(clean).filter((l) => l !== '');
  if (lines.length > MAX_EXTRA_LINES) {
    problems.push({ path: 'lines', message: `at most ${MAX_EXTRA_LINES} extra lines fit on an envelope` });
  }
  lines.forEach((l, i) => checkText(problems, `lines[${i}]`, l, false));
  return lines;
}

function validateCn(addr: PostalAddress, name: string, problems: AddressProblem[]): ValidAddress | null {
  const provinceText = clean(addr.province);
  const city = clean(addr.city);
  const district = clean(addr.district);
  const street = clean(addr.street);
  const postcode = clean(addr.postcode);
  const province = findProvince(provinceText);
  if (!provinceText) problems.push({ path: 'province', message: 'is required' });
  else if (!province)
    problems.push({ path: 'province', message: 'is not a province-level division of China' });
  if (!city && !province?.municipality) problems.push({ path: 'city', message: 'is required' });
  checkText(problems, 'city', city, false, 30);
  checkText(problems, 'district', district, false, 30);
  checkText(problems, 'street', street, true);
  if (street && [...street].length < 2) problems.push({ path: 'street', message: 'is too short' });
  if (!/^\d{6}$/.test(postcode)) {
    problems.push({ path: 'postcode', message: 'must be 6 digits' });
  } else if (province && !province.prefixes.includes(postcode.slice(0, 2))) {
    problems.push({
      path: 'postcode',
      message: `does not belong to ${province.full} (expected ${province.prefixes.map((p) => `${p}xxxx`).join(' or ')})`,
    });
  }
  const extra = extraLines(addr, problems);
  if (problems.length > 0 || !province) return null;
  // Municipalities: 北京市 + 北京市 + 朝阳区 prints as 北京市朝阳区.
  const cityPart = city && findProvince(city) !== province ? city : '';
  const region = `${province.full}${cityPart}${district}`;
  const addressLines = [region, street, ...extra];
  return {
    ok: true,
    lines: [postcode, ...addressLines, ...(name ? [name] : [])],
    addressLines,
    country: 'CN',
    postcode,
  };
}

function validateOther(
  addr: PostalAddress,
  country: string,
  name: string,
  problems: AddressProblem[],
): ValidAddress | null {
  const street = clean(addr.street);
  const city = clean(addr.city);
  const state = clean(addr.province);
  const postcode = normalisePostcode(country, addr.postcode);
  checkText(problems, 'street', street, true);
  checkText(problems, 'city', city, true, 60);
  checkText(problems, 'province', state, country === 'US' || country === 'CA' || country === 'AU', 40);
  if (country === 'US' && state && !/^[A-Z]{2}$/.test(state)) {
    problems.push({ path: 'province', message: 'must be the 2-letter state code' });
  }
  const format = POSTCODE_FORMATS[country];
  if (NO_POSTCODE.has(country)) {
    if (postcode) problems.push({ path: 'postcode', message: `must be empty for ${country}` });
  } else if (!postcode) {
    problems.push({ path: 'postcode', message: 'is required' });
  } else if (format ? !format.test(postcode) : !/^[A-Z0-9][A-Z0-9 -]{1,9}$/.test(postcode)) {
    problems.push({ path: 'postcode', message: `is not a valid ${country} postcode` });
  }
  const extra = extraLines(addr, problems);
  if (problems.length > 0) return null;
  const upperCity = city.toUpperCase();
  let cityLines: string[];
  if (CITY_STATE_POSTCODE.has(country)) cityLines = [`${upperCity} ${state.toUpperCase()} ${postcode}`];
  else if (POSTCODE_BEFORE_CITY.has(country)) cityLines = [`${postcode} ${upperCity}`];
  else cityLines = [state ? `${upperCity} ${state}` : upperCity, ...(postcode ? [postcode] : [])];
  const addressLines = [street, ...extra, ...cityLines];
  const countryLine = (regionNames.of(country) ?? country).toUpperCase();
  return {
    ok: true,
    lines: [...(name ? [name] : []), ...addressLines, countryLine],
    addressLines,
    country,
    postcode,
  };
}

/**
 * Validates an address and returns its envelope lines in print order, or every problem found (paths
 * relative to the address). `recipientName`, when given, is placed where the country puts it.
 */
export function validatePostalAddress(addr: PostalAddress, recipientName?: string): AddressValidation {
  const problems: AddressProblem[] = [];
  const name = clean(recipientName);
  if (recipientName !== undefined) checkText(problems, 'name', name, true, 60);
  const country = normaliseCountry(addr.country ?? '');
  if (!country) {
    problems.push({ path: 'country', message: 'must be an ISO 3166-1 alpha-2 country code' });
    return { ok: false, problems };
  }
  const result =
    country === 'CN' ? validateCn(addr, name, problems) : validateOther(addr, country, name, problems);
  return result ?? { ok: false, problems };
}

const ABBREVIATIONS: Array<[RegExp, string]> = [
  [/\bstreet\b/g, 'st'],
  [/\broad\b/g, 'rd'],
  [/\bavenue\b/g, 'ave'],
  [/\bboulevard\b/g, 'blvd'],
  [/\bdrive\b/g, 'dr'],
  [/\blane\b/g, 'ln'],
  [/\bapartment\b/g, 'apt'],
  [/\bsuite\b/g, 'ste'],
  [/\bfloor\b/g, 'fl'],
  [/\bnorth\b/g, 'n'],
  [/\bsouth\b/g, 's'],
  [/\beast\b/g, 'e'],
  [/\bwest\b/g, 'w'],
];

/** NFKC (full-width -> half-width), lower case, no punctuation, symbols or spaces. */
function keyPart(value: string | undefined, english = false): string {
  let v = (value ?? '').normalize('NFKC').toLowerCase();
  if (english) for (const [re, abbr] of ABBREVIATIONS) v = v.replace(re, abbr);
  return v.replace(/[\p{P}\p{S}\s]/gu, '');
}

/**
 * Normalised key of an address for frequency caps and de-duplication: two spellings of the same address
 * (full-width digits, 广东 vs 广东省, 朝阳区 vs 朝阳, `Street` vs `St.`, spacing, case) give the same key.
 * Works on any input (does not validate). The key contains the address: treat it as personal data.
 */
export function postalKey(addr: PostalAddress): string {
  const country = normaliseCountry(addr.country ?? '') || keyPart(addr.country).toUpperCase();
  const extra = (addr.lines ?? []).map((l) => keyPart(l, country !== 'CN')).filter((l) => l !== '');
  if (country === 'CN') {
    const province = findProvince(addr.province ?? '');
    const provinceKey = province ? province.short : keyPart(addr.province);
    let city = keyPart(addr.city).replace(/市$/, '');
    if (province?.municipality && (city === '' || city === province.short)) city = province.short;
    const district = keyPart(addr.district).replace(/(区|县)$/, '');
    const street = keyPart(addr.street);
    return ['CN', keyPart(addr.postcode), provinceKey, city, district, street, ...extra].join('|');
  }
  return [
    country,
    keyPart(addr.postcode).toUpperCase(),
    keyPart(addr.province),
    keyPart(addr.city),
    keyPart(addr.street, true),
    ...extra,
  ].join('|');
}
