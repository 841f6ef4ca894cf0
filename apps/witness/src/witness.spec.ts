import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '#libs/core';
import {
  cosignatureV1Signer,
  ed25519NoteSigner,
  generateEd25519Key,
  merkleLeafHash,
  MerkleLevels,
  noteVerifier,
  openCheckpoint,
  signCheckpointNote,
} from '#libs/evidence';
import { loadOrCreateWitnessKey, loadWitnessConfig } from './config.js';
import { openWitnessStore, type WitnessStore } from './store.js';
import {
  InconsistentCheckpointError,
  OldSizeConflictError,
  originHash,
  parseAddCheckpointRequest,
  Witness,
} from './witness.js';

const ORIGIN = 'bank.example/log';
const log = ed25519NoteSigner(ORIGIN, generateEd25519Key());
const tree = MerkleLevels.fromLeafHashes(
  Array.from({ length: 100 }, (_, i) => merkleLeafHash(Buffer.from(`e${i}`))),
);
const cp = (size: number, root = tree.root(size)): string =>
  signCheckpointNote({ origin: ORIGIN, size, root, extensions: [] }, [log]);
const body = (old: number, proof: Buffer[], note: string): string =>
  `old ${old}\n${proof.map((p) => p.toString('base64') + '\n').join('')}\n${note}`;

const dirs: string[] = [];
const stores: WitnessStore[] = [];
afterEach(() => {
  stores.splice(0).forEach((s) => s.close());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function witness(file = ':memory:'): { w: Witness; store: WitnessStore; refused: string[] } {
  const store = openWitnessStore(file);
  stores.push(store);
  const refused: string[] = [];
  const w = new Witness({
    signer: cosignatureV1Signer('w.example/1', generateEd25519Key(), () => 1_700_000_000),
    logs: [{ origin: ORIGIN, verifiers: [noteVerifier(log.vkey)] }],
    store,
    onRefused: (_o, err) => refused.push(err.constructor.name),
  });
  return { w, store, refused };
}

describe('parseAddCheckpointRequest', () => {
  it('reads the old size, the proof lines and the note', () => {
    const proof = tree.consistencyProof(3, 10);
    const r = parseAddCheckpointRequest(body(3, proof, cp(10)));
    expect(r.oldSize).toBe(3);
    expect(r.proof).toEqual(proof);
    expect(r.checkpoint.size).toBe(10);
  });

  it('refuses 64 proof lines, leading zeroes and a missing separator', () => {
    const h = tree.root(1);
    expect(() => parseAddCheckpointRequest(body(3, Array(64).fill(h), cp(10)))).toThrow(ValidationError);
    expect(parseAddCheckpointRequest(body(3, Array(63).fill(h), cp(10))).proof).toHaveLength(63);
    expect(() => parseAddCheckpointRequest(`old 03\n\n${cp(10)}`)).toThrow(ValidationError);
    expect(() => parseAddCheckpointRequest(`old 3\n${cp(10)}`)).toThrow(ValidationError);
    expect(() => parseAddCheckpointRequest('old 3')).toThrow(ValidationError);
  });
});

describe('Witness', () => {
  it('applies the protocol checks in order and only moves forward', () => {
    const { w, store, refused } = witness();
    expect(() => w.addCheckpoint(body(0, [], cp(5).replace(ORIGIN, 'x.example/other')))).toThrow(
      NotFoundError,
    );
    expect(() => w.addCheckpoint(body(0, [], cp(5).replace('\n5\n', '\n6\n')))).toThrow(ForbiddenError);
    expect(() => w.addCheckpoint(body(6, [], cp(5)))).toThrow(ValidationError);
    expect(w.addCheckpoint(body(0, [], cp(5)))).toMatch(/^— w\.example\/1 [A-Za-z0-9+/=]+\n$/);
    expect(store.get(ORIGIN)?.size).toBe(5);
    const err = (() => {
      try {
        w.addCheckpoint(body(0, [], cp(9)));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OldSizeConflictError);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as OldSizeConflictError).knownSize).toBe(5);
    // A wrong proof, then the right one.
    expect(() => w.addCheckpoint(body(5, tree.consistencyProof(4, 9), cp(9)))).toThrow(
      InconsistentCheckpointError,
    );
    expect(store.get(ORIGIN)?.size).toBe(5);
    w.addCheckpoint(body(5, tree.consistencyProof(5, 9), cp(9)));
    expect(store.get(ORIGIN)?.size).toBe(9);
    expect(refused).toEqual(['ValidationError', 'InconsistentCheckpointError']);
    const monitored = w.latestByOriginHash(originHash(ORIGIN))!;
    expect(openCheckpoint(monitored, [noteVerifier(log.vkey)]).checkpoint.size).toBe(9);
  });

  it('persists before answering: a second store on the same file sees the state, and triggers keep it monotonic', () => {
    const dir = mkdtempSync(join(tmpdir(), 'witness-unit-'));
    dirs.push(dir);
    const file = join(dir, 'w.sqlite');
    const { w } = witness(file);
    w.addCheckpoint(body(0, [], cp(20)));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const other = openWitnessStore(file);
    stores.push(other);
    expect(other.get(ORIGIN)?.size).toBe(20);
    expect(() => other.put(ORIGIN, { size: 19, root: tree.root(19), note: 'x' })).toThrow(
      /consistent larger/,
    );
    expect(() => other.put(ORIGIN, { size: 20, root: tree.root(21), note: 'x' })).toThrow(
      /consistent larger/,
    );
    // A failing check inside the transaction leaves nothing behind.
    expect(() =>
      other.atomically(() => {
        other.put(ORIGIN, { size: 30, root: tree.root(30), note: 'x' });
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(other.get(ORIGIN)?.size).toBe(20);
  });
});

describe('config', () => {
  it('parses flags once, flags before environment, logs by vkey or origin + vkey', () => {
    const other = ed25519NoteSigner('second.example/log', generateEd25519Key());
    const c = loadWitnessConfig(['--name', 'w.example/1', '--port', '0', '--log', `${ORIGIN} ${log.vkey}`], {
      WITNESS_PORT: '9999',
      WITNESS_NAME: 'ignored.example/x',
    });
    expect(c.name).toBe('w.example/1');
    expect(c.port).toBe(0);
    expect(c.logs.map((l) => l.origin)).toEqual([ORIGIN]);
    const e = loadWitnessConfig([], {
      WITNESS_NAME: 'w.example/1',
      WITNESS_LOGS: `${log.vkey};${other.vkey}`,
    });
    expect(e.logs.map((l) => l.origin)).toEqual([ORIGIN, 'second.example/log']);
    expect(() => loadWitnessConfig(['--name', 'w.example/1'], {})).toThrow(/no log configured/);
    expect(() => loadWitnessConfig(['--name', 'bad name', '--log', log.vkey], {})).toThrow(ValidationError);
    expect(() => loadWitnessConfig(['--name', 'w', '--log', log.vkey.slice(0, -2)], {})).toThrow(
      ValidationError,
    );
    expect(() => loadWitnessConfig(['--name', 'w', '--log', log.vkey, '--port', '70000'], {})).toThrow(
      ValidationError,
    );
    expect(() => loadWitnessConfig(['--nmae', 'w'], {})).toThrow(ValidationError);
  });

  it('creates the key 0600 once and refuses a key file others can read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'witness-key-'));
    dirs.push(dir);
    const file = join(dir, 'sub', 'witness.key');
    const a = loadOrCreateWitnessKey(file);
    expect(a.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = loadOrCreateWitnessKey(file);
    expect(b.created).toBe(false);
    expect(cosignatureV1Signer('n', b.privateKey).vkey).toBe(cosignatureV1Signer('n', a.privateKey).vkey);
    const loose = join(dir, 'loose.key');
    writeFileSync(loose, a.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o644 });
    expect(() => loadOrCreateWitnessKey(loose)).toThrow(/readable by others/);
  });
});
