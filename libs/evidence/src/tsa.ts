import { createHash, randomBytes, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/**
 * RFC 3161 time-stamp client and verifier on PKI.js (`pkijs` + `asn1js`): it builds a
 * TimeStampReq (SHA-256 imprint, nonce, certReq), posts it to a TSA, and verifies the reply —
 * status, imprint, nonce, the CMS signature (with the ESS signing-certificate binding) and the
 * TSA certificate's chain to a trusted CA plus its critical `timeStamping` extended key usage.
 */

export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SHA384 = '2.16.840.1.101.3.4.2.2';
const OID_SHA512 = '2.16.840.1.101.3.4.2.3';
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_TST_INFO = '1.2.840.113549.1.9.16.1.4';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_KP_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
const OID_SIGNING_CERTIFICATE = '1.2.840.113549.1.9.16.2.12';
const OID_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';
const SIGNER_DIGESTS = new Set([OID_SHA256, OID_SHA384, OID_SHA512]);
const NODE_HASH: Record<string, string> = {
  [OID_SHA256]: 'sha256',
  [OID_SHA384]: 'sha384',
  [OID_SHA512]: 'sha512',
  '1.3.14.3.2.26': 'sha1',
};

/** Node's WebCrypto for PKI.js, passed explicitly (no process-global engine). */
const engine = new pkijs.CryptoEngine({
  name: 'node',
  crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'],
});

/** What failed: `malformed` (not a TimeStampResp), or one of the checks the brief names. */
export type TimeStampFailure =
  'malformed' | 'status' | 'imprint' | 'nonce' | 'signature' | 'chain' | 'algorithm';

export class TimeStampError extends Error {
  constructor(
    readonly reason: TimeStampFailure,
    message: string,
  ) {
    super(message);
    this.name = 'TimeStampError';
  }
}

const toArrayBuffer = (b: Uint8Array): ArrayBuffer =>
  b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** Big-endian magnitude without leading zero bytes (at least one byte). */
function magnitude(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return Buffer.from(bytes.subarray(start));
}

// ---- TimeStampReq -------------------------------------------------------------------------------

export interface TimeStampRequest {
  der: Buffer;
  /** Big-endian nonce bytes as encoded (magnitude, no leading zeros). */
  nonce: Buffer;
  /** SHA-256 of the data. */
  messageImprint: Buffer;
}

/** TimeStampReq { version 1, messageImprint (SHA-256), reqPolicy?, nonce, certReq } via PKI.js. */
export function buildTimeStampRequest(
  data: Buffer,
  options: { nonce?: Buffer; certReq?: boolean; policyOid?: string } = {},
): TimeStampRequest {
  const imprint = createHash('sha256').update(data).digest();
  const raw = options.nonce ? Buffer.from(options.nonce) : randomBytes(8);
  // A random nonce starts with 0x01..0x7f: positive and of a fixed length.
  if (!options.nonce) raw[0] = (raw[0] & 0x7f) | 0x01;
  const nonce = magnitude(raw);
  // INTEGER is two's complement: a leading 0x00 keeps a high-bit nonce positive.
  const nonceInt = nonce[0] & 0x80 ? Buffer.concat([Buffer.from([0]), nonce]) : nonce;
  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: OID_SHA256,
        algorithmParams: new asn1js.Null(),
      }),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(imprint) }),
    }),
    ...(options.policyOid ? { reqPolicy: options.policyOid } : {}),
    nonce: new asn1js.Integer({ valueHex: toArrayBuffer(nonceInt) }),
    certReq: options.certReq ?? true,
  });
  return { der: Buffer.from(req.toSchema().toBER(false)), nonce, messageImprint: imprint };
}

// ---- TimeStampResp ------------------------------------------------------------------------------

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

const PKI_STATUS = [
  'granted',
  'grantedWithMods',
  'rejection',
  'waiting',
  'revocationWarning',
  'revocationNotification',
];

interface ParsedToken {
  info: TimeStampInfo;
  signedData: pkijs.SignedData;
}

function parseToken(der: Buffer): ParsedToken {
  let resp: pkijs.TimeStampResp;
  try {
    const asn = asn1js.fromBER(toArrayBuffer(der));
    if (asn.offset === -1) throw new Error(asn.result.error || 'not BER');
    if (asn.offset !== der.length) throw new Error('trailing bytes after TimeStampResp');
    resp = new pkijs.TimeStampResp({ schema: asn.result });
  } catch (err) {
    throw new TimeStampError('malformed', `malformed time-stamp response: ${(err as Error).message}`);
  }
  const status = resp.status.status as number;
  if (status !== 0 && status !== 1) {
    const text = (resp.status.statusStrings ?? []).map((s) => s.valueBlock.value).join('; ');
    throw new TimeStampError(
      'status',
      `TSA refused: ${PKI_STATUS[status] ?? status}${text ? ` (${text})` : ''}`,
    );
  }
  try {
    const token = resp.timeStampToken;
    if (!token) throw new Error('granted but no timeStampToken');
    if (token.contentType !== OID_SIGNED_DATA) throw new Error('token is not CMS SignedData');
    const signedData = new pkijs.SignedData({ schema: token.content });
    const encap = signedData.encapContentInfo;
    if (encap.eContentType !== OID_TST_INFO || !encap.eContent)
      throw new Error('token content is not TSTInfo');
    const tst = pkijs.TSTInfo.fromBER(encap.eContent.getValue());
    const nonce = tst.nonce ? magnitude(tst.nonce.valueBlock.valueHexView) : undefined;
    return {
      signedData,
      info: {
        status,
        policy: tst.policy,
        hashAlgorithm: tst.messageImprint.hashAlgorithm.algorithmId,
        messageImprint: Buffer.from(tst.messageImprint.hashedMessage.valueBlock.valueHexView),
        serialNumber: magnitude(tst.serialNumber.valueBlock.valueHexView).toString('hex'),
        genTime: tst.genTime.toISOString(),
        ...(nonce ? { nonce } : {}),
      },
    };
  } catch (err) {
    throw new TimeStampError('malformed', `malformed time-stamp response: ${(err as Error).message}`);
  }
}

/** Parses a DER TimeStampResp (as in a .tsr file) down to its TSTInfo. Checks only the status. */
export function parseTimeStampResponse(der: Buffer): TimeStampInfo {
  return parseToken(der).info;
}

function checkContent(info: TimeStampInfo, data: Buffer, nonce?: Buffer): void {
  if (info.hashAlgorithm !== OID_SHA256)
    throw new TimeStampError('algorithm', `imprint algorithm ${info.hashAlgorithm} is not SHA-256`);
  if (!info.messageImprint.equals(createHash('sha256').update(data).digest()))
    throw new TimeStampError('imprint', 'time-stamp imprint does not match the data');
  if (nonce && !(info.nonce && info.nonce.equals(magnitude(nonce))))
    throw new TimeStampError('nonce', 'time-stamp nonce does not match');
}

/**
 * Checks status, SHA-256 imprint and (when given) nonce, without the signature or chain: what an
 * unauthenticated reader can check. Use `verifyTimeStampToken` to trust a token.
 */
export function checkTimeStampResponse(der: Buffer, data: Buffer, nonce?: Buffer): TimeStampInfo {
  const { info } = parseToken(der);
  checkContent(info, data, nonce);
  return info;
}

// ---- Verification -------------------------------------------------------------------------------

/** PEM text (one or more CERTIFICATE blocks) or DER bytes. */
export type CertificateSource = string | Buffer;

/** Reads certificates from PEM (any number of blocks) or DER. Throws on anything else. */
export function loadCertificates(
  input: CertificateSource | readonly CertificateSource[],
): pkijs.Certificate[] {
  const items = Array.isArray(input) ? input : [input as CertificateSource];
  const out: pkijs.Certificate[] = [];
  for (const item of items) {
    const text = typeof item === 'string' ? item : item.toString('latin1');
    if (text.includes('-----BEGIN')) {
      const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
      if (blocks.length === 0) throw new Error('no CERTIFICATE block in the PEM');
      for (const b of blocks)
        out.push(pkijs.Certificate.fromBER(Buffer.from(b[1].replace(/\s+/g, ''), 'base64')));
    } else {
      out.push(pkijs.Certificate.fromBER(typeof item === 'string' ? Buffer.from(item, 'base64') : item));
    }
  }
  return out;
}

export interface VerifyTimeStampOptions {
  /** Trust anchors: the CA that issued the TSA certificate (PEM, several blocks allowed, or DER). */
  trustedCerts: CertificateSource | readonly CertificateSource[];
  /** Untrusted certificates that help build the chain (intermediates; the TSA certificate when the token lacks it). */
  certs?: CertificateSource | readonly CertificateSource[];
  /** The nonce sent in the request. */
  nonce?: Buffer;
  /** The instant the certificates must be valid at (default: the token's genTime). */
  at?: Date;
  /**
   * false: check everything except the chain to a trust anchor (an offline reader without the TSA's CA);
   * the result says `chainVerified: false`. Default true.
   */
  checkChain?: boolean;
}

export interface VerifiedTimeStamp {
  /** ISO-8601 UTC. */
  genTime: string;
  /** Serial number, hex. */
  serial: string;
  policy: string;
  /** Subject of the TSA (signer) certificate, e.g. `CN=Evidence Test TSA`. */
  tsaCertificate: { subject: string; issuer: string; serialNumber: string; sha256: string };
  /** Whether the TSA certificate was chained to a trusted certificate. */
  chainVerified: boolean;
  info: TimeStampInfo;
}

const NAME_TYPES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
};

function nameText(name: pkijs.RelativeDistinguishedNames): string {
  return name.typesAndValues
    .map((tv) => `${NAME_TYPES[tv.type] ?? tv.type}=${String(tv.value.valueBlock.value)}`)
    .join(', ');
}

const certDer = (c: pkijs.Certificate): Buffer => Buffer.from(c.toSchema(true).toBER(false));

function findSigner(signedData: pkijs.SignedData, extra: pkijs.Certificate[]): pkijs.Certificate | undefined {
  const info = signedData.signerInfos[0];
  const all = [...(signedData.certificates ?? []).filter((c) => c instanceof pkijs.Certificate), ...extra];
  if (info.sid instanceof pkijs.IssuerAndSerialNumber) {
    const sid = info.sid;
    return all.find((c) => c.issuer.isEqual(sid.issuer) && c.serialNumber.isEqual(sid.serialNumber));
  }
  // SubjectKeyIdentifier [0]: primitive, or constructed around an OCTET STRING.
  const sid = info.sid as asn1js.Constructed | asn1js.OctetString;
  const inner = sid.idBlock.isConstructed ? (sid as asn1js.Constructed).valueBlock.value[0] : sid;
  const keyId = Buffer.from((inner as asn1js.OctetString).valueBlock.valueHexView);
  return all.find((c) =>
    createHash('sha1')
      .update(c.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView)
      .digest()
      .equals(keyId),
  );
}

/** RFC 3161 / RFC 5816: the signed ESS signing-certificate(-v2) attribute names the signer certificate's hash. */
function checkEssBinding(signerInfo: pkijs.SignerInfo, signer: pkijs.Certificate): void {
  const attrs = signerInfo.signedAttrs?.attributes ?? [];
  const v2 = attrs.find((a) => a.type === OID_SIGNING_CERTIFICATE_V2);
  const v1 = attrs.find((a) => a.type === OID_SIGNING_CERTIFICATE);
  const attr = v2 ?? v1;
  if (!attr)
    throw new TimeStampError('signature', 'the signature lacks the ESS signing-certificate attribute');
  try {
    const signingCert = attr.values[0] as asn1js.Sequence;
    const certIds = signingCert.valueBlock.value[0] as asn1js.Sequence;
    const first = certIds.valueBlock.value[0] as asn1js.Sequence;
    const fields = first.valueBlock.value;
    let hashOid = v2 ? OID_SHA256 : '1.3.14.3.2.26';
    let hashField = fields[0];
    if (v2 && fields[0] instanceof asn1js.Sequence) {
      hashOid = new pkijs.AlgorithmIdentifier({ schema: fields[0] }).algorithmId;
      hashField = fields[1];
    }
    const alg = NODE_HASH[hashOid];
    if (!alg) throw new TimeStampError('algorithm', `ESS certificate hash ${hashOid} is not supported`);
    const expected = Buffer.from((hashField as asn1js.OctetString).valueBlock.valueHexView);
    if (!createHash(alg).update(certDer(signer)).digest().equals(expected))
      throw new TimeStampError(
        'signature',
        'the ESS signing-certificate attribute names another certificate',
      );
  } catch (err) {
    if (err instanceof TimeStampError) throw err;
    throw new TimeStampError(
      'signature',
      `unreadable ESS signing-certificate attribute: ${(err as Error).message}`,
    );
  }
}

function checkTimeStampingEku(cert: pkijs.Certificate): void {
  const ext = (cert.extensions ?? []).find((e) => e.extnID === OID_EXT_KEY_USAGE);
  const purposes = ext?.parsedValue instanceof pkijs.ExtKeyUsage ? ext.parsedValue.keyPurposes : undefined;
  if (!ext || !ext.critical || purposes?.length !== 1 || purposes[0] !== OID_KP_TIME_STAMPING) {
    throw new TimeStampError(
      'chain',
      'the TSA certificate lacks the critical extendedKeyUsage timeStamping (and only that purpose)',
    );
  }
}

/**
 * Verifies an RFC 3161 TimeStampResp (DER, a .tsr file) over `data`: status granted, SHA-256
 * imprint, nonce, the CMS signature by the TSA certificate (ESS-bound), that certificate's
 * critical timeStamping EKU and its chain to `trustedCerts` at genTime (or `at`).
 * Throws `TimeStampError` whose `reason` names the first failed check.
 */
export async function verifyTimeStampToken(
  der: Buffer,
  data: Buffer,
  options: VerifyTimeStampOptions,
): Promise<VerifiedTimeStamp> {
  const { info, signedData } = parseToken(der);
  checkContent(info, data, options.nonce);

  const signerInfo = signedData.signerInfos[0];
  if (!signerInfo || signedData.signerInfos.length !== 1)
    throw new TimeStampError('signature', 'a time-stamp token has exactly one signer');
  const digestOid = signerInfo.digestAlgorithm.algorithmId;
  if (!SIGNER_DIGESTS.has(digestOid))
    throw new TimeStampError('algorithm', `signature digest ${digestOid} is not SHA-256/384/512`);

  let extra: pkijs.Certificate[];
  let trusted: pkijs.Certificate[];
  try {
    extra = options.certs ? loadCertificates(options.certs) : [];
    trusted = loadCertificates(options.trustedCerts);
  } catch (err) {
    throw new TimeStampError('chain', `unreadable certificate: ${(err as Error).message}`);
  }
  const signer = findSigner(signedData, [...extra, ...trusted]);
  if (!signer) throw new TimeStampError('signature', 'the TSA certificate is neither in the token nor given');
  if (!(signedData.certificates ?? []).includes(signer)) {
    signedData.certificates = [...(signedData.certificates ?? []), signer];
  }

  let signatureOk = false;
  let why = 'the CMS signature does not verify';
  try {
    const r = await signedData.verify({ signer: 0, data: toArrayBuffer(data), extendedMode: true }, engine);
    signatureOk = r.signatureVerified === true;
  } catch (err) {
    why = `the CMS signature does not verify: ${(err as Error).message}`;
  }
  if (!signatureOk) throw new TimeStampError('signature', why);
  checkEssBinding(signerInfo, signer);

  checkTimeStampingEku(signer);
  const checkChain = options.checkChain ?? true;
  if (checkChain) {
    if (trusted.length === 0) throw new TimeStampError('chain', 'no trusted certificate to chain the TSA to');
    const intermediates = [
      ...(signedData.certificates ?? []).filter(
        (c): c is pkijs.Certificate => c instanceof pkijs.Certificate,
      ),
      ...extra,
    ].filter((c) => c !== signer);
    const chain = new pkijs.CertificateChainValidationEngine({
      trustedCerts: trusted,
      certs: [...intermediates, signer],
      checkDate: options.at ?? new Date(info.genTime),
    });
    let result: { result: boolean; resultMessage: string };
    try {
      result = await chain.verify({}, engine);
    } catch (err) {
      const e = err as { resultMessage?: string; message?: string };
      result = { result: false, resultMessage: e.resultMessage ?? e.message ?? String(err) };
    }
    if (!result.result) {
      throw new TimeStampError(
        'chain',
        `the TSA certificate (${nameText(signer.subject)}) does not chain to a trusted certificate: ${result.resultMessage}`,
      );
    }
  }

  return {
    genTime: info.genTime,
    serial: info.serialNumber,
    policy: info.policy,
    tsaCertificate: {
      subject: nameText(signer.subject),
      issuer: nameText(signer.issuer),
      serialNumber: magnitude(signer.serialNumber.valueBlock.valueHexView).toString('hex'),
      sha256: createHash('sha256').update(certDer(signer)).digest('hex'),
    },
    chainVerified: checkChain,
    info,
  };
}

// ---- HTTP client --------------------------------------------------------------------------------

export interface RequestTimestampOptions {
  timeoutMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  policyOid?: string;
  /**
   * The TSA's CA (PEM/DER): with it, the reply is fully verified (`verifyTimeStampToken`);
   * without it only status, imprint and nonce are checked.
   */
  trustedCerts?: CertificateSource | readonly CertificateSource[];
}

/**
 * Asks an RFC 3161 TSA (HTTP POST, application/timestamp-query) to time-stamp `data`.
 * Resolves to the DER TimeStampResp (a .tsr file, as `openssl ts -verify -in` reads it) after
 * checking status granted, SHA-256 imprint and nonce, and with `trustedCerts` the signature and chain.
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
  if (!res.ok) throw new TimeStampError('status', `TSA answered HTTP ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (options.trustedCerts !== undefined) {
    await verifyTimeStampToken(body, data, { trustedCerts: options.trustedCerts, nonce: req.nonce });
  } else {
    checkTimeStampResponse(body, data, req.nonce);
  }
  return body;
}
