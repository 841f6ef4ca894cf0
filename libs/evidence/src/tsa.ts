import { createHash, randomBytes } from 'node:crypto';

/**
 * RFC 3161 time-stamp client with a minimal hand-rolled DER encoder/reader (no ASN.1 dependency).
 * It builds a TimeStampReq (SHA-256 imprint, nonce, certReq), posts it to a TSA and checks the
 * reply's status, imprint and nonce. Verifying the TSA's CMS signature is left to
 * `openssl ts -verify` (see docs/evidence.md) or to a caller with the TSA's CA.
 */

export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_TST_INFO = '1.2.840.113549.1.9.16.1.4';

// ---- DER encoding -------------------------------------------------------------------------------

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

const derSequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const derNull = (): Buffer => Buffer.from([0x05, 0x00]);
const derOctetString = (b: Buffer): Buffer => tlv(0x04, b);
const derBoolean = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);

/** A non-negative INTEGER from big-endian magnitude bytes (minimal encoding). */
function derUnsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length === 0) body = Buffer.from([0]);
  if (body[0] & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

function derOid(oid: string): Buffer {
  const parts = oid.split('.').map((p) => Number(p));
  if (parts.length < 2 || parts.some((p) => !Number.isSafeInteger(p) || p < 0))
    throw new Error(`bad OID ${oid}`);
  const bytes: number[] = [];
  const encodeArc = (arc: number): void => {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  };
  encodeArc(parts[0] * 40 + parts[1]);
  for (const arc of parts.slice(2)) encodeArc(arc);
  return tlv(0x06, Buffer.from(bytes));
}

// ---- DER reading --------------------------------------------------------------------------------

export interface DerNode {
  tag: number;
  constructed: boolean;
  /** The content octets. */
  value: Buffer;
  /** The whole TLV. */
  raw: Buffer;
}

export class DerError extends Error {}

export function readDer(buf: Buffer, offset = 0): DerNode {
  if (offset + 2 > buf.length) throw new DerError('truncated DER header');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported DER length');
    if (pos + n > buf.length) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
  }
  if (pos + len > buf.length) throw new DerError('DER value runs past the end');
  return {
    tag,
    constructed: (tag & 0x20) !== 0,
    value: buf.subarray(pos, pos + len),
    raw: buf.subarray(offset, pos + len),
  };
}

export function derChildren(node: DerNode): DerNode[] {
  if (!node.constructed) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let off = 0;
  while (off < node.value.length) {
    const child = readDer(node.value, off);
    out.push(child);
    off += child.raw.length;
  }
  return out;
}

export function decodeOid(node: DerNode): string {
  if (node.tag !== 0x06) throw new DerError('expected an OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let v = 0;
  for (const b of node.value) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0;
    }
  }
  if (arcs.length === 0) throw new DerError('empty OID');
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new DerError(`expected ${what}`);
  return node;
}

function integerValue(node: DerNode): number {
  expectTag(node, 0x02, 'INTEGER');
  if (node.value.length > 6) throw new DerError('INTEGER too large');
  return node.value.readIntBE(0, node.value.length);
}

/** Big-endian magnitude of a non-negative INTEGER, without leading zero bytes. */
function integerMagnitude(node: DerNode): Buffer {
  expectTag(node, 0x02, 'INTEGER');
  let start = 0;
  while (start < node.value.length - 1 && node.value[start] === 0) start++;
  return Buffer.from(node.value.subarray(start));
}

// ---- TimeStampReq / TimeStampResp ---------------------------------------------------------------

export interface TimeStampRequest {
  der: Buffer;
  /** Big-endian nonce bytes as encoded. */
  nonce: Buffer;
  /** SHA-256 of the data. */
  messageImprint: Buffer;
}

/**
 * TimeStampReq ::= SEQUENCE { version 1, messageImprint, reqPolicy OPTIONAL, nonce, certReq }
 */
export function buildTimeStampRequest(
  data: Buffer,
  options: { nonce?: Buffer; certReq?: boolean; policyOid?: string } = {},
): TimeStampRequest {
  const imprint = createHash('sha256').update(data).digest();
  let nonce = options.nonce ?? randomBytes(8);
  // Keep the nonce positive and minimally encoded: first byte in 0x01..0x7f.
  if (!options.nonce) nonce[0] = (nonce[0] & 0x7f) | 0x01;
  nonce = integerMagnitude(readDer(derUnsignedInteger(nonce)));
  const parts = [
    tlv(0x02, Buffer.from([1])),
    derSequence(derSequence(derOid(OID_SHA256), derNull()), derOctetString(imprint)),
  ];
  if (options.policyOid) parts.push(derOid(options.policyOid));
  parts.push(derUnsignedInteger(nonce));
  if (options.certReq ?? true) parts.push(derBoolean(true));
  return { der: derSequence(...parts), nonce, messageImprint: imprint };
}

export interface TimeStampInfo {
  /** PKIStatus: 0 granted, 1 grantedWithMods. */
  status: number;
  policy: string;
  hashAlgorithm: string;
  messageImprint: Buffer;
  serialNumber: string;
  /** ISO-8601 UTC. */
  genTime: string;
  nonce?: Buffer;
}

export class TimeStampError extends Error {}

const PKI_STATUS = [
  'granted',
  'grantedWithMods',
  'rejection',
  'waiting',
  'revocationWarning',
  'revocationNotification',
];

function parseGeneralizedTime(node: DerNode): string {
  expectTag(node, 0x18, 'GeneralizedTime');
  const s = node.value.toString('latin1');
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/.exec(s);
  if (!m) throw new DerError(`unsupported GeneralizedTime ${s}`);
  const ms = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], Math.floor(ms)));
  return d.toISOString();
}

/** Parses a DER TimeStampResp (as in a .tsr file) down to its TSTInfo. Throws TimeStampError. */
export function parseTimeStampResponse(der: Buffer): TimeStampInfo {
  try {
    const resp = expectTag(readDer(der), 0x30, 'TimeStampResp');
    if (resp.raw.length !== der.length) throw new DerError('trailing bytes after TimeStampResp');
    const [statusInfo, token] = derChildren(resp);
    const statusFields = derChildren(expectTag(statusInfo, 0x30, 'PKIStatusInfo'));
    const status = integerValue(statusFields[0]);
    if (status !== 0 && status !== 1) {
      const text = statusFields
        .filter((f) => f.tag === 0x30)
        .flatMap((f) => derChildren(f).map((s) => s.value.toString('utf8')))
        .join('; ');
      throw new TimeStampError(`TSA refused: ${PKI_STATUS[status] ?? status}${text ? ` (${text})` : ''}`);
    }
    const [ctype, explicit] = derChildren(expectTag(token, 0x30, 'timeStampToken'));
    if (decodeOid(ctype) !== OID_SIGNED_DATA) throw new DerError('token is not CMS SignedData');
    const signedData = expectTag(
      derChildren(expectTag(explicit, 0xa0, '[0] content'))[0],
      0x30,
      'SignedData',
    );
    const encap = expectTag(derChildren(signedData)[2], 0x30, 'EncapsulatedContentInfo');
    const [eType, eExplicit] = derChildren(encap);
    if (decodeOid(eType) !== OID_TST_INFO) throw new DerError('token content is not TSTInfo');
    const octets = expectTag(derChildren(expectTag(eExplicit, 0xa0, '[0] eContent'))[0], 0x04, 'eContent');
    const tst = derChildren(expectTag(readDer(octets.value), 0x30, 'TSTInfo'));
    const [, policy, imprint, serial, genTime, ...rest] = tst;
    const [alg, hashed] = derChildren(expectTag(imprint, 0x30, 'MessageImprint'));
    const nonceNode = rest.find((n) => n.tag === 0x02);
    return {
      status,
      policy: decodeOid(policy),
      hashAlgorithm: decodeOid(derChildren(expectTag(alg, 0x30, 'AlgorithmIdentifier'))[0]),
      messageImprint: Buffer.from(expectTag(hashed, 0x04, 'hashedMessage').value),
      serialNumber: integerMagnitude(serial).toString('hex'),
      genTime: parseGeneralizedTime(genTime),
      nonce: nonceNode ? integerMagnitude(nonceNode) : undefined,
    };
  } catch (err) {
    if (err instanceof TimeStampError) throw err;
    throw new TimeStampError(`malformed time-stamp response: ${(err as Error).message}`);
  }
}

/** Checks that a time-stamp response covers `data` (SHA-256 imprint) and, when given, the nonce. */
export function checkTimeStampResponse(der: Buffer, data: Buffer, nonce?: Buffer): TimeStampInfo {
  const info = parseTimeStampResponse(der);
  if (info.hashAlgorithm !== OID_SHA256)
    throw new TimeStampError(`unexpected imprint algorithm ${info.hashAlgorithm}`);
  if (!info.messageImprint.equals(createHash('sha256').update(data).digest())) {
    throw new TimeStampError('time-stamp imprint does not match the data');
  }
  if (nonce && !(info.nonce && info.nonce.equals(nonce)))
    throw new TimeStampError('time-stamp nonce does not match');
  return info;
}

export interface RequestTimestampOptions {
  timeoutMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  policyOid?: string;
}

/**
 * Asks an RFC 3161 TSA (HTTP POST, application/timestamp-query) to time-stamp `data`.
 * Resolves to the DER TimeStampResp (a .tsr file, as `openssl ts -verify -in` reads it) after
 * checking status granted, SHA-256 imprint and nonce.
 */
export async function requestTimestamp(
  tsaUrl: string,
  data: Buffer,
  options: RequestTimestampOptions = {},
): Promise<Buffer> {
  const req = buildTimeStampRequest(data, { policyOid: options.policyOid });
  const doFetch = options.fetch ?? fetch;
  const res = await doFetch(tsaUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/timestamp-query',
      accept: 'application/timestamp-reply',
      ...options.headers,
    },
    body: new Uint8Array(req.der),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  if (!res.ok) throw new TimeStampError(`TSA answered HTTP ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  checkTimeStampResponse(body, data, req.nonce);
  return body;
}
