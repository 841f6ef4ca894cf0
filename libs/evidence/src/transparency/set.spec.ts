import { describe, expect, it } from '@jest/globals';
import { MerkleTree } from '../merkle.js';
import { generateSigningKeyPair, loadSigningKey, signBytes } from '../signing.js';
import { consistencyFinding, fingerprintOf } from './integrity.service.js';
import { MerkleLevels } from '../log/proofs.js';
import { checkLeafPage, checkSetPage } from '../log/verify-work.js';
import { canonicalJson } from '../chain.js';
import { eventLeafData, eventLeafHash, openSet, setBody } from './set.js';

describe('signed entry timestamps', () => {
  const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
  const other = loadSigningKey(generateSigningKeyPair().privateKeyPem);
  const entries: [string, number, string][] = [
    ['C-1', 1, 'a'.repeat(64)],
    ['C-2', 4, 'b'.repeat(64)],
  ];
  const body = setBody({ time: '2026-12-03T00:00:00.000Z', keyId: key.keyId, entries });
  const sig = signBytes(key, Buffer.from(body, 'utf8')).toString('base64');

  it('opens a SET signed by the key and lists its entries', () => {
    const r = openSet(body, sig, key.publicKey, key.keyId);
    expect(r).toMatchObject({ ok: true, statement: { entries } });
    expect(body).toBe(
      `{"entries":[["C-1",1,"${'a'.repeat(64)}"],["C-2",4,"${'b'.repeat(64)}"]],"keyId":"${key.keyId}","time":"2026-12-03T00:00:00.000Z","type":"cns-evidence-set/v1"}`,
    );
  });

  it('refuses an edited body, another key, a bad signature and non-SETs', () => {
    const edited = body.replace('"C-2",4', '"C-2",5');
    expect(openSet(edited, sig, key.publicKey, key.keyId)).toMatchObject({ ok: false, detail: /signature/ });
    expect(openSet(body, sig, other.publicKey, other.keyId)).toMatchObject({
      ok: false,
      detail: /signed by key/,
    });
    expect(openSet(body, '', key.publicKey, key.keyId)).toMatchObject({ ok: false });
    expect(openSet('{"type":"x"}', sig, key.publicKey, key.keyId)).toMatchObject({ ok: false });
    expect(openSet('not json', sig, key.publicKey, key.keyId)).toMatchObject({
      ok: false,
      detail: 'not JSON',
    });
  });

  it('leaf data is the canonical JSON of {caseId, hash, seq}', () => {
    for (const e of [
      { caseId: 'C-1', seq: 1, hash: 'a'.repeat(64) },
      { caseId: 'C-"é\\u2028', seq: 123456, hash: 'b'.repeat(64) },
    ]) {
      expect(eventLeafData(e).toString('utf8')).toBe(
        canonicalJson({ caseId: e.caseId, seq: e.seq, hash: e.hash }),
      );
    }
  });

  it('leaf hashes include the event hash', () => {
    const a = eventLeafHash({ caseId: 'C-1', seq: 1, hash: 'a'.repeat(64) });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(eventLeafHash({ caseId: 'C-1', seq: 1, hash: 'c'.repeat(64) })).not.toBe(a);
  });

  it('a log extends a checkpoint only when its prefix rebuilds the signed root', () => {
    const leaves = [1, 2, 3, 4, 5].map((i) =>
      eventLeafHash({ caseId: 'C', seq: i, hash: String(i).repeat(64) }),
    );
    const root3 = MerkleTree.fromLeafHashes(leaves.slice(0, 3).map((h) => Buffer.from(h, 'hex')))
      .root()
      .toString('hex');
    const tree = (hex: string[]) => MerkleLevels.fromLeafHashes(hex.map((h) => Buffer.from(h, 'hex')));
    expect(consistencyFinding(7, 3, root3, tree(leaves))).toBeNull();
    const rewritten = [...leaves];
    rewritten[1] = 'f'.repeat(64);
    expect(consistencyFinding(7, 3, root3, tree(rewritten))).toMatchObject({ kind: 'log_mismatch' });
    expect(consistencyFinding(7, 3, root3, tree(leaves.slice(0, 2)))).toMatchObject({
      kind: 'log_truncated',
      detail: expect.stringContaining('log leaf 2 is the first one missing') as unknown as string,
    });
    // Beyond the checkpoint's size the log may grow freely.
    expect(consistencyFinding(7, 3, root3, tree([...leaves, 'e'.repeat(64)]))).toBeNull();
    expect(fingerprintOf({ kind: 'log_gap', detail: 'x' })).not.toBe(
      fingerprintOf({ kind: 'log_gap', detail: 'y' }),
    );
  });

  it('a verify page recomputes each leaf as eventLeafHash does and names rows that differ or are gone', () => {
    const events = [
      { caseId: 'C-1', seq: 1, hash: 'a'.repeat(64) },
      { caseId: 'C-"é\\u2028', seq: 123456, hash: 'b'.repeat(64) },
      { caseId: 'C-3', seq: 2, hash: 'c'.repeat(64) },
      { caseId: 'C-4', seq: 9, hash: 'd'.repeat(64) },
    ];
    const leaves = events.map(eventLeafHash);
    const rows: (string | number | null)[][] = events.map((e, i) => [i, leaves[i], e.hash, e.seq, e.caseId]);
    rows[2] = [2, leaves[2], null, null, null]; // the event row is gone
    rows[3] = [4, leaves[3], 'e'.repeat(64), 9, 'C-4']; // rewritten, and leaf 3 is missing
    const r = checkLeafPage({ json: JSON.stringify(rows), start: 0, end: 6 });
    expect(r).toMatchObject({ count: 4, firstGap: 3, missing: [2], mismatched: [4] });
    expect(Buffer.from(r.packed).toString('hex')).toBe(leaves.join(''));
    expect(checkLeafPage({ json: JSON.stringify(rows.slice(0, 2)), start: 0, end: 3 }).firstGap).toBe(2);
    expect(() => checkLeafPage({ json: JSON.stringify([rows[1], rows[0]]), start: 0, end: 2 })).toThrow(
      /out of idx order/,
    );
  });

  it('a SET page names every SET that does not open with the key, legacy markers aside', () => {
    const spki = new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' }));
    const edited = body.replace('"C-2",4', '"C-2",5');
    const { bad } = checkSetPage(
      {
        json: JSON.stringify([
          [1, 'legacy', '{"type":"cns-evidence-legacy/v1"}', ''],
          [2, key.keyId, body, sig],
          [3, key.keyId, edited, sig],
          [4, 'unsigned', body, ''],
        ]),
      },
      { keyId: key.keyId, spki },
      ['legacy'],
    );
    expect(bad).toEqual([
      { id: 3, detail: 'signature does not verify' },
      { id: 4, detail: 'signature does not verify' },
    ]);
  });
});
