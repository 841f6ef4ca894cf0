/**
 * The one place an outgoing email becomes bytes. The renderer builds the `.eml` here (the stored
 * artifact, hashed into the evidence) and the providers send that buffer as it is
 * (`EmailContent.raw`), so the stored bytes are the bytes handed to SMTP.
 *
 * The output is deterministic for the same input: the Message-ID and Date come from the caller
 * (derived from the notification), the MIME boundaries are derived from a hash of the content
 * (nodemailer draws them at random by default), and the DKIM signature (rsa-sha256, relaxed/relaxed, no `t=`/`x=` tags, RSA PKCS#1 v1.5
 * being deterministic) depends only on the key and the message. Re-rendering a notification in any
 * process gives the same bytes, which is what a retried or reconciled send relies on.
 */
import { createHash } from 'node:crypto';
import DKIM from 'nodemailer/lib/dkim';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { EmailAttachment } from '../provider.js';

export interface EmlDkim {
  domainName: string;
  keySelector: string;
  /** PEM RSA private key. */
  privateKey: string;
}

export interface EmlInput {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** `<…@…>`, with angle brackets (see `messageIdFor`). */
  messageId: string;
  date: Date;
  /** Extra headers, e.g. the List-Unsubscribe pair: they are part of the signed, stored bytes. */
  headers?: Record<string, string>;
  attachments?: EmailAttachment[];
}

/**
 * Only CRLF line breaks, ending with CRLF: the form an SMTP client transmits unchanged (nodemailer
 * rewrites bare CR/LF to CRLF and appends a CRLF before the final dot when it is missing, and
 * the server strips dot-stuffing), so the bytes the server receives equal these bytes.
 */
export function toWireForm(message: Buffer): Buffer {
  const text = message.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
  return Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`, 'latin1');
}

/** True when `message` is already in wire form (see `toWireForm`). */
export function isWireForm(message: Buffer): boolean {
  if (message.length < 2 || message[message.length - 2] !== 0x0d || message[message.length - 1] !== 0x0a)
    return false;
  for (let i = 0; i < message.length; i++) {
    const b = message[i];
    if (b === 0x0d && message[i + 1] !== 0x0a) return false;
    if (b === 0x0a && (i === 0 || message[i - 1] !== 0x0d)) return false;
  }
  return true;
}

/** The header block (up to the first empty line), unfolded, as `[name, value]` pairs in order. */
export function emlHeaders(message: Buffer): [string, string][] {
  const text = message.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const block = end >= 0 ? text.slice(0, end) : text;
  const out: [string, string][] = [];
  for (const line of block.split(/\r\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push([
      line.slice(0, colon).trim(),
      line
        .slice(colon + 1)
        .replace(/\r\n/g, '')
        .trim(),
    ]);
  }
  return out;
}

/** The first value of a header (case-insensitive name), or null. */
export function emlHeader(message: Buffer, name: string): string | null {
  const lower = name.toLowerCase();
  return emlHeaders(message).find(([k]) => k.toLowerCase() === lower)?.[1] ?? null;
}

/** The `d=` and `s=` of each DKIM-Signature header of the message. */
export function dkimSignatures(message: Buffer): { domain: string; selector: string }[] {
  return emlHeaders(message)
    .filter(([k]) => k.toLowerCase() === 'dkim-signature')
    .map(([, v]) => {
      const tags = new Map<string, string>();
      for (const part of v.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) tags.set(part.slice(0, eq).trim(), part.slice(eq + 1).replace(/\s+/g, ''));
      }
      return { domain: (tags.get('d') ?? '').toLowerCase(), selector: tags.get('s') ?? '' };
    });
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/** DKIM-signs a message in wire form; the result is the message with its DKIM-Signature header first. */
export async function dkimSign(message: Buffer, dkim: EmlDkim): Promise<Buffer> {
  const signer = new DKIM({
    domainName: dkim.domainName,
    keySelector: dkim.keySelector,
    privateKey: dkim.privateKey,
  });
  const signed = await collect(signer.sign(message));
  // nodemailer leaves a message unsigned (no error) when the key cannot sign.
  if (!/^DKIM-Signature:/i.test(signed.subarray(0, 16).toString('latin1')))
    throw new Error(`DKIM signing with ${dkim.keySelector}._domainkey.${dkim.domainName} failed`);
  return signed;
}

/**
 * The shared part of the MIME boundaries: a hash over everything the message contains, so the
 * same input always gets the same boundaries and content cannot be made to contain them without
 * knowing them (which would take a hash fixed point).
 */
function baseBoundary(input: EmlInput): string {
  const h = createHash('sha256');
  for (const part of [input.from, input.to, input.subject, input.text, input.html, input.messageId])
    h.update(`${Buffer.byteLength(part)}:${part}`);
  h.update(input.date.toISOString());
  h.update(JSON.stringify(Object.entries(input.headers ?? {})));
  for (const a of input.attachments ?? []) {
    h.update(`${a.filename}\0${a.contentType}\0`);
    h.update(createHash('sha256').update(a.content).digest());
  }
  return h.digest('hex').slice(0, 32);
}

/** Builds the exact message bytes: composed, in wire form, DKIM-signed when `dkim` is given. */
export async function composeEml(input: EmlInput, dkim?: EmlDkim): Promise<Buffer> {
  const built = await new MailComposer({
    baseBoundary: baseBoundary(input),
    from: input.from,
    to: input.to,
    subject: input.subject,
    text: input.text,
    html: input.html,
    messageId: input.messageId,
    date: input.date,
    headers: input.headers,
    attachments: (input.attachments ?? []).map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
    })),
    // Content is Buffers only: never read files or fetch URLs while composing.
    disableFileAccess: true,
    disableUrlAccess: true,
  })
    .compile()
    .build();
  const wire = toWireForm(built);
  return dkim ? dkimSign(wire, dkim) : wire;
}
