import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import yauzl from 'yauzl';
import { type ChainedEvent, GENESIS_HASH, verifyChain } from './chain.js';
import { BUNDLE_FILES, type BundleManifest, type ManifestEntry, sha256SumsText } from './bundle.js';
import { BUNDLE_LOG_FILES, type LogVerification, verifyBundleLog } from './bundle-log.js';
import { type CaseInclusionProof, verifyCaseInclusion } from './merkle.js';
import { keyIdOf, loadPublicKey, verifyBytes, verifyCheckpointBytes } from './signing.js';
import { TimeStampError, verifyTimeStampToken } from './tsa.js';

/**
 * Offline verifier for an evidence bundle (see bundle.ts and docs/evidence.md). It checks, in
 * order: the manifest signature, every file against the manifest, the event hash chain, the
 * case head against the checkpoint's inclusion proof and the checkpoint signature, and the
 * time stamp (imprint, CMS signature by the TSA certificate shipped in the token, and, with a
 * `tsaCaPem` trust anchor, that certificate's chain). `firstError` names the most specific broken element:
 *   structure > events.jsonl#seq=N > a file (or its manifest entry) > unlisted files >
 *   public key > manifest signature > SHA256SUMS > checkpoint > time stamp.
 */

export interface BundleCheck {
  element: string;
  ok: boolean;
  detail: string;
}

export interface BundleVerification {
  ok: boolean;
  firstError?: { element: string; detail: string };
  checks: BundleCheck[];
  caseId?: string;
  head?: { seq: number; hash: string };
  events?: number;
  keyId?: string;
  checkpoint?: { treeSize: number; rootHash: string; createdAt: string };
  timestamp?: {
    genTime: string;
    serialNumber: string;
    policy: string;
    /** Subject of the TSA certificate that signed the token. */
    tsaSubject: string;
    /** false without a `tsaCaPem` trust anchor: the signature was checked, the TSA's identity was not. */
    chainVerified: boolean;
  };
  /** The global log: its note's size and signers, and whether history was checked. */
  log?: Omit<LogVerification, 'checks'>;
}

export interface VerifyBundleOptions {
  /** The service's published public key (SPKI PEM). When given, the bundled key must equal it. */
  publicKeyPem?: string | Buffer;
  /**
   * The TSA's CA certificate(s), PEM or DER (`--tsa-ca`): the time stamp's signer must chain to it.
   * Without it the token's signature is checked against the certificate it carries, but not who that is.
   */
  tsaCaPem?: string | Buffer;
  /** Cap for the small JSON/PEM/signature files held in memory. */
  maxSmallFileBytes?: number;
  /**
   * A checkpoint note of the global log kept from earlier (`--trusted-checkpoint`): the bundle's log
   * must extend it. Without one, history before the bundle is not checked, and the report says so.
   */
  trustedCheckpoint?: string | Buffer;
  /** Witness verifier keys (`--witness-vkey`) whose cosignature of the log checkpoint is required. */
  witnessVkeys?: readonly string[];
}

const RANK = {
  structure: 0,
  chain: 1,
  file: 2,
  unlisted: 3,
  publicKey: 4,
  manifestSig: 5,
  sums: 6,
  checkpoint: 7,
  timestamp: 8,
  log: 9,
} as const;

const SMALL_FILES = new Set<string>([
  BUNDLE_FILES.manifest,
  BUNDLE_FILES.manifestSig,
  BUNDLE_FILES.publicKey,
  BUNDLE_FILES.chain,
  BUNDLE_FILES.checkpoint,
  BUNDLE_FILES.checkpointSig,
  BUNDLE_FILES.checkpointProof,
  BUNDLE_FILES.timestamp,
  BUNDLE_FILES.sums,
  BUNDLE_LOG_FILES.note,
  BUNDLE_LOG_FILES.sets,
  BUNDLE_LOG_FILES.inclusion,
  BUNDLE_LOG_FILES.consistency,
]);

interface SeenFile {
  sha256: string;
  size: number;
  content?: Buffer;
}

class Report {
  private readonly ranked: { rank: number; check: BundleCheck }[] = [];

  add(rank: number, element: string, ok: boolean, detail: string): boolean {
    this.ranked.push({ rank, check: { element, ok, detail } });
    return ok;
  }

  fail(rank: number, element: string, detail: string): false {
    this.add(rank, element, false, detail);
    return false;
  }

  finish(extra: Omit<BundleVerification, 'ok' | 'checks' | 'firstError'>): BundleVerification {
    const failed = this.ranked.filter((r) => !r.check.ok);
    failed.sort((a, b) => a.rank - b.rank);
    const first = failed[0]?.check;
    return {
      ok: failed.length === 0,
      ...(first ? { firstError: { element: first.element, detail: first.detail } } : {}),
      checks: this.ranked.map((r) => r.check),
      ...extra,
    };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseManifest(bytes: Buffer): BundleManifest | string {
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'manifest.json is not JSON';
  }
  if (!isRecord(m) || m.version !== 1 || typeof m.caseId !== 'string' || !Array.isArray(m.files)) {
    return 'manifest.json lacks version 1, caseId or files';
  }
  if (!isRecord(m.head) || typeof m.head.seq !== 'number' || typeof m.head.hash !== 'string') {
    return 'manifest.json lacks the case head';
  }
  for (const f of m.files as unknown[]) {
    if (
      !isRecord(f) ||
      typeof f.name !== 'string' ||
      typeof f.sha256 !== 'string' ||
      typeof f.size !== 'number'
    ) {
      return 'manifest.json has a malformed file entry';
    }
  }
  return m as unknown as BundleManifest;
}

/** Parses events.jsonl line by line as chunks arrive (the text is never held whole). */
class EventLineParser {
  readonly events: ChainedEvent[] = [];
  badLine?: number;
  detail?: string;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private line = 0;

  push(chunk: Buffer): void {
    this.feed(this.decoder.write(chunk));
  }

  end(): void {
    this.feed(this.decoder.end());
    if (this.pending !== '') this.parse(this.pending);
    this.pending = '';
  }

  private feed(text: string): void {
    if (this.badLine !== undefined) return;
    const parts = (this.pending + text).split('\n');
    this.pending = parts.pop() ?? '';
    for (const p of parts) this.parse(p);
  }

  private parse(text: string): void {
    if (this.badLine !== undefined) return;
    this.line += 1;
    let ev: unknown;
    try {
      ev = JSON.parse(text);
    } catch {
      this.badLine = this.line;
      this.detail = 'line is not JSON';
      return;
    }
    if (!isRecord(ev) || typeof ev.seq !== 'number' || typeof ev.hash !== 'string') {
      this.badLine = this.line;
      this.detail = 'line is not an event';
      return;
    }
    this.events.push(ev as unknown as ChainedEvent);
  }
}

async function readEntries(
  zipPath: string,
  report: Report,
  maxSmall: number,
): Promise<{ files: Map<string, SeenFile>; events?: EventLineParser }> {
  const files = new Map<string, SeenFile>();
  let events: EventLineParser | undefined;
  const zip = await yauzl.openPromise(zipPath, {
    lazyEntries: true,
    strictFileNames: true,
    validateEntrySizes: true,
  });
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (name.endsWith('/')) continue;
      if (files.has(name)) {
        report.fail(RANK.structure, name, 'the zip holds this name twice');
        continue;
      }
      const stream: Readable = await zip.openReadStreamPromise(entry);
      const hash = createHash('sha256');
      let size = 0;
      const keep = SMALL_FILES.has(name);
      const parser = name === BUNDLE_FILES.events ? new EventLineParser() : undefined;
      const chunks: Buffer[] = [];
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        parser?.push(chunk);
        if (keep) {
          if (size > maxSmall) throw new Error(`${name} is larger than ${maxSmall} bytes`);
          chunks.push(chunk);
        }
      }
      if (parser) {
        parser.end();
        events = parser;
      }
      files.set(name, {
        sha256: hash.digest('hex'),
        size,
        content: keep ? Buffer.concat(chunks) : undefined,
      });
    }
  } finally {
    zip.close();
  }
  return { files, events };
}

export async function verifyEvidenceBundle(
  zipPath: string,
  options: VerifyBundleOptions = {},
): Promise<BundleVerification> {
  const report = new Report();
  let files: Map<string, SeenFile>;
  let parsedEvents: EventLineParser | undefined;
  try {
    ({ files, events: parsedEvents } = await readEntries(
      zipPath,
      report,
      options.maxSmallFileBytes ?? 16 * 1024 * 1024,
    ));
  } catch (err) {
    report.fail(RANK.structure, 'zip', `cannot read the bundle: ${(err as Error).message}`);
    return report.finish({});
  }

  for (const required of [BUNDLE_FILES.manifest, BUNDLE_FILES.manifestSig, BUNDLE_FILES.publicKey]) {
    if (!files.has(required)) report.fail(RANK.structure, required, 'missing from the bundle');
  }
  const manifestBytes = files.get(BUNDLE_FILES.manifest)?.content;
  const manifest = manifestBytes ? parseManifest(manifestBytes) : undefined;
  if (typeof manifest === 'string') report.fail(RANK.structure, BUNDLE_FILES.manifest, manifest);
  if (!manifest || typeof manifest === 'string' || !files.has(BUNDLE_FILES.publicKey))
    return report.finish({});

  // 1. Keys and the manifest signature.
  const bundledPem = files.get(BUNDLE_FILES.publicKey)?.content ?? Buffer.alloc(0);
  let keyId: string | undefined;
  let publicKey: ReturnType<typeof loadPublicKey> | undefined;
  try {
    publicKey = loadPublicKey(options.publicKeyPem ?? bundledPem);
    keyId = keyIdOf(publicKey);
  } catch (err) {
    report.fail(
      RANK.publicKey,
      BUNDLE_FILES.publicKey,
      `not an Ed25519 public key: ${(err as Error).message}`,
    );
  }
  if (options.publicKeyPem && publicKey) {
    let bundledId: string | undefined;
    try {
      bundledId = keyIdOf(bundledPem);
    } catch {
      bundledId = undefined;
    }
    report.add(
      RANK.publicKey,
      BUNDLE_FILES.publicKey,
      bundledId === keyId,
      bundledId === keyId ? 'equals the trusted key' : 'the bundled key is not the trusted key',
    );
  }
  const sig = files.get(BUNDLE_FILES.manifestSig)?.content ?? Buffer.alloc(0);
  const signatureOk = publicKey ? verifyBytes(publicKey, manifestBytes!, sig) : false;
  report.add(
    RANK.manifestSig,
    BUNDLE_FILES.manifest,
    signatureOk,
    signatureOk
      ? `manifest.sig verifies with key ${keyId}`
      : 'manifest.sig does not verify over manifest.json (the manifest was changed or signed by another key)',
  );
  if (manifest.keyId !== keyId) {
    report.fail(RANK.manifestSig, `${BUNDLE_FILES.manifest}#keyId`, `manifest names key ${manifest.keyId}`);
  }

  // 2. Every file against its manifest entry.
  const listed = new Map<string, ManifestEntry>();
  for (const entry of manifest.files) {
    if (listed.has(entry.name)) {
      report.fail(RANK.structure, `${BUNDLE_FILES.manifest}#${entry.name}`, 'listed twice');
      continue;
    }
    listed.set(entry.name, entry);
    const seen = files.get(entry.name);
    // With a valid signature the manifest is authentic, so a mismatch is the file's fault;
    // without one, the entry itself is the suspect.
    const element = signatureOk ? entry.name : `${BUNDLE_FILES.manifest}#${entry.name}`;
    if (!seen) {
      report.fail(RANK.file, element, 'listed in the manifest but missing from the zip');
    } else if (seen.sha256 !== entry.sha256 || seen.size !== entry.size) {
      report.fail(
        RANK.file,
        element,
        `SHA-256 ${seen.sha256} (${seen.size} bytes) differs from the manifest entry ${entry.sha256} (${entry.size} bytes)`,
      );
    } else {
      report.add(RANK.file, entry.name, true, 'SHA-256 and size match the manifest');
    }
  }
  for (const name of files.keys()) {
    if (name === BUNDLE_FILES.manifest || name === BUNDLE_FILES.manifestSig || listed.has(name)) continue;
    report.fail(RANK.unlisted, name, 'file in the zip is not listed in the manifest');
  }
  const sums = files.get(BUNDLE_FILES.sums)?.content;
  if (sums) {
    const expected = sha256SumsText(manifest.files.filter((f) => f.name !== BUNDLE_FILES.sums));
    const ok = sums.toString('utf8') === expected;
    report.add(
      RANK.sums,
      BUNDLE_FILES.sums,
      ok,
      ok ? 'agrees with manifest.json' : 'differs from manifest.json',
    );
  }

  // 3. The event chain.
  const caseId = manifest.caseId;
  let chainHead = manifest.head;
  const chainBytes = files.get(BUNDLE_FILES.chain)?.content;
  if (chainBytes) {
    try {
      const c = JSON.parse(chainBytes.toString('utf8')) as Record<string, unknown>;
      if (c.caseId !== caseId || typeof c.seq !== 'number' || typeof c.hash !== 'string')
        throw new Error('bad head');
      chainHead = { seq: c.seq, hash: c.hash };
      if (chainHead.seq !== manifest.head.seq || chainHead.hash !== manifest.head.hash) {
        report.fail(RANK.chain, BUNDLE_FILES.chain, 'chain.json and the manifest name different case heads');
      }
    } catch {
      report.fail(RANK.chain, BUNDLE_FILES.chain, 'chain.json is not a case head {caseId, seq, hash}');
    }
  } else {
    report.fail(RANK.structure, BUNDLE_FILES.chain, 'missing from the bundle');
  }
  let events: ChainedEvent[] = [];
  if (parsedEvents === undefined) {
    report.fail(RANK.structure, BUNDLE_FILES.events, 'missing from the bundle');
  } else {
    const parsed = parsedEvents;
    events = parsed.events;
    if (parsed.badLine !== undefined) {
      report.fail(RANK.chain, `${BUNDLE_FILES.events}#line=${parsed.badLine}`, parsed.detail ?? 'bad line');
    } else {
      const v = verifyChain(caseId, events, chainHead);
      report.add(
        RANK.chain,
        v.ok ? BUNDLE_FILES.events : `${BUNDLE_FILES.events}#seq=${v.brokenSeq}`,
        v.ok,
        v.ok ? `${v.events} events chain from genesis to ${v.headHash}` : `${v.failure}: ${v.detail}`,
      );
    }
  }

  // 4. Checkpoint: signature, the case head it commits to, the inclusion proof.
  let checkpointInfo: BundleVerification['checkpoint'];
  let timestampInfo: BundleVerification['timestamp'];
  const cpBytes = files.get(BUNDLE_FILES.checkpoint)?.content;
  if (cpBytes) {
    const cpSig = files.get(BUNDLE_FILES.checkpointSig)?.content ?? Buffer.alloc(0);
    const cp = publicKey
      ? verifyCheckpointBytes(cpBytes, cpSig, publicKey)
      : ({ ok: false, detail: 'no usable public key' } as const);
    report.add(
      RANK.checkpoint,
      BUNDLE_FILES.checkpoint,
      cp.ok,
      cp.ok ? 'checkpoint signature verifies' : cp.detail,
    );
    const proofBytes = files.get(BUNDLE_FILES.checkpointProof)?.content;
    if (cp.ok) {
      checkpointInfo = {
        treeSize: cp.checkpoint.treeSize,
        rootHash: cp.checkpoint.rootHash,
        createdAt: cp.checkpoint.createdAt,
      };
      if (!proofBytes) {
        report.fail(
          RANK.checkpoint,
          BUNDLE_FILES.checkpointProof,
          'missing: a checkpoint needs its inclusion proof',
        );
      } else {
        report.add(
          RANK.checkpoint,
          BUNDLE_FILES.checkpointProof,
          ...checkProof(proofBytes, cp.checkpoint, caseId, events),
        );
      }
    }
    const tsr = files.get(BUNDLE_FILES.timestamp)?.content;
    if (tsr) {
      try {
        const anchor = options.tsaCaPem;
        const v = await verifyTimeStampToken(tsr, cpBytes, {
          trustedCerts: anchor ?? [],
          checkChain: anchor !== undefined,
        });
        timestampInfo = {
          genTime: v.genTime,
          serialNumber: v.serial,
          policy: v.policy,
          tsaSubject: v.tsaCertificate.subject,
          chainVerified: v.chainVerified,
        };
        report.add(
          RANK.timestamp,
          BUNDLE_FILES.timestamp,
          true,
          `time-stamps checkpoint.json at ${v.genTime}, signed by ${v.tsaCertificate.subject}; ` +
            (v.chainVerified
              ? 'its certificate chains to the trusted TSA CA'
              : 'its certificate chain was NOT checked (no TSA CA given: --tsa-ca FILE)'),
        );
      } catch (err) {
        const detail = err instanceof TimeStampError ? err.message : String(err);
        report.fail(RANK.timestamp, BUNDLE_FILES.timestamp, detail);
      }
    }
  }

  // 5. The global log: SETs, inclusion of every event, witnesses, history from a trusted checkpoint.
  let logInfo: BundleVerification['log'];
  if (publicKey && keyId && (files.has(BUNDLE_LOG_FILES.note) || options.trustedCheckpoint !== undefined)) {
    const { checks, ...info } = verifyBundleLog({
      caseId,
      events,
      publicKey,
      keyId,
      files: {
        note: files.get(BUNDLE_LOG_FILES.note)?.content,
        sets: files.get(BUNDLE_LOG_FILES.sets)?.content,
        inclusion: files.get(BUNDLE_LOG_FILES.inclusion)?.content,
        consistency: files.get(BUNDLE_LOG_FILES.consistency)?.content,
      },
      trustedCheckpoint: options.trustedCheckpoint,
      witnessVkeys: options.witnessVkeys,
    });
    // A forged event is a chain element: it ranks with the chain, ahead of the files.
    for (const c of checks)
      report.add(c.element.startsWith('events.jsonl#') ? RANK.chain : RANK.log, c.element, c.ok, c.detail);
    logInfo = info;
  }

  return report.finish({
    caseId,
    head: chainHead,
    events: events.length,
    keyId,
    checkpoint: checkpointInfo,
    timestamp: timestampInfo,
    log: logInfo,
  });
}

function checkProof(
  bytes: Buffer,
  checkpoint: { treeSize: number; rootHash: string },
  caseId: string,
  events: readonly ChainedEvent[],
): [boolean, string] {
  let proof: CaseInclusionProof;
  try {
    const p = JSON.parse(bytes.toString('utf8')) as unknown;
    if (!isRecord(p) || !isRecord(p.head) || !Array.isArray(p.auditPath)) throw new Error('shape');
    proof = p as unknown as CaseInclusionProof;
  } catch {
    return [false, 'not an inclusion proof {head, leafIndex, treeSize, auditPath}'];
  }
  const { head } = proof;
  if (head.caseId !== caseId) return [false, `proof is for case ${head.caseId}`];
  if (proof.treeSize !== checkpoint.treeSize) {
    return [false, `proof is for a tree of ${proof.treeSize}, checkpoint has ${checkpoint.treeSize}`];
  }
  // The checkpointed head must be an event of this chain (the chain may have grown since).
  const atSeq = head.seq === 0 ? GENESIS_HASH : events[head.seq - 1]?.hash;
  if (atSeq === undefined) return [false, `checkpointed head seq ${head.seq} is past the exported events`];
  if (atSeq !== head.hash) return [false, `checkpointed head hash differs from event seq ${head.seq}`];
  const inc = verifyCaseInclusion(proof, checkpoint.rootHash);
  if (!inc.ok) return [false, inc.detail ?? 'inclusion proof fails'];
  return [true, `case head seq ${head.seq} is leaf ${proof.leafIndex} of the checkpointed tree`];
}

/** Human-readable summary, as the CLI prints it. */
export function formatVerification(zipPath: string, v: BundleVerification): string {
  const lines: string[] = [];
  if (v.ok) {
    lines.push(`OK ${zipPath}`);
    lines.push(`case ${v.caseId}: ${v.events} events, head seq ${v.head?.seq} ${v.head?.hash}`);
    lines.push(`signed by key ${v.keyId}`);
    if (v.checkpoint) {
      lines.push(
        `checkpoint: tree of ${v.checkpoint.treeSize}, root ${v.checkpoint.rootHash}, ${v.checkpoint.createdAt}`,
      );
    }
    if (v.timestamp) {
      lines.push(
        `time stamp: ${v.timestamp.genTime} (serial ${v.timestamp.serialNumber}) by ${v.timestamp.tsaSubject}, ` +
          (v.timestamp.chainVerified
            ? 'chain to the trusted TSA CA checked'
            : 'TSA chain NOT checked (pass --tsa-ca FILE)'),
      );
    }
    if (v.log?.size !== undefined) {
      lines.push(
        `log: ${v.log.origin} of ${v.log.size} events, signed by ${(v.log.signedBy ?? []).join(', ')}` +
          (v.log.unverifiedCosigners?.length
            ? `; cosignatures NOT checked (pass --witness-vkey): ${v.log.unverifiedCosigners.join(', ')}`
            : ''),
      );
      lines.push(
        v.log.trusted
          ? `history: extends the trusted checkpoint of ${v.log.trusted.size} events`
          : 'history NOT checked against an earlier checkpoint (pass --trusted-checkpoint FILE)',
      );
    } else {
      lines.push('log: the bundle carries no checkpoint of the global log (made before witnesses)');
    }
  } else {
    lines.push(`FAILED ${zipPath}`);
    lines.push(`first broken element: ${v.firstError?.element}: ${v.firstError?.detail}`);
    for (const c of v.checks.filter((x) => !x.ok)) lines.push(`  - ${c.element}: ${c.detail}`);
  }
  return `${lines.join('\n')}\n`;
}
