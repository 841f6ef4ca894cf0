/**
 * Checkpoints leave the database (issue 12, item 4): each checkpoint of the evidence log goes to
 * a witness running as its own process, as a C2SP checkpoint note with a consistency proof from
 * the size the witness last cosigned; the cosignature comes back and is stored; the log's
 * consistency proofs verify against the cosigned roots; a witness that was down cosigns the
 * next checkpoint with a proof from what it saw before.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  chainEvents,
  FileSigner,
  generateSigningKeyPair,
  loadSigningKey,
  logVerifierKey,
  noteVerifier,
  openCheckpoint,
  signLogCheckpoint,
  verifyConsistencyProof,
  verifyEvidenceBundle,
} from '#libs/evidence';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { AUTH_HEADER, phoneFor, smsBody } from './support/fixtures.js';
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

    const bundle = async (caseId: string) => {
      const res = await fetch(`${api.baseUrl}/v1/cases/${caseId}/evidence.zip`, { headers: AUTH_HEADER });
      expect(res.status).toBe(200);
      const file = join(dir, `${caseId}-${Date.now()}.zip`);
      writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      return file;
    };

    it('a bundle proves its events are in the cosigned log and that the log extends a kept checkpoint', async () => {
      const kept = (await checkpoint()).note; // what a verifier kept, e.g. from an earlier bundle
      await sendAndDeliver(5);
      const file = await bundle(`C-wit-${dialect}-5`);
      const v = await verifyEvidenceBundle(file, { trustedCheckpoint: kept, witnessVkeys: [witnessVkey] });
      expect(v.firstError).toBeUndefined();
      expect(v.log).toMatchObject({ origin: ORIGIN, signedBy: [ORIGIN, WITNESS], trusted: { ok: true } });
      expect(v.checks.filter((c) => c.element.startsWith('log/')).every((c) => c.ok)).toBe(true);
      // A checkpoint of a history the log no longer extends (what a rewrite leaves a verifier with).
      const old = openCheckpoint(kept, [noteVerifier(logVkey)]).checkpoint;
      const otherRoot = Buffer.from(old.root);
      otherRoot[5] ^= 0x40;
      const rewritten = await signLogCheckpoint(
        new FileSigner(loadSigningKey(keyPem)),
        ORIGIN,
        old.size,
        otherRoot,
      );
      const bad = await verifyEvidenceBundle(file, { trustedCheckpoint: rewritten });
      expect(bad.ok).toBe(false);
      expect(bad.firstError).toMatchObject({
        element: 'trusted-checkpoint',
        detail: expect.stringMatching(/inconsistent|rewritten/),
      });
      // A witness whose key is required but who did not cosign.
      const stranger = (
        await run(process.execPath, [
          MAIN,
          '--print-vkey',
          '--name',
          'other.example/w',
          '--key',
          join(dir, 'other.key'),
        ])
      ).stdout.trim();
      const unsigned = await verifyEvidenceBundle(file, { witnessVkeys: [stranger] });
      expect(unsigned.firstError).toMatchObject({
        element: 'log/checkpoint.note',
        detail: expect.stringMatching(/other\.example\/w/),
      });
    }, 60_000);

    it('an event a DB operator appended without the key is named as forged by the offline verifier', async () => {
      const caseId = `C-wit-${dialect}-5`;
      const [last] = await api.db.rows<{ seq: number | string; hash: string }>(
        'SELECT seq, hash FROM evidence_events WHERE case_id = ? ORDER BY seq DESC LIMIT 1',
        [caseId],
      );
      const { events, head } = chainEvents({ seq: Number(last.seq), hash: last.hash }, [
        {
          caseId,
          notificationId: null,
          type: 'receipt.received',
          occurredAt: '2026-11-24T03:00:00.000Z',
          recordedAt: '2026-11-24T03:00:00.000Z',
          payload: { provider: 'sandbox', status: 'delivered', forged: true },
        },
      ]);
      const e = events[0];
      await api.db.exec(
        'INSERT INTO evidence_events (case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          e.caseId,
          e.seq,
          null,
          e.type,
          e.occurredAt,
          e.recordedAt,
          JSON.stringify(e.payload),
          e.prevHash,
          e.hash,
        ],
      );
      // As a superuser would: past the forward-only trigger.
      if (dialect === 'postgres')
        await api.db.exec('ALTER TABLE case_heads DISABLE TRIGGER case_heads_forward');
      const [trigger] =
        dialect === 'sqlite'
          ? await api.db.rows<{ sql: string }>(
              "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'case_heads_forward'",
            )
          : [];
      if (dialect === 'sqlite') await api.db.exec('DROP TRIGGER case_heads_forward');
      await api.db.exec('UPDATE case_heads SET last_seq = ?, last_hash = ? WHERE case_id = ?', [
        head.seq,
        head.hash,
        caseId,
      ]);
      if (dialect === 'postgres')
        await api.db.exec('ALTER TABLE case_heads ENABLE TRIGGER case_heads_forward');
      else await api.db.exec(trigger.sql);
      const v = await verifyEvidenceBundle(await bundle(caseId));
      expect(v.ok).toBe(false);
      expect(v.firstError).toMatchObject({
        element: `events.jsonl#seq=${e.seq}`,
        detail: expect.stringMatching(/forged/),
      });
    }, 60_000);

    it('a database that lost history (an older backup, lost WAL frames) is caught by the witness', async () => {
      // The same service (key, origin, witness) on a database that holds less than the witness cosigned.
      const restored = await startInProcess({
        dialect,
        env: {
          EVIDENCE_SIGNING_KEY: keyPem,
          EVIDENCE_LOG_ORIGIN: ORIGIN,
          WITNESS_URLS: witnessUrl,
          WITNESS_TIMEOUT_MS: '2000',
        },
      });
      try {
        const res = await postJson(
          restored.baseUrl,
          '/v1/notifications',
          smsBody(`C-wit-${dialect}-r`, phoneFor(8_190)),
        );
        expect(res.status).toBe(202);
        const made = await postJson(restored.baseUrl, '/v1/evidence/checkpoints', {});
        expect(made.status).toBe(201);
        const [row] = await restored.db.rows<{ error: string | null }>(
          'SELECT error FROM witness_cosignatures WHERE checkpoint_id = ?',
          [made.body.id],
        );
        expect(row.error).toMatch(/^409: witness knows \d+ > \d+ leaves/);
        const alerts = await restored.db.rows<{ kind: string; detail: string }>(
          'SELECT kind, detail FROM evidence_alerts WHERE acked_at IS NULL',
        );
        expect(alerts).toEqual([
          expect.objectContaining({
            kind: 'witness_ahead',
            detail: expect.stringMatching(/lost or rolled back/),
          }),
        ]);
        const ready = await fetch(`${restored.baseUrl}/health/ready`);
        expect(ready.status).toBe(503);
        expect((await postJson(restored.baseUrl, '/v1/evidence/checkpoints', {})).status).toBe(409);
      } finally {
        await restored.close();
      }
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
