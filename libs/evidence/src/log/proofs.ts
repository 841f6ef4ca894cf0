/**
 * RFC 9162 (Certificate Transparency 2.0) Merkle tree math over leaf hashes: the root of the
 * first n leaves, inclusion proofs (section 2.1.3) and consistency proofs (section 2.1.4), with
 * their verifiers written exactly as the RFC's algorithms.
 *
 * Hashing is RFC 6962's, shared with `../merkle.ts`: leaf = SHA-256(0x00 || data),
 * node = SHA-256(0x01 || left || right), empty tree = SHA-256("").
 *
 * `MerkleLevels` keeps every complete subtree hash, level by level, in contiguous buffers
 * (32 bytes a node; about 64 MB for 1,000,000 leaves). Appending is amortised O(1) hashes a
 * leaf; a root, an inclusion proof or a consistency proof for any earlier tree size costs
 * O(log n) hashes, because at most one incomplete right-hand subtree is hashed on the way.
 */
import { EMPTY_TREE_ROOT, merkleNodeHash, merkleNodeHashAt } from '../merkle.js';

export const HASH_SIZE = 32;

function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** Whether n (a positive safe integer) is an exact power of two. */
function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  let x = n;
  while (x % 2 === 0) x /= 2;
  return x === 1;
}

/** Largest power of two strictly smaller than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** One level of complete subtree hashes, 32 bytes a node, grown by doubling. */
class Level {
  private buf: Buffer;
  count = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(Math.ceil(capacity), 16) * HASH_SIZE);
  }

  push(hash: Buffer): void {
    if ((this.count + 1) * HASH_SIZE > this.buf.length) {
      const next = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(next, 0, 0, this.count * HASH_SIZE);
      this.buf = next;
    }
    hash.copy(this.buf, this.count * HASH_SIZE);
    this.count++;
  }

  /** Appends nodes packed 32 bytes each. */
  pushMany(packed: Buffer): void {
    const need = this.count * HASH_SIZE + packed.length;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.count * HASH_SIZE);
      this.buf = next;
    }
    packed.copy(this.buf, this.count * HASH_SIZE);
    this.count += packed.length / HASH_SIZE;
  }

  /** The node hash over nodes 2p and 2p + 1 (their parent one level up). */
  pairHash(p: number): Buffer {
    return merkleNodeHashAt(this.buf, p * 2 * HASH_SIZE);
  }

  /** A view on node i (valid until the next push that grows the buffer; callers copy if they keep it). */
  at(i: number): Buffer {
    return this.buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

/**
 * A level store of an append-only RFC 9162 tree: level 0 holds the leaf hashes, level l node i
 * the hash of the complete subtree over leaves [i * 2^l, (i + 1) * 2^l).
 */
export class MerkleLevels {
  private readonly levels: Level[] = [];

  constructor(expectedLeaves = 0) {
    this.levels.push(new Level(expectedLeaves));
  }

  static fromLeafHashes(leafHashes: Iterable<Buffer>): MerkleLevels {
    const arr = Array.isArray(leafHashes) ? (leafHashes as Buffer[]) : [...leafHashes];
    const t = new MerkleLevels(arr.length);
    for (const h of arr) t.append(h);
    return t;
  }

  /** Number of leaves. */
  get size(): number {
    return this.levels[0].count;
  }

  /**
   * Appends leaf hashes packed 32 bytes each (as stored, in order); returns the new size. The same
   * tree as appending them one by one: leaves copied in one go, then every pair each level completes.
   */
  appendPacked(packed: Buffer): number {
    if (packed.length % HASH_SIZE !== 0) throw new RangeError('packed leaf hashes are 32 bytes each');
    this.levels[0].pushMany(packed);
    for (let l = 0; this.levels[l].count > 1; l++) {
      const level = this.levels[l];
      if (this.levels.length === l + 1) this.levels.push(new Level(level.count / 2));
      const up = this.levels[l + 1];
      // Level l + 1 holds one node per complete pair of level l.
      while (up.count < Math.floor(level.count / 2)) {
        up.push(level.pairHash(up.count));
      }
    }
    return this.size;
  }

  /** Appends a leaf hash; returns its index. */
  append(leafHash: Buffer): number {
    if (!Buffer.isBuffer(leafHash) || leafHash.length !== HASH_SIZE) {
      throw new RangeError('a leaf hash is 32 bytes');
    }
    const index = this.size;
    this.levels[0].push(leafHash);
    // Complete every subtree the new leaf closes: while the node just written is a right child.
    let l = 0;
    let i = index;
    while (i % 2 === 1) {
      const level = this.levels[l];
      const parent = merkleNodeHash(level.at(i - 1), level.at(i));
      if (this.levels.length === l + 1) this.levels.push(new Level(level.count / 2));
      this.levels[l + 1].push(parent);
      l++;
      i = (i - 1) / 2;
    }
    return index;
  }

  leafHash(index: number): Buffer {
    if (!isSize(index) || index >= this.size) {
      throw new RangeError(`leaf index ${index} outside a tree of ${this.size}`);
    }
    return Buffer.from(this.levels[0].at(index));
  }

  /** MTH(D[start:end]) for a range the RFC recursion produces (start aligned to the split). */
  private hashRange(start: number, end: number): Buffer {
    const n = end - start;
    if (n === 0) return EMPTY_TREE_ROOT;
    // A complete subtree: n is a power of two and start is a multiple of n.
    if (isPowerOfTwo(n) && start % n === 0) {
      const l = Math.log2(n);
      return this.levels[l].at(start / n);
    }
    const k = splitPoint(n);
    return merkleNodeHash(this.hashRange(start, start + k), this.hashRange(start + k, end));
  }

  private checkSize(n: number, what: string): void {
    if (!isSize(n) || n > this.size) {
      throw new RangeError(`${what} ${n} outside a log of ${this.size} leaves`);
    }
  }

  /** MTH(D[0:n]), the root of the tree of the first n leaves (default: all). */
  root(n = this.size): Buffer {
    this.checkSize(n, 'tree size');
    return Buffer.from(this.hashRange(0, n));
  }

  /** RFC 9162 2.1.3.1 PATH(m, D[n]) for leaf `index` in the tree of the first `size` leaves. */
  inclusionProof(index: number, size = this.size): Buffer[] {
    this.checkSize(size, 'tree size');
    if (!isSize(index) || index >= size) {
      throw new RangeError(`leaf index ${index} outside a tree of ${size}`);
    }
    const out: Buffer[] = [];
    this.path(index, 0, size, out);
    return out.map((b) => Buffer.from(b));
  }

  /** PATH(m, D[start:end]), appended bottom-up to out. */
  private path(m: number, start: number, end: number, out: Buffer[]): void {
    const n = end - start;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.path(m, start, start + k, out);
      out.push(this.hashRange(start + k, end));
    } else {
      this.path(m - k, start + k, end, out);
      out.push(this.hashRange(start, start + k));
    }
  }

  /** RFC 9162 2.1.4.1 PROOF(m, D[n]): consistency of the first m leaves with the first n (0 < m <= n). */
  consistencyProof(m: number, n = this.size): Buffer[] {
    this.checkSize(n, 'tree size');
    if (!isSize(m) || m > n) throw new RangeError(`old size ${m} must not exceed new size ${n}`);
    if (m === 0 || m === n) return [];
    const out: Buffer[] = [];
    this.subproof(m, 0, n, true, out);
    return out.map((b) => Buffer.from(b));
  }

  /** SUBPROOF(m, D[start:end], b). */
  private subproof(m: number, start: number, end: number, b: boolean, out: Buffer[]): void {
    const n = end - start;
    if (m === n) {
      if (!b) out.push(this.hashRange(start, end));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.subproof(m, start, start + k, b, out);
      out.push(this.hashRange(start + k, end));
    } else {
      this.subproof(m - k, start + k, end, false, out);
      out.push(this.hashRange(start, start + k));
    }
  }
}

/** MTH of the first n of the given leaf hashes (default: all). */
export function treeRootOf(leafHashes: readonly Buffer[], n = leafHashes.length): Buffer {
  if (!isSize(n) || n > leafHashes.length)
    throw new RangeError(`tree size ${n} outside ${leafHashes.length} leaves`);
  return MerkleLevels.fromLeafHashes(leafHashes.slice(0, n)).root();
}

/** PATH(index, D[size]) over the given leaf hashes. Builds the levels: keep a `MerkleLevels` for repeated proofs. */
export function inclusionProofOf(
  leafHashes: readonly Buffer[],
  index: number,
  size = leafHashes.length,
): Buffer[] {
  if (!isSize(size) || size > leafHashes.length)
    throw new RangeError(`tree size ${size} outside ${leafHashes.length} leaves`);
  return MerkleLevels.fromLeafHashes(leafHashes.slice(0, size)).inclusionProof(index);
}

/** PROOF(m, D[n]) over the given leaf hashes. */
export function consistencyProofOf(
  leafHashes: readonly Buffer[],
  m: number,
  n = leafHashes.length,
): Buffer[] {
  if (!isSize(n) || n > leafHashes.length)
    throw new RangeError(`tree size ${n} outside ${leafHashes.length} leaves`);
  return MerkleLevels.fromLeafHashes(leafHashes.slice(0, n)).consistencyProof(m);
}

function allHashes(list: readonly Buffer[]): boolean {
  return Array.isArray(list) && list.every((h) => Buffer.isBuffer(h) && h.length === HASH_SIZE);
}

/** Right-shifts a (safe integer) by one. */
function half(x: number): number {
  return Math.floor(x / 2);
}

/**
 * RFC 9162 section 2.1.3.2: verifies that `leafHash` is leaf `index` of the tree of `size` leaves
 * whose root is `root`. Returns false, never throws, on malformed input (non-32-byte hashes included).
 */
export function verifyInclusionProof(
  leafHash: Buffer,
  index: number,
  size: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!isSize(index) || !isSize(size)) return false;
  if (!Buffer.isBuffer(leafHash) || leafHash.length !== HASH_SIZE) return false;
  if (!Buffer.isBuffer(root) || root.length !== HASH_SIZE || !allHashes(proof)) return false;
  // 1. leaf_index >= tree_size fails.
  if (index >= size) return false;
  // 2. fn = leaf_index, sn = tree_size - 1. 3. r = hash.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  // 4. For each p in inclusion_path:
  for (const p of proof) {
    // a. sn == 0: fail.
    if (sn === 0) return false;
    // b. LSB(fn) set, or fn == sn:
    if (fn % 2 === 1 || fn === sn) {
      r = merkleNodeHash(p, r);
      // right-shift both until LSB(fn) is set or fn is 0.
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = merkleNodeHash(r, p);
    }
    // c. right-shift both once.
    fn = half(fn);
    sn = half(sn);
  }
  // 5. sn == 0 and r == root_hash.
  return sn === 0 && r.equals(root);
}

/**
 * RFC 9162 section 2.1.4.2: verifies that the tree of `newSize` leaves with root `newRoot`
 * extends the tree of `oldSize` leaves with root `oldRoot`.
 *
 * Sizes outside 0 < oldSize <= newSize fail (a proof from the empty tree is meaningless: the
 * caller decides what an old size of 0 means); oldSize == newSize holds with an empty proof and
 * equal roots. Returns false, never throws, on malformed input.
 */
export function verifyConsistencyProof(
  oldSize: number,
  newSize: number,
  proof: readonly Buffer[],
  oldRoot: Buffer,
  newRoot: Buffer,
): boolean {
  if (!isSize(oldSize) || !isSize(newSize)) return false;
  if (!Buffer.isBuffer(oldRoot) || oldRoot.length !== HASH_SIZE) return false;
  if (!Buffer.isBuffer(newRoot) || newRoot.length !== HASH_SIZE || !allHashes(proof)) return false;
  if (oldSize === 0 || oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && oldRoot.equals(newRoot);
  // 1. An empty consistency_path fails.
  if (proof.length === 0) return false;
  // 2. If first is an exact power of 2, prepend first_hash to consistency_path.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  // 3. fn = first - 1, sn = second - 1.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  // 4. If LSB(fn) is set, right-shift both until LSB(fn) is not set.
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5. fr = sr = the first value in consistency_path.
  let fr = path[0];
  let sr = path[0];
  // 6. For each subsequent value c:
  for (const c of path.slice(1)) {
    // a. sn == 0: fail.
    if (sn === 0) return false;
    // b. LSB(fn) set, or fn == sn:
    if (fn % 2 === 1 || fn === sn) {
      fr = merkleNodeHash(c, fr);
      sr = merkleNodeHash(c, sr);
      // right-shift both until LSB(fn) is set or fn is 0.
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = merkleNodeHash(sr, c);
    }
    // c. right-shift both once.
    fn = half(fn);
    sn = half(sn);
  }
  // 7. fr == first_hash, sr == second_hash, sn == 0.
  return sn === 0 && fr.equals(oldRoot) && sr.equals(newRoot);
}
