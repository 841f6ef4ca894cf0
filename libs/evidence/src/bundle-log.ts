import type { KeyObject } from 'node:crypto';
import type { ChainedEvent } from './chain.js';
import { noteVerifier, openCheckpoint, parseNote, formatVerifierKey, SIG_TYPE_ED25519 } from './log/note.js';
import { verifyConsistencyProof, verifyInclusionProof } from './log/proofs.js';
import { eventLeafHash, openSet } from './transparency/set.js';

/**
 * The global evidence log inside a case's bundle (docs/evidence.md, "Bundle layout"): the log's
 * checkpoint note with the witnesses' cosignatures, the signed entry timestamps (SETs) that cover
 * the case's events, each event's inclusion proof in the note's tree, and consistency proofs from
 * every earlier checkpoint note's size. With them the offline verifier proves, from the bundle
 * alone, that every event was signed when it was appended and is in the log the witnesses
 * cosigned, and (given a checkpoint kept from earlier) that the log only grew since.
 */
export const BUNDLE_LOG_FILES = {
  note: 'log/checkpoint.note',
  sets: 'log/sets.jsonl',
  inclusion: 'log/inclusion.jsonl',
  consistency: 'log/consistency.json',
} as const;

export interface BundleLog {
  /** The C2SP checkpoint note (log signature + witness cosignatures). */
  note: string;
  /** SETs covering the case's events: stored body and base64 signature (streamed). */
  sets: AsyncIterable<{ body: string; signature: string }> | Iterable<{ body: string; signature: string }>;
  /** Per event: its log index and the inclusion proof (base64 hashes) in the note's tree (streamed). */
  inclusion: AsyncIterable<InclusionLine> | Iterable<InclusionLine>;
  /** From each earlier checkpoint note's size to the note's size (base64 hashes). */
  consistency: { from: number; proof: string[] }[];
}

export interface InclusionLine {
  seq: number;
  index: number;
  proof: string[];
}

export interface LogCheck {
  element: string;
  ok: boolean;
  detail: string;
}

export interface LogVerification {
  checks: LogCheck[];
  origin?: string;
  size?: number;
  /** Names of the note's signatures that verified (the log's, then any given witness's). */
  signedBy?: string[];
  /** Names of signatures present but not checked (witnesses whose key was not given). */
  unverifiedCosigners?: string[];
  /** Whether history was checked against a trusted earlier checkpoint. */
  trusted?: { size: number; ok: boolean };
}

function rawEd25519(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32);
}

const b64 = (s: string) => Buffer.from(s, 'base64');

/** Checks the log files of a bundle against its events and the bundle's key. Never throws. */
export function verifyBundleLog(input: {
  caseId: string;
  events: readonly ChainedEvent[];
  publicKey: KeyObject;
  keyId: string;
  files: { note?: Buffer; sets?: Buffer; inclusion?: Buffer; consistency?: Buffer };
  /** A checkpoint note kept from earlier (another bundle, a witness): the log must extend it. */
  trustedCheckpoint?: string | Buffer;
  /** Witness verifier keys whose cosignature is required. */
  witnessVkeys?: readonly string[];
}): LogVerification {
  const checks: LogCheck[] = [];
  const add = (element: string, ok: boolean, detail: string) => {
    checks.push({ element, ok, detail });
    return ok;
  };
  const f = input.files;
  if (!f.note) {
    add(BUNDLE_LOG_FILES.note, false, 'missing: the bundle carries no checkpoint of the global log');
    return { checks };
  }
  // 1. The note, signed by the log key (the bundle key under the note's origin), and witnesses.
  let origin: string;
  let size: number;
  let root: Buffer;
  let signedBy: string[];
  let unverified: string[];
  try {
    origin = parseNote(f.note).text.split('\n')[0] ?? '';
    const logVkey = formatVerifierKey(origin, SIG_TYPE_ED25519, rawEd25519(input.publicKey));
    const witnesses = (input.witnessVkeys ?? []).map((v) => noteVerifier(v));
    const opened = openCheckpoint(f.note, [noteVerifier(logVkey), ...witnesses]);
    ({ size, root } = opened.checkpoint);
    signedBy = opened.note.verified.map((s) => s.name);
    unverified = opened.note.unverified.map((s) => s.name);
    if (!signedBy.includes(origin)) throw new Error(`not signed by the log key ${logVkey}`);
    const missing = witnesses.filter((w) => !signedBy.includes(w.name)).map((w) => w.name);
    if (missing.length > 0) throw new Error(`no valid cosignature of ${missing.join(', ')}`);
  } catch (err) {
    add(BUNDLE_LOG_FILES.note, false, `checkpoint note: ${(err as Error).message}`);
    return { checks };
  }
  add(
    BUNDLE_LOG_FILES.note,
    true,
    `log ${origin} of ${size} events signed by ${signedBy.join(', ')}` +
      (unverified.length ? `; cosignatures not checked (no key given): ${unverified.join(', ')}` : ''),
  );

  // 2. Every event covered by a valid SET (signed when it was appended).
  const covered = new Map<number, string>();
  const adoptedUpTo = { seq: 0, hash: '' };
  let setsOk = true;
  const setLines = (f.sets?.toString('utf8') ?? '').split('\n').filter(Boolean);
  setLines.forEach((line, i) => {
    let row: { body?: unknown; signature?: unknown };
    try {
      row = JSON.parse(line) as typeof row;
    } catch {
      setsOk = add(`${BUNDLE_LOG_FILES.sets}#line=${i + 1}`, false, 'not JSON');
      return;
    }
    if (typeof row.body !== 'string' || typeof row.signature !== 'string') {
      setsOk = add(`${BUNDLE_LOG_FILES.sets}#line=${i + 1}`, false, 'not {body, signature}');
      return;
    }
    const opened = openSet(row.body, row.signature, input.publicKey, input.keyId);
    if (!opened.ok) {
      setsOk = add(`${BUNDLE_LOG_FILES.sets}#line=${i + 1}`, false, opened.detail);
      return;
    }
    for (const [caseId, seq, hash] of opened.statement.entries) {
      if (caseId !== input.caseId) continue;
      if (opened.statement.adopts !== undefined) {
        if (seq > adoptedUpTo.seq) Object.assign(adoptedUpTo, { seq, hash });
      } else covered.set(seq, hash);
    }
  });
  let firstUncovered: ChainedEvent | undefined;
  for (const e of input.events) {
    const signed = covered.get(e.seq);
    // An adoption SET names a head: through the (verified) hash chain it covers every event up to it.
    const adopted = e.seq <= adoptedUpTo.seq && input.events[adoptedUpTo.seq - 1]?.hash === adoptedUpTo.hash;
    if (signed !== e.hash && !adopted) {
      firstUncovered = e;
      break;
    }
  }
  if (firstUncovered) {
    add(
      `events.jsonl#seq=${firstUncovered.seq}`,
      false,
      'forged: no signed entry timestamp of the evidence key covers this event',
    );
  } else if (setsOk) {
    add(BUNDLE_LOG_FILES.sets, true, `every event is covered by a signed entry timestamp`);
  }

  // 3. Every event is a leaf of the note's tree.
  let inclusion: InclusionLine[] = [];
  try {
    inclusion = (f.inclusion?.toString('utf8') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as InclusionLine);
  } catch {
    add(BUNDLE_LOG_FILES.inclusion, false, 'a line is not JSON');
  }
  const bySeq = new Map(inclusion.map((p) => [p.seq, p]));
  let included = 0;
  for (const e of input.events) {
    const p = bySeq.get(e.seq);
    const leaf = Buffer.from(eventLeafHash({ caseId: input.caseId, seq: e.seq, hash: e.hash }), 'hex');
    if (!p || !verifyInclusionProof(leaf, p.index, size, p.proof.map(b64), root)) {
      add(
        `events.jsonl#seq=${e.seq}`,
        false,
        p
          ? `not in the log: its inclusion proof (leaf ${p.index}) does not lead to the note's root`
          : 'no inclusion proof in the log',
      );
      included = -1;
      break;
    }
    included++;
  }
  if (included >= 0)
    add(BUNDLE_LOG_FILES.inclusion, true, `all ${included} events are leaves of the log of ${size}`);

  // 4. History: consistency from a checkpoint the verifier kept.
  let trusted: LogVerification['trusted'];
  if (input.trustedCheckpoint !== undefined) {
    const logVkey = formatVerifierKey(origin, SIG_TYPE_ED25519, rawEd25519(input.publicKey));
    try {
      const old = openCheckpoint(input.trustedCheckpoint, [noteVerifier(logVkey)]).checkpoint;
      if (old.origin !== origin) throw new Error(`is for log ${old.origin}, the bundle's is ${origin}`);
      let ok: boolean;
      let detail: string;
      if (old.size > size) {
        ok = false;
        detail = `has ${old.size} events, more than the bundle's ${size}: the log was truncated`;
      } else if (old.size === size) {
        ok = old.root.equals(root);
        detail = ok ? 'is the bundle checkpoint' : `same size ${size}, another root: history was rewritten`;
      } else if (old.size === 0) {
        ok = true;
        detail = 'is empty';
      } else {
        const consistency = JSON.parse(f.consistency?.toString('utf8') ?? '[]') as BundleLog['consistency'];
        const proof = consistency.find((c) => c.from === old.size);
        if (!proof) {
          ok = false;
          detail = `the bundle has no consistency proof from size ${old.size}`;
        } else {
          ok = verifyConsistencyProof(old.size, size, proof.proof.map(b64), old.root, root);
          detail = ok
            ? `the log of ${size} extends it (size ${old.size}): consistency proof verifies`
            : `inconsistent: the log of ${size} does not extend the trusted checkpoint of ${old.size} (history was rewritten)`;
        }
      }
      trusted = { size: old.size, ok };
      add('trusted-checkpoint', ok, `trusted checkpoint ${detail}`);
    } catch (err) {
      trusted = { size: -1, ok: false };
      add('trusted-checkpoint', false, `trusted checkpoint: ${(err as Error).message}`);
    }
  }
  return { checks, origin, size, signedBy, unverifiedCosigners: unverified, trusted };
}
