import { createHash } from 'node:crypto';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { canonicalJson, type ChainedEvent, GENESIS_HASH } from './chain.js';
import { BUNDLE_LOG_FILES, type BundleLog } from './bundle-log.js';
import type { CaseInclusionProof } from './merkle.js';
import { keyIdOf, type SignedCheckpoint, type SigningKey, signBytes } from './signing.js';

/**
 * The evidence bundle for one case: a zip written as a stream (events, artifacts and the
 * manifest hashes are computed while the bytes flow; nothing is held whole in memory).
 * Layout and offline verification: docs/evidence.md.
 */

export const BUNDLE_FILES = {
  readme: 'README.txt',
  events: 'events.jsonl',
  artifactsDir: 'artifacts/',
  chain: 'chain.json',
  checkpoint: 'checkpoint.json',
  checkpointSig: 'checkpoint.sig',
  checkpointProof: 'checkpoint-proof.json',
  timestamp: 'timestamp.tsr',
  certificate: 'certificate.pdf',
  publicKey: 'public-key.pem',
  sums: 'SHA256SUMS',
  manifest: 'manifest.json',
  manifestSig: 'manifest.sig',
} as const;

export interface BundleArtifact {
  /** Relative file name inside `artifacts/` (sub-folders allowed, no `..`). */
  name: string;
  /** Declared hex SHA-256 (as recorded in the ledger); the written bytes must match it. */
  sha256: string;
  mediaType: string;
  content: Buffer | Readable;
}

export interface BundleCheckpoint {
  signed: SignedCheckpoint;
  inclusionProof: CaseInclusionProof;
  /** DER TimeStampResp over the checkpoint body (`requestTimestamp`). */
  tsaToken?: Buffer;
}

export interface EvidenceBundleInput {
  caseId: string;
  /** The case's events in seq order. */
  events: AsyncIterable<ChainedEvent> | Iterable<ChainedEvent>;
  artifacts?: AsyncIterable<BundleArtifact> | Iterable<BundleArtifact>;
  checkpoint?: BundleCheckpoint;
  certificatePdf?: Buffer;
  /** The global log's checkpoint note, SETs and proofs for the case (bundle-log.ts). */
  log?: BundleLog;
  signingKey: SigningKey;
  /** Signs the manifest when given (a file key or an HSM); else `signingKey` signs in process. */
  signer?: { keyId: string; sign(data: Buffer): Promise<Buffer> };
  /** SPKI PEM published to verifiers; must be the signing key's public key. Defaults to it. */
  publicKeyPem?: string;
  /** Manifest time and zip entry times; defaults to now. */
  createdAt?: Date;
}

export interface ManifestEntry {
  name: string;
  sha256: string;
  size: number;
  mediaType: string;
}

export interface BundleManifest {
  version: 1;
  caseId: string;
  createdAt: string;
  keyId: string;
  /** The case head at export: last seq and hash of events.jsonl. */
  head: { seq: number; hash: string };
  files: ManifestEntry[];
}

export interface EvidenceBundleResult {
  /** Hex SHA-256 of the whole zip as written. */
  sha256: string;
  /** Entries in the zip. */
  files: number;
  bytes: number;
  head: { seq: number; hash: string };
  manifest: BundleManifest;
}

const HEX64 = /^[0-9a-f]{64}$/;
const INCOMPRESSIBLE =
  /^(application\/(pdf|zip|gzip|x-7z-compressed)|image\/(png|jpeg|webp|gif)|video\/|audio\/)/;

export function assertSafeArtifactName(name: string): void {
  const bad =
    name.length === 0 ||
    name.length > 200 ||
    name.startsWith('/') ||
    name.endsWith('/') ||
    name.includes('\\') ||
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/.test(name) ||
    name.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
  if (bad) throw new Error(`unsafe artifact name ${JSON.stringify(name)}`);
}

/** The exact line written to events.jsonl for one event (no trailing newline). */
export function eventLine(ev: ChainedEvent): string {
  return canonicalJson({
    seq: ev.seq,
    caseId: ev.caseId,
    notificationId: ev.notificationId,
    type: ev.type,
    occurredAt: ev.occurredAt,
    recordedAt: ev.recordedAt,
    payload: ev.payload,
    prevHash: ev.prevHash,
    hash: ev.hash,
  });
}

/** `sha256sum` check-file text for manifest entries. */
export function sha256SumsText(entries: readonly { name: string; sha256: string }[]): string {
  return entries.map((e) => `${e.sha256}  ${e.name}\n`).join('');
}

function readmeText(caseId: string): string {
  return [
    `Evidence bundle for case ${caseId}`,
    '',
    'Every file is listed with its SHA-256 and size in manifest.json; manifest.sig is an Ed25519',
    'signature over the exact bytes of manifest.json by the key in public-key.pem (compare that key',
    'with the one the service publishes). To check offline, in the unzipped folder:',
    '',
    '  sha256sum -c SHA256SUMS',
    '  openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.sig',
    '  openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in checkpoint.json -sigfile checkpoint.sig',
    '',
    'events.jsonl holds one event per line; each hash is SHA-256(prevHash || canonical JSON of the event',
    'without prevHash and hash), starting from 64 zeros. chain.json is the case head at export.',
    '',
  ].join('\n');
}

class Sha256Tap extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;

  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    cb: (err?: Error | null, data?: Buffer) => void,
  ): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  digestHex(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Streams an evidence bundle zip into `out` (which is ended). On failure the promise rejects and
 * `out` is destroyed with the error, as `stream.pipeline` does: give it an 'error' listener. Entry order: README.txt,
 * events.jsonl, artifacts/…, chain.json, checkpoint.json, checkpoint.sig, checkpoint-proof.json,
 * timestamp.tsr, certificate.pdf, public-key.pem, SHA256SUMS, manifest.json, manifest.sig.
 */
/** NDJSON (canonical JSON per line) in chunks of about 64 KiB, from a stream of values. */
async function* jsonLines(items: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<Buffer> {
  let batch = '';
  for await (const item of items) {
    batch += `${canonicalJson(item)}\n`;
    if (batch.length >= 64 * 1024) {
      yield Buffer.from(batch, 'utf8');
      batch = '';
    }
  }
  if (batch) yield Buffer.from(batch, 'utf8');
}

export async function writeEvidenceBundle(
  out: Writable,
  input: EvidenceBundleInput,
): Promise<EvidenceBundleResult> {
  const { caseId, signingKey } = input;
  const publicKeyPem = input.publicKeyPem ?? signingKey.publicKeyPem;
  if (keyIdOf(publicKeyPem) !== signingKey.keyId)
    throw new Error('publicKeyPem is not the signing key’s public key');
  const createdAt = input.createdAt ?? new Date();
  const cp = input.checkpoint;
  if (cp) {
    if (cp.inclusionProof.head.caseId !== caseId) throw new Error('inclusion proof is for another case');
    if (cp.signed.checkpoint.keyId !== signingKey.keyId) {
      throw new Error('checkpoint was signed by another key than the bundle key');
    }
  }

  const zip = new yazl.ZipFile();
  const zipHash = new Sha256Tap();
  let current: Sha256Tap | undefined;
  let aborted: Error | undefined;
  const written = pipeline(zip.outputStream, zipHash, out).catch((err: Error) => {
    aborted = err;
    current?.destroy(err);
    throw err;
  });
  const onZipError = (err: Error): void => {
    aborted = err;
    current?.destroy(err);
  };
  zip.on('error', onZipError);

  const entries: ManifestEntry[] = [];
  let count = 0;

  const add = async (
    name: string,
    source: Buffer | Readable,
    mediaType: string,
    listed = true,
  ): Promise<ManifestEntry> => {
    if (aborted) throw aborted;
    const tap = new Sha256Tap();
    current = tap;
    zip.addReadStream(tap, name, {
      mtime: createdAt,
      mode: 0o100644,
      compress: !INCOMPRESSIBLE.test(mediaType),
    });
    count += 1;
    await pipeline(Buffer.isBuffer(source) ? Readable.from([source]) : source, tap);
    current = undefined;
    const entry = { name, sha256: tap.digestHex(), size: tap.size, mediaType };
    if (listed) entries.push(entry);
    return entry;
  };

  const produce = async (): Promise<{ head: { seq: number; hash: string }; manifest: BundleManifest }> => {
    await add(BUNDLE_FILES.readme, Buffer.from(readmeText(caseId), 'utf8'), 'text/plain; charset=utf-8');

    const head = { seq: 0, hash: GENESIS_HASH };
    async function* lines(): AsyncGenerator<Buffer> {
      let batch = '';
      for await (const ev of input.events) {
        if (ev.caseId !== caseId)
          throw new Error(`event seq ${ev.seq} belongs to case ${ev.caseId}, not ${caseId}`);
        head.seq = ev.seq;
        head.hash = ev.hash;
        batch += `${eventLine(ev)}\n`;
        if (batch.length >= 64 * 1024) {
          yield Buffer.from(batch, 'utf8');
          batch = '';
        }
      }
      if (batch) yield Buffer.from(batch, 'utf8');
    }
    await add(BUNDLE_FILES.events, Readable.from(lines()), 'application/x-ndjson');

    const seen = new Set<string>();
    if (input.artifacts) {
      for await (const a of input.artifacts) {
        assertSafeArtifactName(a.name);
        if (seen.has(a.name)) throw new Error(`duplicate artifact ${a.name}`);
        seen.add(a.name);
        if (!HEX64.test(a.sha256))
          throw new Error(`artifact ${a.name}: declared sha256 is not 64 lowercase hex`);
        const entry = await add(`${BUNDLE_FILES.artifactsDir}${a.name}`, a.content, a.mediaType);
        if (entry.sha256 !== a.sha256) {
          throw new Error(
            `artifact ${a.name}: content SHA-256 ${entry.sha256} differs from the declared ${a.sha256}`,
          );
        }
      }
    }

    await add(
      BUNDLE_FILES.chain,
      Buffer.from(canonicalJson({ caseId, ...head }), 'utf8'),
      'application/json',
    );

    if (cp) {
      await add(BUNDLE_FILES.checkpoint, Buffer.from(cp.signed.body, 'utf8'), 'application/json');
      await add(
        BUNDLE_FILES.checkpointSig,
        Buffer.from(cp.signed.signature, 'base64'),
        'application/octet-stream',
      );
      const proof: CaseInclusionProof = {
        head: {
          caseId: cp.inclusionProof.head.caseId,
          seq: cp.inclusionProof.head.seq,
          hash: cp.inclusionProof.head.hash,
        },
        leafIndex: cp.inclusionProof.leafIndex,
        treeSize: cp.inclusionProof.treeSize,
        auditPath: [...cp.inclusionProof.auditPath],
      };
      await add(BUNDLE_FILES.checkpointProof, Buffer.from(canonicalJson(proof), 'utf8'), 'application/json');
      if (cp.tsaToken) await add(BUNDLE_FILES.timestamp, cp.tsaToken, 'application/timestamp-reply');
    }
    if (input.log) {
      const l = input.log;
      await add(BUNDLE_LOG_FILES.note, Buffer.from(l.note, 'utf8'), 'text/plain; charset=utf-8');
      await add(BUNDLE_LOG_FILES.sets, Readable.from(jsonLines(l.sets)), 'application/x-ndjson');
      await add(BUNDLE_LOG_FILES.inclusion, Readable.from(jsonLines(l.inclusion)), 'application/x-ndjson');
      await add(
        BUNDLE_LOG_FILES.consistency,
        Buffer.from(canonicalJson(l.consistency), 'utf8'),
        'application/json',
      );
    }
    if (input.certificatePdf) await add(BUNDLE_FILES.certificate, input.certificatePdf, 'application/pdf');
    await add(BUNDLE_FILES.publicKey, Buffer.from(publicKeyPem, 'utf8'), 'application/x-pem-file');
    await add(BUNDLE_FILES.sums, Buffer.from(sha256SumsText(entries), 'utf8'), 'text/plain; charset=utf-8');

    const manifest: BundleManifest = {
      version: 1,
      caseId,
      createdAt: createdAt.toISOString(),
      keyId: signingKey.keyId,
      head: { ...head },
      files: [...entries],
    };
    const manifestBytes = Buffer.from(canonicalJson(manifest), 'utf8');
    await add(BUNDLE_FILES.manifest, manifestBytes, 'application/json', false);
    await add(
      BUNDLE_FILES.manifestSig,
      input.signer ? await input.signer.sign(manifestBytes) : signBytes(signingKey, manifestBytes),
      'application/octet-stream',
      false,
    );
    zip.end();
    return { head, manifest };
  };

  try {
    const [produced] = await Promise.all([
      produce().catch((err: Error) => {
        (zip.outputStream as Readable).destroy(err);
        throw err;
      }),
      written,
    ]);
    return { sha256: zipHash.digestHex(), files: count, bytes: zipHash.size, ...produced };
  } finally {
    zip.off('error', onZipError);
  }
}
