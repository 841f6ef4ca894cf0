/**
 * Checkpoints leave the database (issue 12, item 4): each checkpoint of the evidence log goes to
 * a witness running as its own process, as a C2SP checkpoint note with a consistency proof from
 * the size the witness last cosigned; the cosignature comes back and is stored; the log's
 * consistency proofs verify against the cosigned roots; a witness that was down cosigns the
 * next checkpoint with a proof from what it saw before.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  FileSigner,
  generateSigningKeyPair,
  loadSigningKey,
  logVerifierKey,
  noteVerifier,
  openCheckpoint,
  verifyConsistencyProof,
} from '#libs/evidence';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { phoneFor, smsBody } from './support/fixtures.js';
import { freePort, ROOT, waitFor, waitHttpOk } from './support/infra.js';

const run = promisify(execFile);
const MAIN = join(ROOT, 'dist', 'apps', 'witness', 'src', 'main.js');
const ORIGIN = 'bank.example/evidence-log';
const WITNESS = 'audit.bank.example/witness1';

describe.each(['sqlite', 'postgres'] as const)(
  'checkpoints cosigned by a witness process (%s)',
  (dialect) => {
    const dir = mkdtempSync(join(tmpdir(), 'witness-pub-'));
    const keyPem = generateSigningKeyPair().privateKeyPem;
    const logVkey = logVerifierKey(ORIGIN, new FileSigner(loadSigningKey(keyPem)));
    let witnessVkey = '';
    let witnessUrl = '';
    let witness: ChildProcess | undefined;
    let api: InProcessApp;

    const args = (port: number) => [
      MAIN,
      '--name',
      WITNESS,
      '--key',
      join(dir, 'witness.key'),
      '--data',
      join(dir, 'witness.sqlite'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log',
      `${ORIGIN} ${logVkey}`,
    ];
    let port = 0;
    async function startWitness() {
      witness = spawn(process.execPath, args(port), { cwd: ROOT, stdio: 'ignore' });
      await waitHttpOk(`${witnessUrl}/health`, 30_000);
    }
    async function stopWitness() {
      const c = witness;
      witness = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
    const sendAndDeliver = async (n: number) => {
      const res = await postJson(
        api.baseUrl,
        '/v1/notifications',
        smsBody(`C-wit-${dialect}-${n}`, phoneFor(8_100 + n)),
      );
      expect(res.status).toBe(202);
      await waitFor(
        'delivered',
        async () => {
          const v = (await (
            await fetch(`${api.baseUrl}/v1/notifications/${res.body.id as string}`)
          ).json()) as {
            status: string;
          };
          return v.status === 'delivered' ? v : undefined;
        },
        20_000,
      );
    };
    const checkpoint = async () => {
      const res = await postJson(api.baseUrl, '/v1/evidence/checkpoints', {});
      expect(res.status).toBe(201);
      const id = res.body.id as number;
      const note = await (await fetch(`${api.baseUrl}/v1/evidence/log/checkpoint?checkpoint=${id}`)).text();
      return { id, note };
    };
    const cosigned = (note: string) =>
      openCheckpoint(note, [noteVerifier(logVkey), noteVerifier(witnessVkey)]).note.verified.map(
        (s) => s.name,
      );

    beforeAll(async () => {
      port = await freePort();
      witnessUrl = `http://127.0.0.1:${port}`;
      witnessVkey = (
        await run(process.execPath, [
          MAIN,
          '--print-vkey',
          '--name',
          WITNESS,
          '--key',
          join(dir, 'witness.key'),
        ])
      ).stdout.trim();
      await startWitness();
      api = await startInProcess({
        dialect,
        env: {
          EVIDENCE_SIGNING_KEY: keyPem,
          EVIDENCE_LOG_ORIGIN: ORIGIN,
          WITNESS_URLS: witnessUrl,
          WITNESS_TIMEOUT_MS: '2000',
        },
      });
    }, 60_000);

    afterAll(async () => {
      await api?.close();
      await stopWitness();
      rmSync(dir, { recursive: true, force: true });
    });

    it('publishes the log vkey a witness is configured with', async () => {
      expect((await (await fetch(`${api.baseUrl}/v1/evidence/log/vkey`)).text()).trim()).toBe(logVkey);
    });

    it('the witness cosigns a sequence of checkpoints; consistency proofs join the cosigned roots', async () => {
      await sendAndDeliver(1);
      const first = await checkpoint();
      expect(cosigned(first.note)).toEqual([ORIGIN, WITNESS]);
      await sendAndDeliver(2);
      const second = await checkpoint();
      expect(cosigned(second.note)).toEqual([ORIGIN, WITNESS]);

      const a = openCheckpoint(first.note, [noteVerifier(logVkey)]).checkpoint;
      const b = openCheckpoint(second.note, [noteVerifier(logVkey)]).checkpoint;
      expect(b.size).toBeGreaterThan(a.size);
      const proof = (await (
        await fetch(`${api.baseUrl}/v1/evidence/log/consistency?from=${a.size}&to=${b.size}`)
      ).json()) as {
        proof: string[];
        fromRoot: string;
        toRoot: string;
      };
      expect(proof.fromRoot).toBe(a.root.toString('base64'));
      expect(proof.toRoot).toBe(b.root.toString('base64'));
      const nodes = proof.proof.map((p) => Buffer.from(p, 'base64'));
      expect(verifyConsistencyProof(a.size, b.size, nodes, a.root, b.root)).toBe(true);
      // A proof against another root (a rewritten history) does not verify.
      const other = Buffer.from(a.root);
      other[0] ^= 1;
      expect(verifyConsistencyProof(a.size, b.size, nodes, other, b.root)).toBe(false);
    }, 60_000);

    it('a witness that was down: the checkpoint stands, the error is stored, the next one is cosigned', async () => {
      await stopWitness();
      await sendAndDeliver(3);
      const missed = await checkpoint();
      expect(cosigned(missed.note)).toEqual([ORIGIN]);
      const [row] = await api.db.rows<{ error: string | null }>(
        'SELECT error FROM witness_cosignatures WHERE checkpoint_id = ?',
        [missed.id],
      );
      expect(row.error).toMatch(/network|fetch|ECONNREFUSED/i);
      await startWitness();
      await sendAndDeliver(4);
      const next = await checkpoint();
      expect(cosigned(next.note)).toEqual([ORIGIN, WITNESS]);
      // Nothing of the witness record can be edited or removed.
      await expect(api.db.exec('DELETE FROM witness_cosignatures')).rejects.toThrow(/append-only/);
      await expect(api.db.exec("UPDATE checkpoint_notes SET note = 'x'")).rejects.toThrow(/append-only/);
    }, 90_000);
  },
);
