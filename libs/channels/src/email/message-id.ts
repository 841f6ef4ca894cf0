/**
 * Deterministic RFC 5322 Message-IDs derived from our notification id, so a retried send
 * carries the same Message-ID and a bounce can be traced back to the notification.
 */

/** Characters kept as they are in the id part; everything else is written as `=XX` (UTF-8 hex). */
const SAFE = /^[A-Za-z0-9._-]$/;

function encodeLocal(id: string): string {
  let out = '';
  for (const ch of id) {
    if (SAFE.test(ch)) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  // RFC 5322 dot-atom: no leading, trailing or doubled dots.
  return out.replace(/^\./, '=2E').replace(/\.$/, '=2E').replace(/\.\./g, '.=2E');
}

function decodeLocal(local: string): string | null {
  if (!/^(?:[A-Za-z0-9._-]|=[0-9A-F]{2})+$/.test(local)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < local.length; i++) {
    if (local[i] === '=') {
      bytes.push(parseInt(local.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(local.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `<{notificationId}@{domain}>`, with angle brackets, exactly as it appears in the header. */
export function messageIdFor(notificationId: string, domain: string): string {
  if (!notificationId) throw new Error('messageIdFor: empty notification id');
  if (!/^[A-Za-z0-9.-]+$/.test(domain))
    throw new Error(`messageIdFor: invalid domain ${JSON.stringify(domain)}`);
  return `<${encodeLocal(notificationId)}@${domain.toLowerCase()}>`;
}

/** Trims white space and makes sure the id is wrapped in angle brackets; null for an empty value. */
export function normaliseMessageId(value: string | null | undefined): string | null {
  if (!value) return null;
  const m = /<([^<>\s]+)>/.exec(value);
  const inner = m ? m[1] : value.trim().split(/\s+/)[0];
  return inner ? `<${inner}>` : null;
}

/**
 * Our notification id back from a Message-ID made by `messageIdFor`; null when the id was not
 * made by us (another domain, when `domain` is given) or cannot be decoded.
 */
export function notificationIdFromMessageId(messageId: string, domain?: string): string | null {
  const id = normaliseMessageId(messageId);
  if (!id) return null;
  const inner = id.slice(1, -1);
  const at = inner.lastIndexOf('@');
  if (at < 1) return null;
  if (domain !== undefined && inner.slice(at + 1).toLowerCase() !== domain.toLowerCase()) return null;
  return decodeLocal(inner.slice(0, at));
}

/** The domain part of an address such as `Bank <notices@bank.example>`; null when there is none. */
export function domainOfAddress(address: string): string | null {
  const m = /@([A-Za-z0-9.-]+)>?\s*$/.exec(address.trim());
  return m ? m[1].toLowerCase() : null;
}
