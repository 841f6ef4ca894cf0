/**
 * The CPU-heavy parts of verifying the stored global log (transparency/integrity.service.ts), as
 * pure functions over one page of rows: recomputing leaf hashes from event rows and checking SET
 * signatures. They run on the verify pool's worker threads (verify-pool.ts, verify-worker.ts) or,
 * without workers, inline: the same code either way.
 */
import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { openSet } from '../transparency/set.js';
import { HASH_SIZE } from './proofs.js';

/**
 * One page of `log_leaves` joined with `evidence_events`: the rows with start <= idx < end, as the
 * database's JSON array of `[idx, leaf_hash, event hash, event seq, event case id]` in idx order
 * (null event columns when the event row is gone). One string a page: no per-row objects on the
 * reading thread, one copy to the worker.
 */
export interface LeafPage {
  json: string;
  start: number;
  end: number;
}

export interface LeafPageResult {
  /** The stored leaf hashes, 32 bytes each, in idx order (what the signed root is rebuilt from). */
  packed: Uint8Array;
  /** Leaves stored in the page. */
  count: number;
  /** The first idx of [start, end) with no stored leaf, or -1. */
  firstGap: number;
  /** Leaf indexes whose event row is gone. */
  missing: number[];
  /** Leaf indexes whose event row no longer hashes to the stored leaf. */
  mismatched: number[];
}

type LeafRow = [idx: number, leaf: string, hash: string | null, seq: number | null, caseId: string | null];

/**
 * Recomputes every leaf of the page from its event row: SHA-256(0x00 || canonical JSON
 * `{"caseId","hash","seq"}`), the leaf data exactly as `eventLeafData` writes it (a unit test holds
 * them equal), and compares it with the stored leaf.
 */
export function checkLeafPage(page: LeafPage): LeafPageResult {
  const rows = (JSON.parse(page.json) as LeafRow[] | null) ?? [];
  const n = rows.length;
  const packed = Buffer.alloc(n * HASH_SIZE);
  const missing: number[] = [];
  const mismatched: number[] = [];
  let expected = page.start;
  let firstGap = -1;
  for (let i = 0; i < n; i++) {
    const [idx, stored, eventHash, seq, caseId] = rows[i];
    if (idx < expected) throw new Error(`log page ${page.start}: rows out of idx order at ${idx}`);
    if (idx > expected && firstGap < 0) firstGap = expected;
    expected = idx + 1;
    // A stored leaf that is not 64 hex digits writes short and mismatches below.
    packed.write(stored, i * HASH_SIZE, HASH_SIZE, 'hex');
    if (caseId === null || eventHash === null || seq === null) {
      missing.push(idx);
      continue;
    }
    const again = Number.isSafeInteger(seq)
      ? hash(
          'sha256',
          `\u0000{"caseId":${JSON.stringify(caseId)},"hash":${JSON.stringify(eventHash)},"seq":${seq}}`,
          'hex',
        )
      : '';
    if (again !== stored) mismatched.push(idx);
  }
  if (firstGap < 0 && expected < page.end) firstGap = expected;
  return { packed, count: n, firstGap, missing, mismatched };
}

/** One page of `evidence_sets`: the database's JSON array of `[id, key_id, body, signature]`. */
export interface SetPage {
  json: string;
}

export interface SetKey {
  keyId: string;
  /** DER SubjectPublicKeyInfo of the evidence key. */
  spki: Uint8Array;
}

const keys = new Map<string, KeyObject>();

function keyObject(k: SetKey): KeyObject {
  let key = keys.get(k.keyId);
  if (!key) {
    key = createPublicKey({ key: Buffer.from(k.spki), format: 'der', type: 'spki' });
    keys.set(k.keyId, key);
  }
  return key;
}

/**
 * Checks every SET of the page with the evidence key (one KeyObject per key for all of them):
 * returns the ones that do not open, with why. Rows of `skipKeyIds` (the migration's unsigned
 * `legacy` marker, adopted by a signed SET) are not signatures and are skipped.
 */
export function checkSetPage(
  page: SetPage,
  key: SetKey,
  skipKeyIds: readonly string[],
): { bad: { id: number; detail: string }[] } {
  const publicKey = keyObject(key);
  const rows = (JSON.parse(page.json) as [number, string, string, string][] | null) ?? [];
  const bad: { id: number; detail: string }[] = [];
  for (const [id, keyId, body, signature] of rows) {
    if (skipKeyIds.includes(keyId)) continue;
    const opened = openSet(body, signature, publicKey, key.keyId);
    if (!opened.ok) bad.push({ id, detail: opened.detail });
  }
  return { bad };
}
