import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import { MerkleLevels } from '../log/proofs.js';
import {
  formatCheckpoint,
  formatNote,
  formatSignatureLine,
  formatVerifierKey,
  noteKeyId,
  parseSignatureLines,
  SIG_TYPE_ED25519,
} from '../log/note.js';
import type { EvidenceSigner } from '../signer.js';
import { EvidenceIntegrity } from './integrity.service.js';
import { WitnessRepository } from './log.repository.js';

/**
 * The evidence log's checkpoints as C2SP signed notes (tlog-checkpoint), sent to witnesses
 * (tlog-witness `add-checkpoint`, docs/witness.md) with a consistency proof from the size each
 * witness last cosigned; their cosignatures are stored with the checkpoint. A witness keeps the
 * latest size it cosigned and cosigns only a log that extends it: a rewritten history cannot be
 * cosigned by a witness that saw the original, whoever holds the database or the key.
 */

/** The raw 32-byte Ed25519 public key of a signer. */
function rawPublicKey(signer: EvidenceSigner): Buffer {
  const spki = signer.publicKey.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32);
}

/** The log's note verifier key (`<origin>+<keyid>+<base64(0x01||pubkey)>`), as witnesses configure it. */
export function logVerifierKey(origin: string, signer: EvidenceSigner): string {
  return formatVerifierKey(origin, SIG_TYPE_ED25519, rawPublicKey(signer));
}

/** A checkpoint note over (origin, size, root), signed by the evidence key (file or HSM). */
export async function signLogCheckpoint(
  signer: EvidenceSigner,
  origin: string,
  size: number,
  root: Buffer,
): Promise<string> {
  const text = formatCheckpoint({ origin, size, root, extensions: [] });
  const signature = await signer.sign(Buffer.from(text, 'utf8'));
  const keyId = noteKeyId(origin, SIG_TYPE_ED25519, rawPublicKey(signer));
  return formatNote({ text, signatures: [{ name: origin, keyId, signature }] });
}

/** The body of a tlog-witness add-checkpoint request. */
export function addCheckpointBody(oldSize: number, proof: readonly Buffer[], note: string): string {
  return `old ${oldSize}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${note}`;
}

export type WitnessOutcome =
  | { witness: string; ok: true; oldSize: number; cosignatures: string[] }
  | { witness: string; ok: false; status: number | null; detail: string; knownSize?: number };

/**
 * Sends one checkpoint to one witness. A 409 names the size the witness knows: the request is
 * sent again once with a proof from that size.
 */
export async function submitToWitness(
  url: string,
  note: string,
  size: number,
  proofFrom: (oldSize: number) => Buffer[],
  opts: { timeoutMs: number; fetch?: typeof fetch; oldSize?: number },
): Promise<WitnessOutcome> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  let oldSize = opts.oldSize ?? 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (oldSize > size) {
      return {
        witness: url,
        ok: false,
        status: 409,
        detail: `witness knows ${oldSize} > ${size} leaves`,
        knownSize: oldSize,
      };
    }
    let res: Response;
    try {
      res = await doFetch(`${url}/add-checkpoint`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: addCheckpointBody(oldSize, oldSize === 0 ? [] : proofFrom(oldSize), note),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (err) {
      return {
        witness: url,
        ok: false,
        status: null,
        detail: err instanceof Error ? err.message : String(err),
      };
    }
    const text = await res.text();
    if (res.status === 200) {
      const cosignatures = parseSignatureLines(text).map(formatSignatureLine);
      return { witness: url, ok: true, oldSize, cosignatures };
    }
    if (res.status === 409 && (res.headers.get('content-type') ?? '').startsWith('text/x.tlog.size')) {
      const known = Number(text.trim());
      if (!Number.isSafeInteger(known) || known < 0 || known === oldSize) {
        return { witness: url, ok: false, status: 409, detail: `witness answered size ${text.trim()}` };
      }
      oldSize = known;
      continue;
    }
    return { witness: url, ok: false, status: res.status, detail: text.slice(0, 300) };
  }
  return { witness: url, ok: false, status: 409, detail: 'witness size kept changing' };
}

/** Publishes each new checkpoint of the evidence log to the configured witnesses. */
@Injectable()
export class WitnessPublisher {
  private readonly log = new Logger('Witnesses');
  private readonly repo: WitnessRepository;

  /** `repo` is injected by Nest; code that builds the publisher by hand gets one over `db`. */
  constructor(
    db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly integrity?: EvidenceIntegrity,
    @Optional() repo?: WitnessRepository,
  ) {
    this.repo = repo ?? new WitnessRepository(db);
  }

  get origin(): string {
    return this.config.evidence.logOrigin;
  }

  /**
   * Signs the checkpoint note for (size, root) of checkpoint `id`, stores it, and sends it to every
   * witness; stores each cosignature. Witness failures are logged and stored, never thrown: the
   * checkpoint stands, the next one is sent with a proof from what the witness last cosigned.
   */
  async publish(
    checkpointId: number,
    signer: EvidenceSigner,
    tree: MerkleLevels,
  ): Promise<{ note: string; outcomes: WitnessOutcome[] }> {
    const size = tree.size;
    const note = await signLogCheckpoint(signer, this.origin, size, tree.root(size));
    await this.repo.insertNote({ checkpointId, origin: this.origin, logSize: size, note });
    const outcomes: WitnessOutcome[] = [];
    for (const url of this.config.evidence.witnessUrls) {
      const known = await this.lastCosigned(url);
      const outcome = await submitToWitness(url, note, size, (m) => tree.consistencyProof(m, size), {
        timeoutMs: this.config.evidence.witnessTimeoutMs,
        oldSize: known,
      });
      outcomes.push(outcome);
      await this.record(checkpointId, size, outcome);
      await this.alertOn(outcome, size);
    }
    return { note, outcomes };
  }

  /**
   * A witness that has cosigned more than this log holds, or that finds the log inconsistent with
   * what it cosigned, is evidence that history was lost or rewritten here: an integrity alert
   * (blocks checkpoints and bundles until acknowledged), not just a failed delivery.
   */
  private async alertOn(o: WitnessOutcome, size: number): Promise<void> {
    if (o.ok || !this.integrity) return;
    if (o.knownSize !== undefined && o.knownSize > size) {
      await this.integrity.record([
        {
          kind: 'witness_ahead',
          detail: `witness ${o.witness} cosigned ${o.knownSize} events of ${this.origin}, the stored log has ${size}: history was lost or rolled back (a restored backup, lost WAL frames)`,
        },
      ]);
    } else if (o.status === 422) {
      await this.integrity.record([
        {
          kind: 'witness_refused',
          detail: `witness ${o.witness} refused the log of ${size} as inconsistent with what it cosigned: ${o.detail}`,
        },
      ]);
    }
  }

  private lastCosigned(url: string): Promise<number> {
    return this.repo.lastCosigned(url);
  }

  private async record(checkpointId: number, size: number, o: WitnessOutcome, tx?: SqlRunner) {
    await this.repo.insertCosignature(
      {
        checkpointId,
        witness: o.witness,
        logSize: size,
        cosignature: o.ok ? o.cosignatures.join('') : null,
        error: o.ok ? null : `${o.status ?? 'network'}: ${o.detail}`.slice(0, 500),
        receivedAt: this.clock.now().getTime(),
      },
      tx,
    );
    if (o.ok) this.log.log(`checkpoint ${checkpointId} (log ${size}) cosigned by ${o.witness}`);
    else
      this.log.warn(
        `checkpoint ${checkpointId}: witness ${o.witness} refused or failed: ${o.status ?? 'network'} ${o.detail}`,
      );
  }

  /** The stored note of checkpoint `id` with every cosignature received for it appended. */
  async cosignedNote(
    checkpointId: number,
  ): Promise<{ note: string; size: number; witnesses: string[] } | null> {
    const n = await this.repo.note(checkpointId);
    if (!n) return null;
    const cos = await this.repo.cosignatures(checkpointId);
    return {
      note: n.note + cos.map((c) => c.cosignature).join(''),
      size: Number(n.log_size),
      witnesses: cos.map((c) => c.witness),
    };
  }
}
