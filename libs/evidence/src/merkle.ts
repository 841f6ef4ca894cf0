import { createHash, hash } from 'node:crypto';
import { canonicalJson } from './chain.js';

/**
 * An RFC 6962 (Certificate Transparency) Merkle tree over the heads of all case chains.
 *
 * - leaf hash  = SHA-256(0x00 || leaf data)
 * - node hash  = SHA-256(0x01 || left || right)
 * - a tree of n > 1 leaves splits at k, the largest power of two smaller than n
 * - the empty tree hashes to SHA-256("")
 *
 * The leaf data of a case is the canonical JSON (RFC 8785) of `{ caseId, seq, hash }` of its head,
 * and the leaves are ordered by caseId (UTF-16 code unit order, as JavaScript compares strings).
 */

export interface CaseHead {
  caseId: string;
  seq: number;
  hash: string;
}

/** Proof that one case head is a leaf of the tree whose root a checkpoint signs. */
export interface CaseInclusionProof {
  head: CaseHead;
  leafIndex: number;
  treeSize: number;
  /** Hex SHA-256 hashes, from the leaf's sibling up to the root's child (RFC 6962 audit path order). */
  auditPath: string[];
}

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export function merkleLeafHash(data: Buffer): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** 0x01 || left || right for two 32-byte hashes, reused (hashing is synchronous). */
const NODE_INPUT = Buffer.alloc(65, 0x01);

export function merkleNodeHash(left: Buffer, right: Buffer): Buffer {
  if (left.length === 32 && right.length === 32) {
    left.copy(NODE_INPUT, 1);
    right.copy(NODE_INPUT, 33);
    return hash('sha256', NODE_INPUT, 'buffer');
  }
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The node hash over the two 32-byte hashes at `offset` of `buf` (left, then right). */
export function merkleNodeHashAt(buf: Buffer, offset: number): Buffer {
  buf.copy(NODE_INPUT, 1, offset, offset + 64);
  return hash('sha256', NODE_INPUT, 'buffer');
}

export const EMPTY_TREE_ROOT = createHash('sha256').digest();

/**
 * The tree over leaf hashes, kept level by level. Pairing neighbours bottom-up and carrying an
 * unpaired last node up unchanged gives exactly the RFC 6962 tree (split at the largest power of two).
 */
export class MerkleTree {
  private readonly levels: Buffer[][];

  private constructor(leafHashes: Buffer[]) {
    this.levels = [leafHashes];
    let level = leafHashes;
    while (level.length > 1) {
      const next: Buffer[] = [];
      for (let i = 0; i < level.length; i += 2) {
        next.push(i + 1 < level.length ? merkleNodeHash(level[i], level[i + 1]) : level[i]);
      }
      this.levels.push(next);
      level = next;
    }
  }

  static fromLeafData(leaves: readonly Buffer[]): MerkleTree {
    return new MerkleTree(leaves.map(merkleLeafHash));
  }

  static fromLeafHashes(leafHashes: readonly Buffer[]): MerkleTree {
    return new MerkleTree([...leafHashes]);
  }

  get size(): number {
    return this.levels[0].length;
  }

  root(): Buffer {
    if (this.size === 0) return EMPTY_TREE_ROOT;
    return this.levels[this.levels.length - 1][0];
  }

  leafHash(index: number): Buffer {
    this.checkIndex(index);
    return this.levels[0][index];
  }

  /** RFC 6962 PATH(m, D[n]): sibling hashes from the bottom up. */
  auditPath(index: number): Buffer[] {
    this.checkIndex(index);
    const path: Buffer[] = [];
    let i = index;
    for (let l = 0; l < this.levels.length - 1; l++) {
      const level = this.levels[l];
      const sibling = i ^ 1;
      if (sibling < level.length) path.push(level[sibling]);
      i >>= 1;
    }
    return path;
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`leaf index ${index} outside a tree of ${this.size}`);
    }
  }
}

/**
 * Verifies an audit path (RFC 9162 section 2.1.3.2). Returns false, never throws, on malformed input.
 */
export function verifyInclusion(
  leafHash: Buffer,
  leafIndex: number,
  treeSize: number,
  auditPath: readonly Buffer[],
  rootHash: Buffer,
): boolean {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize)) return false;
  if (leafIndex < 0 || leafIndex >= treeSize) return false;
  if (auditPath.some((p) => p.length !== 32) || leafHash.length !== 32) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of auditPath) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = merkleNodeHash(p, r);
      if (fn % 2 === 0) {
        // Right-most node of its level with no right sibling: climb until fn is a right child.
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = merkleNodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(rootHash);
}

/** The exact leaf data for a case head: canonical JSON of `{ caseId, seq, hash }`. */
export function caseHeadLeafData(head: CaseHead): Buffer {
  return Buffer.from(canonicalJson({ caseId: head.caseId, seq: head.seq, hash: head.hash }), 'utf8');
}

function compareCaseIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The checkpoint tree over all case heads: sorted by caseId, one leaf per case. */
export class CaseHeadTree {
  readonly heads: readonly CaseHead[];
  private readonly tree: MerkleTree;
  private readonly indexByCase = new Map<string, number>();

  constructor(heads: Iterable<CaseHead>) {
    const sorted = [...heads].map((h) => ({ caseId: h.caseId, seq: h.seq, hash: h.hash }));
    sorted.sort((a, b) => compareCaseIds(a.caseId, b.caseId));
    sorted.forEach((h, i) => {
      if (this.indexByCase.has(h.caseId)) throw new Error(`duplicate case head for ${h.caseId}`);
      if (!/^[0-9a-f]{64}$/.test(h.hash)) throw new Error(`case head ${h.caseId} has a malformed hash`);
      if (!Number.isSafeInteger(h.seq) || h.seq < 0) throw new Error(`case head ${h.caseId} has a bad seq`);
      this.indexByCase.set(h.caseId, i);
    });
    this.heads = sorted;
    this.tree = MerkleTree.fromLeafData(sorted.map(caseHeadLeafData));
  }

  get treeSize(): number {
    return this.tree.size;
  }

  /** Hex root hash. */
  get rootHash(): string {
    return this.tree.root().toString('hex');
  }

  proofFor(caseId: string): CaseInclusionProof {
    const index = this.indexByCase.get(caseId);
    if (index === undefined) throw new Error(`case ${caseId} is not in the tree`);
    return {
      head: { ...this.heads[index] },
      leafIndex: index,
      treeSize: this.tree.size,
      auditPath: this.tree.auditPath(index).map((b) => b.toString('hex')),
    };
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Checks a case head's inclusion proof against a hex root hash. */
export function verifyCaseInclusion(
  proof: CaseInclusionProof,
  rootHash: string,
): { ok: boolean; detail?: string } {
  if (!HEX64.test(rootHash)) return { ok: false, detail: 'root hash is not 64 hex digits' };
  if (
    !Array.isArray(proof.auditPath) ||
    !proof.auditPath.every((p) => typeof p === 'string' && HEX64.test(p))
  ) {
    return { ok: false, detail: 'audit path must be a list of 64-hex-digit hashes' };
  }
  const leaf = merkleLeafHash(caseHeadLeafData(proof.head));
  const ok = verifyInclusion(
    leaf,
    proof.leafIndex,
    proof.treeSize,
    proof.auditPath.map((p) => Buffer.from(p, 'hex')),
    Buffer.from(rootHash, 'hex'),
  );
  return ok
    ? { ok: true }
    : {
        ok: false,
        detail: `audit path for leaf ${proof.leafIndex} of ${proof.treeSize} does not lead to the root`,
      };
}
