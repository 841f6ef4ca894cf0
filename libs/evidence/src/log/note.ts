/**
 * C2SP signed notes (c2sp.org/signed-note), transparency-log checkpoints
 * (c2sp.org/tlog-checkpoint) and Ed25519 checkpoint cosignatures (c2sp.org/tlog-cosignature,
 * `cosignature/v1`), with Ed25519 from node:crypto.
 *
 *     <note text, ending in a newline>
 *     <blank line>
 *     — <key name> base64(4-byte big-endian key ID || signature)
 *
 * key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]; a verifier key (vkey)
 * is `<name>+<hex key ID>+base64(signature type || public key)`. Type 0x01 signs the note text
 * itself; type 0x04 (cosignature/v1) signs "cosignature/v1\ntime <secs>\n" + the note text and
 * its signature is an 8-byte big-endian timestamp followed by the 64-byte Ed25519 signature.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as edSign,
  verify as edVerify,
} from 'node:crypto';
import { AppError, ValidationError } from '#libs/core';

export const SIG_TYPE_ED25519 = 0x01;
export const SIG_TYPE_COSIGNATURE_V1 = 0x04;
/** Signatures read from one note at most (the spec asks verifiers to accept at least 16). */
export const MAX_NOTE_SIGNATURES = 100;
const EM_DASH = '\u2014';
const COSIGNATURE_V1_HEADER = 'cosignature/v1\n';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A note whose signatures do not verify: no known key signed it, or a known key's signature is bad. */
export class NoteSignatureError extends AppError {
  readonly code = 'forbidden';
  readonly status = 403;
  readonly title = 'Note signature not verified';
}

export interface NoteSignature {
  name: string;
  /** The uint32 key ID. */
  keyId: number;
  /** The signature bytes after the key ID. */
  signature: Buffer;
}

export interface Note {
  /** The signed text, final newline included. */
  text: string;
  signatures: NoteSignature[];
}

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** Signature bytes (without the key ID) over the note text. */
  sign(text: string): Buffer;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(text: string, signature: Buffer): boolean;
}

export interface VerifierKey {
  name: string;
  keyId: number;
  type: number;
  publicKey: Buffer;
}

export interface OpenedNote {
  text: string;
  /** Signatures by known keys, each verified (duplicates dropped). */
  verified: NoteSignature[];
  /** Signatures by keys the caller does not know: ignored, kept to pass along. */
  unverified: NoteSignature[];
}

// ---------------------------------------------------------------------------------------------
// Encodings

/** Strict standard base64 (RFC 4648 section 4): canonical padding, no whitespace. */
export function decodeBase64Strict(s: string): Buffer | null {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : null;
}

/** Key names are non-empty and hold no Unicode space and no plus. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name);
}

function checkNoteChars(s: string, what: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(s)) {
    throw new ValidationError(`${what} holds an ASCII control character other than newline`);
  }
  if (LONE_SURROGATE.test(s)) throw new ValidationError(`${what} is not valid UTF-8`);
}

/** key ID = SHA-256(name || 0x0A || type || public key)[:4], as a uint32. */
export function noteKeyId(name: string, type: number, publicKey: Buffer): number {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

/** Splits at the first count-1 plus signs (base64 key material may hold more). */
function splitPlus(s: string, count: number): string[] | null {
  const out: string[] = [];
  let rest = s;
  for (let i = 0; i < count - 1; i++) {
    const p = rest.indexOf('+');
    if (p < 0) return null;
    out.push(rest.slice(0, p));
    rest = rest.slice(p + 1);
  }
  out.push(rest);
  return out;
}

function hexKeyId(id: number): string {
  return id.toString(16).padStart(8, '0');
}

export function formatVerifierKey(name: string, type: number, publicKey: Buffer): string {
  if (!isValidKeyName(name)) throw new ValidationError(`invalid key name ${JSON.stringify(name)}`);
  const id = noteKeyId(name, type, publicKey);
  return `${name}+${hexKeyId(id)}+${Buffer.concat([Buffer.from([type]), publicKey]).toString('base64')}`;
}

/** Parses `<name>+<hex key ID>+base64(type || key)`; the key ID must match the key (types 0x01 and 0x04). */
export function parseVerifierKey(vkey: string): VerifierKey {
  const parts = splitPlus(vkey.trim(), 3);
  if (!parts) throw new ValidationError('a verifier key is <name>+<hex key id>+<base64 key>');
  const [name, idHex, keyB64] = parts;
  if (!isValidKeyName(name)) throw new ValidationError(`invalid key name ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new ValidationError('a verifier key ID is 8 lowercase hex digits');
  const raw = decodeBase64Strict(keyB64);
  if (!raw || raw.length < 2) throw new ValidationError('a verifier key ends in base64(type || public key)');
  const type = raw[0];
  const publicKey = raw.subarray(1);
  const keyId = Number.parseInt(idHex, 16);
  if ((type === SIG_TYPE_ED25519 || type === SIG_TYPE_COSIGNATURE_V1) && publicKey.length !== 32) {
    throw new ValidationError('an Ed25519 verifier key holds a 32-byte public key');
  }
  if (noteKeyId(name, type, publicKey) !== keyId) {
    throw new ValidationError(`verifier key ${name}: key ID ${idHex} does not match the key`);
  }
  return { name, keyId, type, publicKey: Buffer.from(publicKey) };
}

// ---------------------------------------------------------------------------------------------
// Ed25519 keys

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PrivateKeyFromSeed(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new ValidationError('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new ValidationError('an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The 32-byte RFC 8032 encoding of an Ed25519 key's public half. */
export function ed25519PublicKeyRaw(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new ValidationError('not an Ed25519 key');
  const der = pub.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

export function generateEd25519Key(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/**
 * Reads the Go `golang.org/x/mod/sumdb/note` private key form
 * `PRIVATE+KEY+<name>+<hex key ID>+base64(type || 32-byte Ed25519 seed)`, type 0x01 (note
 * signer) or 0x04 (cosigner); the key ID is checked against the key for that type.
 */
export function parseNoteSigningKey(skey: string): {
  name: string;
  keyId: number;
  type: number;
  privateKey: KeyObject;
} {
  const parts = splitPlus(skey.trim(), 5);
  if (!parts || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new ValidationError('a note signing key is PRIVATE+KEY+<name>+<hex key id>+<base64 key>');
  }
  const [, , name, idHex] = parts;
  const raw = decodeBase64Strict(parts[4]);
  if (!isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(idHex) || !raw || raw.length !== 33) {
    throw new ValidationError('malformed note signing key');
  }
  const type = raw[0];
  if (type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) {
    throw new ValidationError('only Ed25519 note signing keys (types 0x01, 0x04) are supported');
  }
  const privateKey = ed25519PrivateKeyFromSeed(raw.subarray(1));
  const keyId = Number.parseInt(idHex, 16);
  if (noteKeyId(name, type, ed25519PublicKeyRaw(privateKey)) !== keyId) {
    throw new ValidationError(`note signing key ${name}: key ID ${idHex} does not match the key`);
  }
  return { name, keyId, type, privateKey };
}

/** Writes an Ed25519 key in the Go note private key form (see `parseNoteSigningKey`). */
export function formatNoteSigningKey(name: string, type: number, privateKey: KeyObject): string {
  if (!isValidKeyName(name)) throw new ValidationError(`invalid key name ${JSON.stringify(name)}`);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = der.subarray(der.length - 32);
  const id = noteKeyId(name, type, ed25519PublicKeyRaw(privateKey));
  return `PRIVATE+KEY+${name}+${hexKeyId(id)}+${Buffer.concat([Buffer.from([type]), seed]).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// Signers and verifiers

export interface Ed25519NoteSigner extends NoteSigner {
  readonly publicKey: Buffer;
  /** The verifier key for this signer. */
  readonly vkey: string;
}

/** Plain Ed25519 note signatures (type 0x01), as a log signs its checkpoints. */
export function ed25519NoteSigner(name: string, privateKey: KeyObject): Ed25519NoteSigner {
  const publicKey = ed25519PublicKeyRaw(privateKey);
  const vkey = formatVerifierKey(name, SIG_TYPE_ED25519, publicKey);
  return {
    name,
    keyId: noteKeyId(name, SIG_TYPE_ED25519, publicKey),
    publicKey,
    vkey,
    sign: (text) => edSign(null, Buffer.from(text, 'utf8'), privateKey),
  };
}

/** The message a cosignature/v1 signs: two header lines, then the whole checkpoint text. */
export function cosignatureV1Message(text: string, timestamp: number): Buffer {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError('bad cosignature timestamp');
  return Buffer.from(`${COSIGNATURE_V1_HEADER}time ${timestamp}\n${text}`, 'utf8');
}

/** The timestamp (POSIX seconds) of a cosignature/v1 signature, or null when it is not one. */
export function cosignatureTimestamp(signature: Buffer): number | null {
  if (signature.length !== 8 + 64) return null;
  const t = signature.readBigUInt64BE(0);
  return t > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(t);
}

export interface CosignatureV1Signer extends Ed25519NoteSigner {
  /** Cosigns at an explicit time (POSIX seconds). */
  signAt(text: string, timestamp: number): Buffer;
}

/** Timestamped Ed25519 checkpoint cosignatures (type 0x04), as a witness signs. */
export function cosignatureV1Signer(
  name: string,
  privateKey: KeyObject,
  nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
): CosignatureV1Signer {
  const publicKey = ed25519PublicKeyRaw(privateKey);
  const signAt = (text: string, timestamp: number): Buffer => {
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(BigInt(timestamp));
    return Buffer.concat([ts, edSign(null, cosignatureV1Message(text, timestamp), privateKey)]);
  };
  return {
    name,
    keyId: noteKeyId(name, SIG_TYPE_COSIGNATURE_V1, publicKey),
    publicKey,
    vkey: formatVerifierKey(name, SIG_TYPE_COSIGNATURE_V1, publicKey),
    signAt,
    sign: (text) => signAt(text, nowSeconds()),
  };
}

/** A verifier for a vkey of type 0x01 (note signature) or 0x04 (cosignature/v1). */
export function noteVerifier(vkey: string | VerifierKey): NoteVerifier {
  const k = typeof vkey === 'string' ? parseVerifierKey(vkey) : vkey;
  const pub = ed25519PublicKeyFromRaw(k.publicKey);
  if (k.type === SIG_TYPE_ED25519) {
    return {
      name: k.name,
      keyId: k.keyId,
      verify: (text, sig) => sig.length === 64 && edVerify(null, Buffer.from(text, 'utf8'), pub, sig),
    };
  }
  if (k.type === SIG_TYPE_COSIGNATURE_V1) {
    return {
      name: k.name,
      keyId: k.keyId,
      verify: (text, sig) => {
        const ts = cosignatureTimestamp(sig);
        if (ts === null) return false;
        return edVerify(null, cosignatureV1Message(text, ts), pub, sig.subarray(8));
      },
    };
  }
  throw new ValidationError(`unsupported signature type 0x${k.type.toString(16).padStart(2, '0')}`);
}

// ---------------------------------------------------------------------------------------------
// Notes

export function formatSignatureLine(sig: NoteSignature): string {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(sig.keyId >>> 0);
  return `${EM_DASH} ${sig.name} ${Buffer.concat([id, sig.signature]).toString('base64')}\n`;
}

/** Parses signature lines (each `— <name> <base64>\n`), as in a note or a witness response. */
export function parseSignatureLines(block: string): NoteSignature[] {
  checkNoteChars(block, 'signature block');
  if (block.length === 0 || !block.endsWith('\n')) {
    throw new ValidationError('signature lines must end in a newline');
  }
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new ValidationError(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  }
  return lines.map((line) => {
    if (!line.startsWith(`${EM_DASH} `)) throw new ValidationError('a signature line starts with "— "');
    const rest = line.slice(2);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw new ValidationError('a signature line is "— <name> <base64 signature>"');
    const name = rest.slice(0, sp);
    const raw = decodeBase64Strict(rest.slice(sp + 1));
    if (!isValidKeyName(name)) throw new ValidationError(`invalid key name ${JSON.stringify(name)}`);
    if (!raw || raw.length < 5) throw new ValidationError(`malformed signature by ${name}`);
    return { name, keyId: raw.readUInt32BE(0), signature: Buffer.from(raw.subarray(4)) };
  });
}

/** Splits a note into its text and signatures, checking the format only (nothing is verified). */
export function parseNote(note: string | Buffer): Note {
  let s: string;
  if (typeof note === 'string') {
    s = note;
  } else {
    try {
      s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note);
    } catch {
      throw new ValidationError('note is not valid UTF-8');
    }
  }
  checkNoteChars(s, 'note');
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw new ValidationError('a note is text, a blank line and signature lines');
  const text = s.slice(0, split + 1);
  const signatures = parseSignatureLines(s.slice(split + 2));
  return { text, signatures };
}

export function formatNote(note: Note): string {
  checkNoteChars(note.text, 'note text');
  if (!note.text.endsWith('\n')) throw new ValidationError('note text must end in a newline');
  if (note.signatures.length === 0) throw new ValidationError('a note carries at least one signature');
  return `${note.text}\n${note.signatures.map(formatSignatureLine).join('')}`;
}

/** Signs a text with each signer, after any signatures already given. */
export function signNote(
  text: string,
  signers: readonly NoteSigner[],
  existing: NoteSignature[] = [],
): string {
  checkNoteChars(text, 'note text');
  if (!text.endsWith('\n')) throw new ValidationError('note text must end in a newline');
  const sigs = signers.map((s) => ({ name: s.name, keyId: s.keyId, signature: s.sign(text) }));
  return formatNote({ text, signatures: [...existing, ...sigs] });
}

/**
 * Verifies a note: signatures from unknown keys (name and key ID not both matching a verifier)
 * are ignored; every signature from a known key must verify; at least one must.
 * Throws ValidationError when the note is malformed, NoteSignatureError when it is not verified.
 */
export function openNote(note: string | Buffer | Note, verifiers: readonly NoteVerifier[]): OpenedNote {
  const n = typeof note === 'string' || Buffer.isBuffer(note) ? parseNote(note) : note;
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const sig of n.signatures) {
    const key = `${sig.name}+${sig.keyId}+${sig.signature.toString('base64')}`;
    const dup = seen.has(key);
    seen.add(key);
    const v = verifiers.find((x) => x.name === sig.name && x.keyId >>> 0 === sig.keyId >>> 0);
    if (!v) {
      if (!dup) unverified.push(sig);
      continue;
    }
    if (!v.verify(n.text, sig.signature)) {
      throw new NoteSignatureError(
        `the signature by ${sig.name} (key ${hexKeyId(sig.keyId)}) does not verify`,
      );
    }
    if (!dup) verified.push(sig);
  }
  if (verified.length === 0) throw new NoteSignatureError('the note carries no signature by a known key');
  return { text: n.text, verified, unverified };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

export interface LogCheckpoint {
  origin: string;
  size: number;
  /** The RFC 6962 root hash of the tree of `size` leaves (32 bytes). */
  root: Buffer;
  /** Optional extension lines (each non-empty). */
  extensions: string[];
}

/** The checkpoint note text: origin, decimal size, base64 root, extension lines; each ends in a newline. */
export function formatCheckpoint(cp: LogCheckpoint): string {
  if (cp.origin.length === 0 || cp.origin.includes('\n')) throw new ValidationError('bad checkpoint origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new ValidationError('bad checkpoint size');
  if (cp.root.length !== 32) throw new ValidationError('a checkpoint root is 32 bytes');
  for (const e of cp.extensions) {
    if (e.length === 0 || e.includes('\n'))
      throw new ValidationError('checkpoint extension lines are non-empty');
  }
  const text = [cp.origin, String(cp.size), cp.root.toString('base64'), ...cp.extensions]
    .map((l) => `${l}\n`)
    .join('');
  checkNoteChars(text, 'checkpoint');
  return text;
}

/** Parses a checkpoint note text (not a whole note: see `openCheckpoint`). */
export function parseCheckpoint(text: string): LogCheckpoint {
  checkNoteChars(text, 'checkpoint');
  if (!text.endsWith('\n')) throw new ValidationError('a checkpoint ends in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new ValidationError('a checkpoint has an origin, a size and a root line');
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (origin.length === 0) throw new ValidationError('a checkpoint origin is non-empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new ValidationError('a checkpoint size is a decimal number');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new ValidationError('checkpoint size out of range');
  const root = decodeBase64Strict(rootLine);
  if (!root || root.length !== 32) throw new ValidationError('a checkpoint root is a base64 SHA-256 hash');
  if (extensions.some((e) => e.length === 0))
    throw new ValidationError('checkpoint extension lines are non-empty');
  return { origin, size, root, extensions };
}

/** A signed checkpoint note. */
export function signCheckpointNote(cp: LogCheckpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(cp), signers);
}

/** Verifies a checkpoint note and parses its text. */
export function openCheckpoint(
  note: string | Buffer | Note,
  verifiers: readonly NoteVerifier[],
): { checkpoint: LogCheckpoint; note: OpenedNote } {
  const n = typeof note === 'string' || Buffer.isBuffer(note) ? parseNote(note) : note;
  const checkpoint = parseCheckpoint(n.text);
  return { checkpoint, note: openNote(n, verifiers) };
}
