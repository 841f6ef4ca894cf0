import { describe, it, expect } from '@jest/globals';
import { smsSegments } from './sms.js';

describe('smsSegments', () => {
  it('counts GSM-7 at 160 for one segment and 153 per part beyond', () => {
    expect(smsSegments('')).toEqual({ encoding: 'GSM-7', segments: 0, length: 0 });
    expect(smsSegments('a'.repeat(160))).toEqual({ encoding: 'GSM-7', segments: 1, length: 160 });
    expect(smsSegments('a'.repeat(161))).toEqual({ encoding: 'GSM-7', segments: 2, length: 161 });
    expect(smsSegments('a'.repeat(306)).segments).toBe(2);
    expect(smsSegments('a'.repeat(307)).segments).toBe(3);
  });

  it('counts extension characters as two septets', () => {
    const text = `${'a'.repeat(158)}€`;
    expect(smsSegments(text)).toEqual({ encoding: 'GSM-7', segments: 1, length: 160 });
    expect(smsSegments(`${text}[`).segments).toBe(2);
  });

  it('keeps GSM-7 for the accented letters of the default alphabet', () => {
    expect(smsSegments('Café à Zürich, £5 @ 10:00').encoding).toBe('GSM-7');
  });

  it('switches to UCS-2 at 70 / 67 for any other character', () => {
    expect(smsSegments('中'.repeat(70))).toEqual({ encoding: 'UCS-2', segments: 1, length: 70 });
    expect(smsSegments('中'.repeat(71))).toEqual({ encoding: 'UCS-2', segments: 2, length: 71 });
    expect(smsSegments('中'.repeat(134)).segments).toBe(2);
    expect(smsSegments('中'.repeat(135)).segments).toBe(3);
    // one curly apostrophe turns a 100-character English text into two UCS-2 segments
    expect(smsSegments(`${'a'.repeat(99)}’`)).toEqual({ encoding: 'UCS-2', segments: 2, length: 100 });
  });

  it('counts astral characters as two UTF-16 code units', () => {
    expect(smsSegments('😀'.repeat(35))).toEqual({ encoding: 'UCS-2', segments: 1, length: 70 });
  });
});
