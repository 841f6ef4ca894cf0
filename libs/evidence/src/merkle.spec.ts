import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  CaseHeadTree,
  caseHeadLeafData,
  EMPTY_TREE_ROOT,
  merkleLeafHash,
  MerkleTree,
  verifyCaseInclusion,
  verifyInclusion,
} from './merkle.js';

// RFC 6962 test leaves used by Certificate Transparency implementations; the roots and paths
// below were computed independently with a 15-line Python reference (hashlib) of RFC 6962 §2.1.
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((h) => Buffer.from(h, 'hex'));
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

// An independent recursive transcription of RFC 6962 MTH and PATH, for cross-checking.
const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  parts.forEach((p) => h.update(p));
  return h.digest();
};
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]);
  const k = split(d.length);
  return sha(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
}
function refPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), mth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), mth(d.slice(0, k))];
}

describe('RFC 6962 Merkle tree', () => {
  it('matches the known roots for 1..8 leaves and the empty tree', () => {
    for (let n = 1; n <= 8; n++) {
      expect(MerkleTree.fromLeafData(LEAVES.slice(0, n)).root().toString('hex')).toBe(ROOTS[n - 1]);
    }
    expect(MerkleTree.fromLeafData([]).root()).toEqual(EMPTY_TREE_ROOT);
    expect(EMPTY_TREE_ROOT.toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('gives the known audit paths', () => {
    const tree = MerkleTree.fromLeafData(LEAVES);
    expect(tree.auditPath(0).map((b) => b.toString('hex'))).toEqual([
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
    expect(tree.auditPath(5).map((b) => b.toString('hex'))).toEqual([
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]);
    expect(
      MerkleTree.fromLeafData(LEAVES.slice(0, 3))
        .auditPath(2)
        .map((b) => b.toString('hex')),
    ).toEqual(['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']);
  });

  it('agrees with the recursive definition and verifies every leaf for sizes 1..40', () => {
    const data = Array.from({ length: 40 }, (_, i) => Buffer.from(`leaf-${i}`));
    for (let n = 1; n <= 40; n++) {
      const d = data.slice(0, n);
      const tree = MerkleTree.fromLeafData(d);
      const root = tree.root();
      expect(root).toEqual(mth(d));
      for (let m = 0; m < n; m++) {
        const path = tree.auditPath(m);
        expect(path).toEqual(refPath(m, d));
        expect(verifyInclusion(merkleLeafHash(d[m]), m, n, path, root)).toBe(true);
      }
    }
  });

  it('rejects a proof with the wrong index, size, leaf, root or path', () => {
    const d = Array.from({ length: 11 }, (_, i) => Buffer.from(`x${i}`));
    const tree = MerkleTree.fromLeafData(d);
    const root = tree.root();
    const path = tree.auditPath(6);
    const leaf = merkleLeafHash(d[6]);
    expect(verifyInclusion(leaf, 6, 11, path, root)).toBe(true);
    expect(verifyInclusion(leaf, 7, 11, path, root)).toBe(false);
    // Sizes whose tree has another shape around leaf 6 (sizes 9..16 share it: the signed
    // checkpoint, not the path, binds the size).
    expect(verifyInclusion(leaf, 6, 8, path, root)).toBe(false);
    expect(verifyInclusion(leaf, 6, 7, path, root)).toBe(false);
    expect(verifyInclusion(merkleLeafHash(d[5]), 6, 11, path, root)).toBe(false);
    expect(verifyInclusion(leaf, 6, 11, path, merkleLeafHash(d[0]))).toBe(false);
    expect(verifyInclusion(leaf, 6, 11, path.slice(1), root)).toBe(false);
    expect(verifyInclusion(leaf, 6, 11, [...path, path[0]], root)).toBe(false);
    expect(verifyInclusion(leaf, 11, 11, path, root)).toBe(false);
    expect(verifyInclusion(leaf, -1, 11, path, root)).toBe(false);
    const flipped = Buffer.from(path[1]);
    flipped[0] ^= 1;
    expect(verifyInclusion(leaf, 6, 11, [path[0], flipped, ...path.slice(2)], root)).toBe(false);
  });

  it('refuses indexes outside the tree', () => {
    expect(() => MerkleTree.fromLeafData(LEAVES).auditPath(8)).toThrow(RangeError);
  });
});

describe('CaseHeadTree', () => {
  const heads = [
    { caseId: 'C-2', seq: 3, hash: 'bb'.repeat(32) },
    { caseId: 'C-1', seq: 1, hash: 'aa'.repeat(32) },
    { caseId: 'C-10', seq: 7, hash: 'cc'.repeat(32) },
  ];

  it('uses canonical {caseId, seq, hash} leaves sorted by caseId (vector computed in Python)', () => {
    expect(caseHeadLeafData(heads[1]).toString()).toBe(
      `{"caseId":"C-1","hash":"${'aa'.repeat(32)}","seq":1}`,
    );
    const tree = new CaseHeadTree(heads);
    expect(tree.heads.map((h) => h.caseId)).toEqual(['C-1', 'C-10', 'C-2']);
    expect(tree.treeSize).toBe(3);
    expect(tree.rootHash).toBe('1cf0f840121b154af81f124838c6e798d61bf7aacc7e0a97561125fbe1b53d79');
    const proof = tree.proofFor('C-2');
    expect(proof).toEqual({
      head: heads[0],
      leafIndex: 2,
      treeSize: 3,
      auditPath: ['3216592607ff1bfa1e07a34fb5eabfb843446abc832f585b1963239e78084ef3'],
    });
    expect(verifyCaseInclusion(proof, tree.rootHash)).toEqual({ ok: true });
  });

  it('the root does not depend on input order', () => {
    expect(new CaseHeadTree([...heads].reverse()).rootHash).toBe(new CaseHeadTree(heads).rootHash);
  });

  it('a proof fails once the head it carries changes', () => {
    const tree = new CaseHeadTree(heads);
    const proof = tree.proofFor('C-10');
    expect(verifyCaseInclusion(proof, tree.rootHash).ok).toBe(true);
    expect(verifyCaseInclusion({ ...proof, head: { ...proof.head, seq: 8 } }, tree.rootHash).ok).toBe(false);
    expect(
      verifyCaseInclusion({ ...proof, head: { ...proof.head, hash: 'dd'.repeat(32) } }, tree.rootHash).ok,
    ).toBe(false);
    expect(verifyCaseInclusion({ ...proof, auditPath: ['zz'] }, tree.rootHash).ok).toBe(false);
  });

  it('proves every case in a larger tree', () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({
      caseId: `CASE-${(i * 7919) % 1000}`,
      seq: i + 1,
      hash: createHash('sha256').update(String(i)).digest('hex'),
    }));
    const tree = new CaseHeadTree(many);
    for (const h of many) expect(verifyCaseInclusion(tree.proofFor(h.caseId), tree.rootHash).ok).toBe(true);
  });

  it('rejects duplicate cases, malformed hashes and unknown cases', () => {
    expect(() => new CaseHeadTree([heads[0], heads[0]])).toThrow(/duplicate/);
    expect(() => new CaseHeadTree([{ caseId: 'C', seq: 1, hash: 'AB' }])).toThrow(/malformed/);
    expect(() => new CaseHeadTree(heads).proofFor('nope')).toThrow(/not in the tree/);
  });
});
