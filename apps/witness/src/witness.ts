/**
 * The witness logic of c2sp.org/tlog-witness `add-checkpoint`, free of HTTP: a request body in,
 * cosignature lines out, or a typed error carrying the status the protocol prescribes.
 *
 * For each log (origin) it knows, the witness keeps the last checkpoint it cosigned, and
 * cosigns a new one only when it is signed by the log's key and a consistency proof shows it
 * extends that checkpoint. The check of the old size and the update are one transaction.
 */
import { createHash } from 'node:crypto';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '#libs/core';
import {
  type CosignatureV1Signer,
  decodeBase64Strict,
  EMPTY_TREE_ROOT,
  formatNote,
  formatSignatureLine,
  type LogCheckpoint,
  type Note,
  NoteSignatureError,
  type NoteVerifier,
  openNote,
  parseCheckpoint,
  parseNote,
  verifyConsistencyProof,
} from '#libs/evidence';
import type { WitnessState, WitnessStore } from './store.js';

/** Largest request body read (a checkpoint, up to 63 proof lines and a few signatures fit easily). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** c2sp.org/tlog-witness: a client sends at most 63 consistency proof lines. */
export const MAX_PROOF_LINES = 63;

/** 409: the old size is not the size of the last checkpoint cosigned for the origin. */
export class OldSizeConflictError extends ConflictError {
  constructor(readonly knownSize: number) {
    super(`the last checkpoint cosigned for this log has size ${knownSize}`, [], { knownSize });
  }
}

/** 422: the checkpoint does not extend the cosigned history (bad proof, rewritten root, bad empty root). */
export class InconsistentCheckpointError extends AppError {
  readonly code = 'conflict';
  readonly status = 422;
  readonly title = 'Checkpoint is not consistent with the cosigned history';
}

export interface KnownLog {
  origin: string;
  /** The log's note verifiers (several while a key is rotated). */
  verifiers: NoteVerifier[];
}

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Buffer[];
  note: Note;
  checkpoint: LogCheckpoint;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Parses `old <size>\n`, proof lines (base64), an empty line, then a checkpoint note. 400 when malformed. */
export function parseAddCheckpointRequest(body: string): AddCheckpointRequest {
  const first = body.indexOf('\n');
  if (first < 0) throw new ValidationError('the body starts with an "old <size>" line');
  const oldLine = body.slice(0, first);
  if (!oldLine.startsWith('old ') || !DECIMAL.test(oldLine.slice(4))) {
    throw new ValidationError('the first line is "old <size>" (decimal, no leading zeroes)');
  }
  const oldSize = Number(oldLine.slice(4));
  if (!Number.isSafeInteger(oldSize)) throw new ValidationError('old size out of range');
  const proof: Buffer[] = [];
  let pos = first + 1;
  for (;;) {
    const nl = body.indexOf('\n', pos);
    if (nl < 0) throw new ValidationError('the proof lines end with an empty line before the checkpoint');
    const line = body.slice(pos, nl);
    pos = nl + 1;
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES) {
      throw new ValidationError(`more than ${MAX_PROOF_LINES} consistency proof lines`);
    }
    const hash = decodeBase64Strict(line);
    if (!hash || hash.length !== 32)
      throw new ValidationError('a consistency proof line is a base64 SHA-256 hash');
    proof.push(hash);
  }
  const note = parseNote(body.slice(pos));
  const checkpoint = parseCheckpoint(note.text);
  return { oldSize, proof, note, checkpoint };
}

export function originHash(origin: string): string {
  return createHash('sha256').update(origin, 'utf8').digest('hex');
}

export interface WitnessOptions {
  signer: CosignatureV1Signer;
  logs: readonly KnownLog[];
  store: WitnessStore;
  /**
   * Told of checkpoints signed by a known log that were refused as inconsistent or malformed:
   * possible evidence of the log's misbehaviour (a stale old size is not reported).
   */
  onRefused?: (origin: string, err: AppError, body: string) => void;
}

export class Witness {
  private readonly logs = new Map<string, KnownLog>();
  private readonly byHash = new Map<string, string>();

  constructor(private readonly opts: WitnessOptions) {
    for (const l of opts.logs) {
      if (this.logs.has(l.origin)) throw new Error(`log ${l.origin} configured twice`);
      this.logs.set(l.origin, l);
      this.byHash.set(originHash(l.origin), l.origin);
    }
  }

  get vkey(): string {
    return this.opts.signer.vkey;
  }

  get origins(): string[] {
    return [...this.logs.keys()];
  }

  /**
   * Handles an add-checkpoint body. Returns the cosignature line(s); throws ValidationError (400),
   * NoteSignatureError / ForbiddenError (403), NotFoundError (404), OldSizeConflictError (409),
   * InconsistentCheckpointError (422).
   */
  addCheckpoint(body: string | Buffer): string {
    if (Buffer.byteLength(body) > MAX_REQUEST_BYTES) {
      throw new PayloadTooLargeError(`a request body is at most ${MAX_REQUEST_BYTES} bytes`);
    }
    let text: string;
    try {
      text = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new ValidationError('the body is not valid UTF-8');
    }
    const req = parseAddCheckpointRequest(text);
    const { checkpoint: cp } = req;
    const log = this.logs.get(cp.origin);
    if (!log) throw new NotFoundError(`unknown log origin ${JSON.stringify(cp.origin)}`);
    // 403 when no trusted signature verifies, or a trusted key's signature is bad.
    try {
      openNote(req.note, log.verifiers);
    } catch (err) {
      if (err instanceof NoteSignatureError) throw new ForbiddenError(err.message);
      throw err;
    }
    try {
      if (req.oldSize > cp.size) {
        throw new ValidationError(`old size ${req.oldSize} is larger than the checkpoint size ${cp.size}`);
      }
      return this.opts.store.atomically(() => this.cosignIfConsistent(req));
    } catch (err) {
      if (err instanceof AppError && !(err instanceof OldSizeConflictError))
        this.opts.onRefused?.(cp.origin, err, text);
      throw err;
    }
  }

  /** Runs inside the store transaction: reads the state, checks, cosigns, persists. */
  private cosignIfConsistent(req: AddCheckpointRequest): string {
    const { checkpoint: cp, oldSize, proof } = req;
    const known: WitnessState | null = this.opts.store.get(cp.origin);
    const knownSize = known?.size ?? 0;
    if (oldSize !== knownSize) throw new OldSizeConflictError(knownSize);
    if (cp.size === 0 && !cp.root.equals(EMPTY_TREE_ROOT)) {
      throw new InconsistentCheckpointError('a checkpoint of size 0 must carry the empty tree root');
    }
    if (oldSize === 0) {
      if (proof.length > 0) throw new InconsistentCheckpointError('a proof from size 0 must be empty');
    } else if (!known) {
      throw new OldSizeConflictError(0);
    } else if (oldSize === cp.size) {
      if (proof.length > 0 || !known.root.equals(cp.root)) {
        throw new InconsistentCheckpointError(
          `size ${cp.size} was cosigned with another root hash: the log rewrote its history`,
        );
      }
    } else if (!verifyConsistencyProof(oldSize, cp.size, proof, known.root, cp.root)) {
      throw new InconsistentCheckpointError(
        `the consistency proof from size ${oldSize} to ${cp.size} does not verify against the cosigned root`,
      );
    }
    const signature = this.opts.signer.sign(req.note.text);
    const cosig = { name: this.opts.signer.name, keyId: this.opts.signer.keyId, signature };
    // Keep the log's signatures and ours (not other witnesses'), for the monitoring endpoint.
    const ours = (s: { name: string; keyId: number }): boolean =>
      s.name === cosig.name && s.keyId === cosig.keyId;
    const logSigs = req.note.signatures.filter((s) => !ours(s) && this.isLogSignature(cp.origin, s));
    this.opts.store.put(cp.origin, {
      size: cp.size,
      root: cp.root,
      note: formatNote({ text: req.note.text, signatures: [...logSigs, cosig] }),
    });
    return formatSignatureLine(cosig);
  }

  private isLogSignature(origin: string, s: { name: string; keyId: number; signature: Buffer }): boolean {
    const log = this.logs.get(origin);
    return !!log?.verifiers.some((v) => v.name === s.name && v.keyId === s.keyId);
  }

  /** The last cosigned checkpoint of a log, by the hex SHA-256 of its origin (monitoring API). */
  latestByOriginHash(hash: string): string | null {
    const origin = this.byHash.get(hash);
    if (!origin) return null;
    return this.opts.store.get(origin)?.note ?? null;
  }
}
