import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import {
  cosignatureTimestamp,
  ed25519NoteSigner,
  formatNote,
  generateEd25519Key,
  merkleLeafHash,
  MerkleLevels,
  noteVerifier,
  openCheckpoint,
  parseNote,
  parseSignatureLines,
  signCheckpointNote,
} from '#libs/evidence';
import { freePort, OUTPUT, ROOT, waitHttpOk } from './support/infra.js';

/**
 * Acceptance (issue 12, item 4): a witness process on its own port cosigns a sequence of
 * checkpoints and refuses one that rewrites history; after a restart it still remembers.
 */
const MAIN = join(ROOT, 'dist', 'apps', 'witness', 'src', 'main.js');
const ORIGIN = 'bank.example/evidence-log';
const WITNESS_NAME = 'audit.bank.example/witness1';
const SECOND = 'bank.example/second-log';

const run = promisify(execFile);

describe('tlog witness (separate process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'witness-e2e-'));
  const keyFile = join(dir, 'keys', 'witness.key');
  const dataFile = join(dir, 'state', 'witness.sqlite');
  const logSigner = ed25519NoteSigner(ORIGIN, generateEd25519Key());
  const strangerSigner = ed25519NoteSigner(ORIGIN, generateEd25519Key());
  // Configured by vkey alone: its origin is its key name.
  const secondSigner = ed25519NoteSigner(SECOND, generateEd25519Key());
  let port = 0;
  let base = '';
  let child: ChildProcess | undefined;
  let witnessVkey = '';

  // The honest log, and a fork that shares only its first 30 leaves.
  const leaf = (tag: string, i: number): Buffer => merkleLeafHash(Buffer.from(`${tag} event ${i}`));
  const honest = MerkleLevels.fromLeafHashes(Array.from({ length: 80 }, (_, i) => leaf('honest', i)));
  const fork = MerkleLevels.fromLeafHashes(
    Array.from({ length: 80 }, (_, i) => (i < 30 ? leaf('honest', i) : leaf('rewritten', i))),
  );
  const checkpoint = (tree: MerkleLevels, size: number, signer = logSigner): string =>
    signCheckpointNote({ origin: ORIGIN, size, root: tree.root(size), extensions: [] }, [signer]);
  const body = (oldSize: number, proof: Buffer[], note: string): string =>
    `old ${oldSize}\n${proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${note}`;

  async function post(text: string): Promise<{ status: number; type: string; text: string }> {
    const res = await fetch(`${base}/add-checkpoint`, { method: 'POST', body: text });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  function args(): string[] {
    return [
      MAIN,
      '--name',
      WITNESS_NAME,
      '--key',
      keyFile,
      '--data',
      dataFile,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log',
      `${ORIGIN} ${logSigner.vkey}`,
      '--log',
      secondSigner.vkey,
    ];
  }

  async function start(): Promise<void> {
    mkdirSync(OUTPUT, { recursive: true });
    const out = createWriteStream(join(OUTPUT, 'witness.log'), { flags: 'a' });
    const c = spawn(process.execPath, args(), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.stdout.pipe(out);
    c.stderr.pipe(out);
    child = c;
    await waitHttpOk(`${base}/health`, 30_000);
  }

  async function stop(): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    await exited;
  }

  beforeAll(async () => {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // The CLI creates the key (0600) on first use and prints the cosignature vkey.
    const printed = await run(
      process.execPath,
      [MAIN, '--print-vkey', '--name', WITNESS_NAME, '--key', keyFile],
      {
        cwd: ROOT,
      },
    );
    witnessVkey = printed.stdout.trim();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    await start();
  }, 60_000);

  afterAll(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a cosignature/v1 vkey for its name, the same on every run and over HTTP', async () => {
    expect(witnessVkey).toMatch(/^audit\.bank\.example\/witness1\+[0-9a-f]{8}\+B[A-Za-z0-9+/]{43}$/);
    const again = await run(process.execPath, [
      MAIN,
      '--print-vkey',
      '--name',
      WITNESS_NAME,
      '--key',
      keyFile,
    ]);
    expect(again.stdout.trim()).toBe(witnessVkey);
    expect((await (await fetch(`${base}/vkey`)).text()).trim()).toBe(witnessVkey);
  });

  const cosigned: Record<number, string> = {};

  it('cosigns three growing checkpoints, each with a valid consistency proof', async () => {
    const before = Math.floor(Date.now() / 1000);
    let old = 0;
    for (const size of [5, 12, 40]) {
      const note = checkpoint(honest, size);
      const proof = old === 0 ? [] : honest.consistencyProof(old, size);
      const res = await post(body(old, proof, note));
      expect(res.status).toBe(200);
      const lines = parseSignatureLines(res.text);
      expect(lines).toHaveLength(1);
      expect(lines[0].name).toBe(WITNESS_NAME);
      const ts = cosignatureTimestamp(lines[0].signature)!;
      expect(ts).toBeGreaterThanOrEqual(before - 1);
      expect(ts).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
      // The client appends the lines to the checkpoint and verifies with both keys.
      const full = note + res.text;
      const opened = openCheckpoint(full, [noteVerifier(logSigner.vkey), noteVerifier(witnessVkey)]);
      expect(opened.note.verified.map((s) => s.name).sort()).toEqual([ORIGIN, WITNESS_NAME].sort());
      expect(opened.checkpoint.size).toBe(size);
      // The witness key alone verifies it too (the log signature is then an ignored one).
      expect(openCheckpoint(full, [noteVerifier(witnessVkey)]).note.unverified).toHaveLength(1);
      cosigned[size] = full;
      old = size;
    }
  });

  it('serves the last cosigned checkpoint on the monitoring path', async () => {
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256').update(ORIGIN).digest('hex');
    const res = await fetch(`${base}/${hash}/checkpoint`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const opened = openCheckpoint(text, [noteVerifier(logSigner.vkey), noteVerifier(witnessVkey)]);
    expect(opened.checkpoint.size).toBe(40);
    expect(opened.note.verified).toHaveLength(2);
    expect((await fetch(`${base}/${'0'.repeat(64)}/checkpoint`)).status).toBe(404);
  });

  it('refuses a checkpoint that rewrites history, with a forged proof, as 422', async () => {
    // The log (its key is genuine) signs a size-50 tree that rewrote leaves 30..39, and sends the
    // fork's own proof from 40: it holds for the fork's root at 40, not for the one cosigned.
    const forged = fork.consistencyProof(40, 50);
    const res = await post(body(40, forged, checkpoint(fork, 50)));
    expect(res.status).toBe(422);
    // Nor can it pass with the honest proof nodes.
    expect((await post(body(40, honest.consistencyProof(40, 50), checkpoint(fork, 50)))).status).toBe(422);
    // Same size, other root.
    expect((await post(body(40, [], checkpoint(fork, 40)))).status).toBe(422);
  });

  it('on a fresh log: a proof from 0 must be empty, a size-0 checkpoint carries the empty root', async () => {
    const cp = (size: number, root: Buffer): string =>
      signCheckpointNote({ origin: SECOND, size, root, extensions: [] }, [secondSigner]);
    expect((await post(body(0, [honest.root(1)], cp(3, honest.root(3))))).status).toBe(422);
    expect((await post(body(0, [], cp(0, honest.root(3))))).status).toBe(422);
    expect((await post(body(0, [], cp(0, honest.root(0))))).status).toBe(200);
    expect((await post(body(0, [], cp(3, honest.root(3))))).status).toBe(200);
  });

  it('answers a stale old size with 409 and the size it knows', async () => {
    const res = await post(body(12, honest.consistencyProof(12, 45), checkpoint(honest, 45)));
    expect(res.status).toBe(409);
    expect(res.type).toBe('text/x.tlog.size');
    expect(res.text).toBe('40\n');
    const zero = await post(body(0, [], checkpoint(honest, 45)));
    expect(zero.status).toBe(409);
    expect(zero.text).toBe('40\n');
  });

  it('refuses unknown origins (404), foreign signatures (403) and malformed bodies (400)', async () => {
    const other = signCheckpointNote(
      { origin: 'other.example/log', size: 1, root: honest.root(1), extensions: [] },
      [logSigner],
    );
    expect((await post(body(0, [], other))).status).toBe(404);
    // Signed with another key under the log's name: an unknown signature, none known -> 403.
    expect(
      (await post(body(40, honest.consistencyProof(40, 45), checkpoint(honest, 45, strangerSigner)))).status,
    ).toBe(403);
    // A known key's signature over other text -> 403.
    const sig45 = parseNote(checkpoint(honest, 45)).signatures;
    const tamperedNote = formatNote({ text: parseNote(checkpoint(honest, 46)).text, signatures: sig45 });
    expect((await post(body(40, honest.consistencyProof(40, 46), tamperedNote))).status).toBe(403);
    expect((await post('old 40\n' + checkpoint(honest, 45))).status).toBe(400);
    expect((await post(body(41, [], checkpoint(honest, 40)))).status).toBe(400);
    expect((await post(`old 04\n\n${checkpoint(honest, 45)}`)).status).toBe(400);
    expect((await post(`old 40\nnot base64!\n\n${checkpoint(honest, 45)}`)).status).toBe(400);
    expect((await fetch(`${base}/add-checkpoint`)).status).toBe(405);
  });

  it('remembers its state across a restart and keeps cosigning the honest log only', async () => {
    await stop();
    await start();
    const stale = await post(body(0, [], checkpoint(honest, 45)));
    expect(stale.status).toBe(409);
    expect(stale.text).toBe('40\n');
    expect((await post(body(40, fork.consistencyProof(40, 60), checkpoint(fork, 60)))).status).toBe(422);
    const note = checkpoint(honest, 60);
    const res = await post(body(40, honest.consistencyProof(40, 60), note));
    expect(res.status).toBe(200);
    expect(openCheckpoint(note + res.text, [noteVerifier(witnessVkey)]).checkpoint.size).toBe(60);
    // Re-submitting the same checkpoint is cosigned again (same size, same root).
    expect((await post(body(60, [], note))).status).toBe(200);
  }, 60_000);

  it('kept the refused rewrites, signed by the log, as evidence in its own SQLite file', async () => {
    await stop();
    const db = new Database(dataFile, { readonly: true });
    const rows = db.prepare('SELECT status, body FROM witness_refusals ORDER BY id').all() as {
      status: number;
      body: string;
    }[];
    const state = db.prepare('SELECT size FROM witness_checkpoints WHERE origin = ?').get(ORIGIN) as {
      size: number;
    };
    db.close();
    expect(state.size).toBe(60);
    expect(rows.filter((r) => r.status === 422).length).toBeGreaterThanOrEqual(4);
    expect(rows.some((r) => r.body.includes(fork.root(50).toString('base64')))).toBe(true);
    expect(Object.keys(cosigned)).toEqual(['5', '12', '40']);
  });
});
