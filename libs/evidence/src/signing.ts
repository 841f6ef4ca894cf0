import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { canonicalJson } from './chain.js';

/**
 * Ed25519 signing for checkpoints and bundle manifests (node:crypto only).
 *
 * Signatures are raw 64-byte Ed25519 signatures over the exact bytes of the signed file, so
 * `openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in FILE -sigfile FILE.sig` checks them.
 */

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo PEM, the form published to verifiers. */
  publicKeyPem: string;
  /** Hex SHA-256 of the DER SubjectPublicKeyInfo. */
  keyId: string;
}

export interface GeneratedKeyPair {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  keyId: string;
}

export function keyIdOf(publicKey: KeyObject | string | Buffer): string {
  const key =
    typeof publicKey === 'string' || Buffer.isBuffer(publicKey) ? createPublicKey(publicKey) : publicKey;
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export function generateSigningKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** Loads an Ed25519 private key from PKCS#8 PEM. */
export function loadSigningKey(privateKeyPem: string | Buffer): SigningKey {
  const privateKey = createPrivateKey({ key: privateKeyPem, format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`signing key must be Ed25519, got ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  }
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** Loads an Ed25519 public key from SPKI PEM. */
export function loadPublicKey(publicKeyPem: string | Buffer): KeyObject {
  const key = createPublicKey({ key: publicKeyPem, format: 'pem' });
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`public key must be Ed25519, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return key;
}

/** Raw 64-byte Ed25519 signature over `data`. */
export function signBytes(key: SigningKey | KeyObject, data: Buffer): Buffer {
  return sign(null, data, 'privateKey' in key ? key.privateKey : key);
}

export function verifyBytes(
  publicKey: KeyObject | string | Buffer,
  data: Buffer,
  signature: Buffer,
): boolean {
  const key =
    typeof publicKey === 'string' || Buffer.isBuffer(publicKey) ? loadPublicKey(publicKey) : publicKey;
  if (signature.length !== 64) return false;
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

export interface Checkpoint {
  version: 1;
  treeSize: number;
  /** Hex RFC 6962 root over all case heads. */
  rootHash: string;
  /** ISO-8601 UTC. */
  createdAt: string;
  keyId: string;
  /** Size of the global evidence log (one leaf per event) the checkpoint signs. */
  logSize?: number;
  /** Hex RFC 6962 root of the global evidence log's first `logSize` leaves. */
  logRoot?: string;
}

export interface SignedCheckpoint {
  checkpoint: Checkpoint;
  /** The exact signed bytes: canonical JSON of `checkpoint` (store and ship these bytes). */
  body: string;
  /** Base64 of the raw Ed25519 signature over `body` (UTF-8). */
  signature: string;
}

export interface CheckpointInput {
  treeSize: number;
  rootHash: string;
  createdAt: Date | string;
  logSize?: number;
  logRoot?: string;
}

/** The checkpoint statement and its canonical body, for the key `keyId` (not signed yet). */
export function checkpointBody(
  keyId: string,
  input: CheckpointInput,
): { checkpoint: Checkpoint; body: string } {
  if (!Number.isSafeInteger(input.treeSize) || input.treeSize < 0)
    throw new Error('treeSize must be a count');
  if (!/^[0-9a-f]{64}$/.test(input.rootHash)) throw new Error('rootHash must be 64 lowercase hex digits');
  const createdAt = typeof input.createdAt === 'string' ? input.createdAt : input.createdAt.toISOString();
  const checkpoint: Checkpoint = {
    version: 1,
    treeSize: input.treeSize,
    rootHash: input.rootHash,
    createdAt,
    keyId,
  };
  if (input.logSize !== undefined || input.logRoot !== undefined) {
    if (!Number.isSafeInteger(input.logSize) || (input.logSize ?? -1) < 0)
      throw new Error('logSize must be a count');
    if (!/^[0-9a-f]{64}$/.test(input.logRoot ?? ''))
      throw new Error('logRoot must be 64 lowercase hex digits');
    checkpoint.logSize = input.logSize;
    checkpoint.logRoot = input.logRoot;
  }
  return { checkpoint, body: canonicalJson(checkpoint) };
}

/** A checkpoint signed with a key held in this process. */
export function signCheckpoint(key: SigningKey, input: CheckpointInput): SignedCheckpoint {
  const { checkpoint, body } = checkpointBody(key.keyId, input);
  return { checkpoint, body, signature: signBytes(key, Buffer.from(body, 'utf8')).toString('base64') };
}

/** A checkpoint signed through an EvidenceSigner (a file key or an HSM). */
export async function signCheckpointWith(
  signer: { keyId: string; sign(data: Buffer): Promise<Buffer> },
  input: CheckpointInput,
): Promise<SignedCheckpoint> {
  const { checkpoint, body } = checkpointBody(signer.keyId, input);
  return { checkpoint, body, signature: (await signer.sign(Buffer.from(body, 'utf8'))).toString('base64') };
}

/** Parses and checks the exact checkpoint bytes and their signature. */
export function verifyCheckpointBytes(
  body: Buffer,
  signature: Buffer,
  publicKey: KeyObject | string | Buffer,
): { ok: true; checkpoint: Checkpoint } | { ok: false; detail: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, detail: 'checkpoint is not JSON' };
  }
  if (!isCheckpoint(parsed))
    return { ok: false, detail: 'checkpoint lacks version/treeSize/rootHash/createdAt/keyId' };
  if (canonicalJson(parsed) !== body.toString('utf8'))
    return { ok: false, detail: 'checkpoint is not canonical JSON' };
  const key =
    typeof publicKey === 'string' || Buffer.isBuffer(publicKey) ? loadPublicKey(publicKey) : publicKey;
  if (parsed.keyId !== keyIdOf(key)) {
    return { ok: false, detail: `checkpoint names key ${parsed.keyId}, verifying key is ${keyIdOf(key)}` };
  }
  if (!verifyBytes(key, body, signature))
    return { ok: false, detail: 'checkpoint signature does not verify' };
  return { ok: true, checkpoint: parsed };
}

export function verifySignedCheckpoint(
  signed: SignedCheckpoint,
  publicKey: KeyObject | string | Buffer,
): { ok: true; checkpoint: Checkpoint } | { ok: false; detail: string } {
  const result = verifyCheckpointBytes(
    Buffer.from(signed.body, 'utf8'),
    Buffer.from(signed.signature, 'base64'),
    publicKey,
  );
  if (result.ok && canonicalJson(signed.checkpoint) !== signed.body) {
    return { ok: false, detail: 'checkpoint fields differ from the signed body' };
  }
  return result;
}

function isCheckpoint(v: unknown): v is Checkpoint {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const c = v as Record<string, unknown>;
  return (
    c.version === 1 &&
    typeof c.treeSize === 'number' &&
    Number.isSafeInteger(c.treeSize) &&
    typeof c.rootHash === 'string' &&
    /^[0-9a-f]{64}$/.test(c.rootHash) &&
    typeof c.createdAt === 'string' &&
    typeof c.keyId === 'string' &&
    (Object.keys(c).length === 5 ||
      (Object.keys(c).length === 7 &&
        typeof c.logSize === 'number' &&
        Number.isSafeInteger(c.logSize) &&
        typeof c.logRoot === 'string' &&
        /^[0-9a-f]{64}$/.test(c.logRoot)))
  );
}
