import type { SmsEncoding } from './types.js';

/** GSM 03.38 default alphabet (one septet each). */
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** GSM 03.38 extension table (escape + char: two septets each). */
const GSM_EXTENDED = '\f^{}\\[~]|€';

const BASIC = new Set(GSM_BASIC);
const EXTENDED = new Set(GSM_EXTENDED);

/**
 * Encoding and segment count of an SMS body. GSM-7: 160 septets in one segment, 153 per segment when
 * concatenated (extension characters count twice). Anything outside GSM-7 forces UCS-2: 70 UTF-16 code
 * units in one segment, 67 per segment when concatenated. `length` is in septets or code units.
 */
export function smsSegments(text: string): { encoding: SmsEncoding; segments: number; length: number } {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (BASIC.has(ch)) septets += 1;
    else if (EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) {
    return { encoding: 'GSM-7', length: septets, segments: count(septets, 160, 153) };
  }
  const units = text.length;
  return { encoding: 'UCS-2', length: units, segments: count(units, 70, 67) };
}

function count(length: number, single: number, multi: number): number {
  if (length === 0) return 0;
  return length <= single ? 1 : Math.ceil(length / multi);
}
