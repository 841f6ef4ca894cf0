/**
 * Minimal DKIM verification for tests (relaxed/relaxed, rsa-sha256): recomputes the body hash
 * and verifies the signature over the signed headers with the public key. Throws when the body
 * hash (`bh=`) or the signature (`b=`) does not match; returns the signature's tags.
 */
import { createHash, type KeyObject, verify } from 'node:crypto';

export function verifyDkimRelaxed(raw: Buffer, publicKey: KeyObject): Record<string, string> {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const headerLines = text.slice(0, split).split(/\r\n(?![ \t])/);
  const body = text.slice(split + 4);
  const sigLine = headerLines.find((l) => /^dkim-signature:/i.test(l));
  if (!sigLine) throw new Error('no DKIM-Signature header');
  const tags: Record<string, string> = {};
  for (const part of sigLine.slice(sigLine.indexOf(':') + 1).split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags[part.slice(0, eq).trim()] = part.slice(eq + 1).replace(/\s+/g, '');
  }
  if (tags.c !== 'relaxed/relaxed') throw new Error(`unexpected canonicalization ${tags.c}`);
  if (tags.a !== 'rsa-sha256') throw new Error(`unexpected algorithm ${tags.a}`);
  const canonBody =
    body
      .split('\r\n')
      .map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''))
      .join('\r\n')
      .replace(/(\r\n)*$/, '') + '\r\n';
  const bh = createHash('sha256').update(canonBody, 'latin1').digest('base64');
  if (bh !== tags.bh) throw new Error(`DKIM body hash mismatch: computed ${bh}, signed ${tags.bh}`);
  const canonHeader = (line: string): string => {
    const colon = line.indexOf(':');
    const value = line
      .slice(colon + 1)
      .replace(/\r\n/g, '')
      .replace(/[ \t]+/g, ' ')
      .trim();
    return `${line.slice(0, colon).trim().toLowerCase()}:${value}`;
  };
  const used = new Set<number>();
  let input = '';
  for (const name of tags.h.split(':')) {
    for (let i = headerLines.length - 1; i >= 0; i--) {
      if (!used.has(i) && headerLines[i].toLowerCase().startsWith(`${name.toLowerCase()}:`)) {
        used.add(i);
        input += canonHeader(headerLines[i]) + '\r\n';
        break;
      }
    }
  }
  input += canonHeader(sigLine).replace(/b=[^;]*$/, 'b=');
  const ok = verify('sha256', Buffer.from(input, 'latin1'), publicKey, Buffer.from(tags.b, 'base64'));
  if (!ok) throw new Error('DKIM signature does not verify');
  return tags;
}
