import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../chain.js';
import { merkleLeafHash } from '../merkle.js';
import { verifyBytes } from '../signing.js';

/**
 * Signed entry timestamps (SETs, as Rekor's) and the leaves of the global evidence log
 * (docs/evidence.md, "Transparency log").
 *
 * A SET is the canonical JSON (RFC 8785) of
 * `{ type: "cns-evidence-set/v1", time, keyId, entries: [[caseId, seq, hash], ...] }`, signed with
 * the evidence key (raw Ed25519 over the UTF-8 bytes). One SET is made per append batch, in the
 * batch's transaction, so an event that someone without the key inserts is covered by none.
 */

export const SET_TYPE = 'cns-evidence-set/v1';

export type SetEntry = [caseId: string, seq: number, hash: string];

export interface SetStatement {
  type: typeof SET_TYPE;
  /**
   * Adoption of the events appended before SETs existed: the id of the migration's `legacy` row.
   * Its entries are case heads and cover, through the hash chain, every event up to them.
   */
  adopts?: number;
  prefix?: true;
  /** ISO-8601 UTC: when the batch was appended. */
  time: string;
  keyId: string;
  entries: SetEntry[];
}

export function setBody(input: {
  time: string;
  keyId: string;
  entries: SetEntry[];
  adopts?: number;
}): string {
  const statement: SetStatement = {
    type: SET_TYPE,
    time: input.time,
    keyId: input.keyId,
    entries: input.entries,
  };
  if (input.adopts !== undefined) {
    statement.adopts = input.adopts;
    statement.prefix = true;
  }
  return canonicalJson(statement);
}

/** Key id of the unsigned row the migration writes for events that predate SETs. */
export const LEGACY_SET_KEY = 'legacy';

/**
 * Parses a stored SET and checks its signature; returns its entries, or the reason it is not a
 * valid SET. Never throws.
 */
export function openSet(
  body: string,
  signatureB64: string,
  publicKey: KeyObject,
  keyId: string,
): { ok: true; statement: SetStatement } | { ok: false; detail: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, detail: 'not JSON' };
  }
  const s = parsed as Partial<SetStatement> | null;
  if (
    !s ||
    typeof s !== 'object' ||
    s.type !== SET_TYPE ||
    typeof s.time !== 'string' ||
    typeof s.keyId !== 'string' ||
    !Array.isArray(s.entries)
  ) {
    return { ok: false, detail: 'not a signed entry timestamp' };
  }
  if (s.keyId !== keyId) return { ok: false, detail: `signed by key ${s.keyId}, not ${keyId}` };
  if (!verifyBytes(publicKey, Buffer.from(body, 'utf8'), Buffer.from(signatureB64, 'base64'))) {
    return { ok: false, detail: 'signature does not verify' };
  }
  return { ok: true, statement: s as SetStatement };
}

/**
 * The leaf data of an evidence event in the global log: canonical JSON (RFC 8785) of
 * `{caseId, hash, seq}`, written out directly (members in JCS order, strings as JSON.stringify
 * writes them, seq an integer); a unit test holds it equal to `canonicalJson`.
 */
export function eventLeafData(e: { caseId: string; seq: number; hash: string }): Buffer {
  if (!Number.isSafeInteger(e.seq)) throw new TypeError('seq must be an integer');
  return Buffer.from(
    `{"caseId":${JSON.stringify(e.caseId)},"hash":${JSON.stringify(e.hash)},"seq":${e.seq}}`,
    'utf8',
  );
}

/** Hex RFC 6962 leaf hash of an event: SHA-256(0x00 || leaf data), the leaf data including its hash. */
export function eventLeafHash(e: { caseId: string; seq: number; hash: string }): string {
  return merkleLeafHash(eventLeafData(e)).toString('hex');
}
