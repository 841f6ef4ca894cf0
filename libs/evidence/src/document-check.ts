import { createHmac } from 'node:crypto';
import { channelDefinition, channelLabels } from '#libs/channels';
import { STAGES } from '#libs/core';
import type { ChainedEvent, JsonValue } from './chain.js';

/**
 * The public document check behind `/verify/:documentId` (the QR code of every letter): pure
 * functions from what the service recorded about a notice to what a stranger holding the document
 * may see, and whether a file (or its SHA-256) is byte for byte the one the bank issued.
 *
 * Anti-fraud rules: a document that was never issued (unknown id, never sent, no recorded artifact)
 * gets exactly the same answer as a forged one ("not issued by us"), so the page is no oracle for
 * which ids exist; what is shown of an issued one is what its holder already has, masked (no
 * amounts, phone numbers, full names, street addresses).
 */

export type VerifyLang = 'zh-CN' | 'en';

/** A recorded artifact of the notice (`message.rendered`): the document first, then attachments. */
export interface RecordedArtifact {
  sha256: string;
  mediaType: string;
  /** `document`: what was sent (letter PDF, .eml, SMS text); `attachment`: e.g. the PDF in an email. */
  part: 'document' | 'attachment';
}

/** What the service knows about a notice, read from its row and its evidence events. */
export interface IssuedDocument {
  documentId: string;
  caseId: string;
  channel: string;
  /** The template's collection stage (`reminder` … `legal`), when known. */
  stage: string | null;
  templateKey: string;
  templateVersion: number;
  status: string;
  /** Document date `YYYY-MM-DD` (the date printed on the letter, in the recipient's zone). */
  issuedOn: string;
  recipient: {
    role: string;
    name: string;
    phone?: string;
    email?: string;
    address?: { province?: string; city?: string; district?: string };
  };
  artifacts: RecordedArtifact[];
  /** A later notice to the same recipient over the same channel, issued after this one. */
  supersededBy: { documentId: string; issuedOn: string } | null;
}

/** genuine and current; genuine but cancelled; genuine but replaced by a later notice. */
export type DocumentState = 'current' | 'cancelled' | 'superseded';

export interface IssuedView {
  issued: true;
  documentId: string;
  bankName: string;
  /** e.g. `催收函（后期催收）` / `Collection letter (late stage)`. */
  documentType: string;
  channel: string;
  stage: string | null;
  date: string;
  maskedRecipient: string;
  /** SHA-256 of the document as stored (hex). */
  sha256: string;
  /** Other recorded files of the notice (e.g. the letter PDF attached to an email). */
  attachments: { sha256: string; mediaType: string }[];
  state: DocumentState;
  supersededOn: string | null;
}

/** The neutral answer for anything the bank did not issue (unknown ids included). */
export interface NotIssuedView {
  issued: false;
  bankName: string;
}

export type DocumentView = IssuedView | NotIssuedView;

export type CheckResult =
  { result: 'genuine'; state: DocumentState; part: 'document' | 'attachment' } | { result: 'not_issued' };

/** Notification statuses after which the document has left the bank. */
const ISSUED_STATUSES = new Set(['sent', 'delivered', 'undelivered', 'cancelled']);

/**
 * Whether the notice counts as issued: it has a recorded artifact (written only once a provider
 * took the message) and a status after sending. Accepted, scheduled, suppressed or failed-before-send
 * notices were never issued.
 */
export function isIssued(doc: IssuedDocument | null): doc is IssuedDocument {
  return !!doc && doc.artifacts.some((a) => a.part === 'document') && ISSUED_STATUSES.has(doc.status);
}

export function stateOf(doc: IssuedDocument): DocumentState {
  if (doc.status === 'cancelled') return 'cancelled';
  if (doc.supersededBy) return 'superseded';
  return 'current';
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * A pasted SHA-256: hex in any case, spaces, colons and dashes allowed between digits (as
 * `sha256sum`, openssl and the letter's footer print it); null when it is not 64 hex digits.
 */
export function normaliseSha256(input: string): string | null {
  const s = input
    .trim()
    .replace(/^sha-?256[:=\s]*/i, '')
    .replace(/[\s:-]/g, '')
    .toLowerCase();
  return HEX64.test(s) ? s : null;
}

/** Byte-for-byte check: is `sha256` the hash of a file the bank issued under this document id? */
export function checkDocument(doc: IssuedDocument | null, sha256: string): CheckResult {
  if (!isIssued(doc)) return { result: 'not_issued' };
  const hit = doc.artifacts.find((a) => a.sha256 === sha256);
  if (!hit) return { result: 'not_issued' };
  return { result: 'genuine', state: stateOf(doc), part: hit.part };
}

/* Masking: what a stranger holding the document may read back. */

/** `张三` → `张*`, `欧阳娜娜` → `欧***`: the first character stays, the rest is starred (at most 3). */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length === 0) return '*';
  if (chars.length === 1) return '*';
  const latin = /^[\x20-\x7e]+$/.test(name);
  if (latin) {
    // `Zhang San` → `Z*** S***`: initials only.
    return name
      .trim()
      .split(/\s+/)
      .map((w) => `${w[0]}***`)
      .join(' ');
  }
  return `${chars[0]}${'*'.repeat(Math.min(3, chars.length - 1))}`;
}

const ROLE: Record<VerifyLang, Record<string, string>> = {
  'zh-CN': { debtor: '本人', contact: '联系人', guarantor: '担保人' },
  en: { debtor: 'cardholder', contact: 'contact', guarantor: 'guarantor' },
};

export function maskedRecipient(doc: IssuedDocument, lang: VerifyLang): string {
  const r = doc.recipient;
  const where = channelDefinition(doc.channel).maskedAddress(r) ?? '';
  const role = ROLE[lang][r.role] ?? r.role;
  const name = maskName(r.name);
  return lang === 'zh-CN'
    ? `${name}（${role}）${where ? `，${where}` : ''}`
    : `${name} (${role})${where ? `, ${where}` : ''}`;
}

const CHANNEL_DOC: Record<VerifyLang, Record<string, string>> = {
  'zh-CN': channelLabels('zh-CN'),
  en: channelLabels('en'),
};

export const STAGE_WORDS: Record<VerifyLang, Record<string, string>> = {
  'zh-CN': {
    reminder: '还款提醒',
    early: '早期催收',
    mid: '中期催收',
    late: '后期催收',
    legal: '诉前催收',
  },
  en: {
    reminder: 'payment reminder',
    early: 'early-stage collection',
    mid: 'mid-stage collection',
    late: 'late-stage collection',
    legal: 'pre-litigation',
  },
};

/** The stage of a template key (`late.letter.demand` → `late`), when its first segment is one. */
export function stageOfTemplateKey(key: string): string | null {
  const first = key.split('.')[0];
  return (STAGES as readonly string[]).includes(first) ? first : null;
}

export function documentType(channel: string, stage: string | null, lang: VerifyLang): string {
  const ch = CHANNEL_DOC[lang][channel] ?? channel;
  const st = stage ? STAGE_WORDS[lang][stage] : undefined;
  if (!st) return ch;
  return lang === 'zh-CN' ? `${ch}（${st}）` : `${ch} (${st})`;
}

/** What the page shows for a document id. */
export function publicView(doc: IssuedDocument | null, bankName: string, lang: VerifyLang): DocumentView {
  if (!isIssued(doc)) return { issued: false, bankName };
  const main = doc.artifacts.find((a) => a.part === 'document') as RecordedArtifact;
  return {
    issued: true,
    documentId: doc.documentId,
    bankName,
    documentType: documentType(doc.channel, doc.stage, lang),
    channel: doc.channel,
    stage: doc.stage,
    date: doc.issuedOn,
    maskedRecipient: maskedRecipient(doc, lang),
    sha256: main.sha256,
    attachments: doc.artifacts
      .filter((a) => a.part === 'attachment')
      .map((a) => ({ sha256: a.sha256, mediaType: a.mediaType })),
    state: stateOf(doc),
    supersededOn: doc.supersededBy?.issuedOn ?? null,
  };
}

/* Reading the record from evidence events and sibling notices. */

function obj(v: JsonValue | undefined): { [k: string]: JsonValue } | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

/** The artifacts recorded by a notice's `message.rendered` events (the latest render wins). */
export function recordedArtifacts(events: Iterable<ChainedEvent>): RecordedArtifact[] {
  let out: RecordedArtifact[] = [];
  for (const ev of events) {
    if (ev.type !== 'message.rendered') continue;
    const p = obj(ev.payload);
    if (!p || typeof p.sha256 !== 'string' || !HEX64.test(p.sha256)) continue;
    const list: RecordedArtifact[] = [
      { sha256: p.sha256, mediaType: typeof p.mediaType === 'string' ? p.mediaType : '', part: 'document' },
    ];
    if (Array.isArray(p.attachments)) {
      for (const a of p.attachments) {
        const o = obj(a);
        if (o && typeof o.sha256 === 'string' && HEX64.test(o.sha256)) {
          list.push({
            sha256: o.sha256,
            mediaType: typeof o.mediaType === 'string' ? o.mediaType : '',
            part: 'attachment',
          });
        }
      }
    }
    out = list;
  }
  return out;
}

export interface SiblingNotice {
  id: string;
  channel: string;
  recipientAddress: string;
  status: string;
  createdAt: number;
  issuedOn: string;
}

/**
 * The notice that replaces `self`: the latest later one of the same case to the same address over
 * the same channel that went out (sent or delivered). Escalations to another channel do not replace it.
 */
export function supersedingNotice(
  self: { id: string; channel: string; recipientAddress: string; createdAt: number },
  siblings: readonly SiblingNotice[],
): { documentId: string; issuedOn: string } | null {
  let best: SiblingNotice | null = null;
  for (const s of siblings) {
    if (s.id === self.id || s.channel !== self.channel || s.recipientAddress !== self.recipientAddress)
      continue;
    if (s.createdAt <= self.createdAt) continue;
    if (s.status !== 'sent' && s.status !== 'delivered') continue;
    if (!best || s.createdAt > best.createdAt) best = s;
  }
  return best ? { documentId: best.id, issuedOn: best.issuedOn } : null;
}

/* The evidence of a lookup. */

export type LookupMethod = 'view' | 'upload' | 'hash';

/**
 * A client's pseudonym for the evidence: HMAC-SHA-256 of its IP address under a server key,
 * 16 hex digits. Lets a reviewer see repeated lookups from one client without storing the
 * address (a plain hash of an IPv4 address is reversible by trying all 2^32).
 */
export function clientPseudonym(ip: string, key: Buffer | string): string {
  return createHmac('sha256', key).update(`verify-client|${ip}`).digest('hex').slice(0, 16);
}

/** Payload of the `document.verified` evidence event. */
export function verificationPayload(input: {
  documentId: string;
  method: LookupMethod;
  view: DocumentView;
  check: CheckResult | null;
  sha256Checked: string | null;
  bytes: number | null;
  client: string;
  lang: VerifyLang;
}): JsonValue {
  const result = input.check ? input.check.result : input.view.issued ? 'shown' : 'not_issued';
  return {
    documentId: input.documentId,
    method: input.method,
    result,
    state: input.view.issued ? input.view.state : null,
    sha256Checked: input.sha256Checked,
    bytes: input.bytes,
    client: input.client,
    lang: input.lang,
  };
}

export const DOCUMENT_VERIFIED = 'document.verified';
