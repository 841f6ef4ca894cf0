import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  generateSigningKeyPair,
  keyIdOf,
  loadPublicKey,
  loadSigningKey,
  signBytes,
  signCheckpoint,
  verifyBytes,
  verifyCheckpointBytes,
  verifySignedCheckpoint,
} from './signing.js';

const run = promisify(execFile);

async function opensslVerify(dir: string, pubPem: string, data: Buffer, sig: Buffer): Promise<boolean> {
  await writeFile(join(dir, 'pub.pem'), pubPem);
  await writeFile(join(dir, 'data'), data);
  await writeFile(join(dir, 'data.sig'), sig);
  try {
    const { stdout } = await run('openssl', [
      'pkeyutl',
      '-verify',
      '-pubin',
      '-inkey',
      join(dir, 'pub.pem'),
      '-rawin',
      '-in',
      join(dir, 'data'),
      '-sigfile',
      join(dir, 'data.sig'),
    ]);
    return /Signature Verified Successfully/.test(stdout);
  } catch {
    return false;
  }
}

describe('Ed25519 signing', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'signing-spec-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates PKCS#8/SPKI PEM keys that load back with the same key id', () => {
    const pair = generateSigningKeyPair();
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(pair.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const key = loadSigningKey(pair.privateKeyPem);
    expect(key.publicKeyPem).toBe(pair.publicKeyPem);
    expect(key.keyId).toBe(pair.keyId);
    expect(pair.keyId).toMatch(/^[0-9a-f]{64}$/);
    // keyId = SHA-256 of the DER SPKI (the PEM body).
    const der = Buffer.from(pair.publicKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(pair.keyId).toBe(createHash('sha256').update(der).digest('hex'));
  });

  it('refuses non-Ed25519 keys', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => loadSigningKey(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(
      /Ed25519/,
    );
    expect(() => loadPublicKey(ec.publicKey.export({ type: 'spki', format: 'pem' }).toString())).toThrow(
      /Ed25519/,
    );
  });

  it('signatures verify in node and fail for other data or another key', () => {
    const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    const other = generateSigningKeyPair();
    const data = Buffer.from('collection notice evidence');
    const sig = signBytes(key, data);
    expect(sig).toHaveLength(64);
    expect(verifyBytes(key.publicKeyPem, data, sig)).toBe(true);
    expect(verifyBytes(key.publicKeyPem, Buffer.from('collection notice evidencE'), sig)).toBe(false);
    expect(verifyBytes(other.publicKeyPem, data, sig)).toBe(false);
    expect(verifyBytes(key.publicKey, data, sig.subarray(0, 63))).toBe(false);
  });

  it('a signed checkpoint is canonical JSON of exactly the five fields', () => {
    const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    const signed = signCheckpoint(key, {
      treeSize: 3,
      rootHash: 'ab'.repeat(32),
      createdAt: new Date('2026-03-01T08:00:00.000Z'),
    });
    expect(signed.body).toBe(
      `{"createdAt":"2026-03-01T08:00:00.000Z","keyId":"${key.keyId}","rootHash":"${'ab'.repeat(32)}","treeSize":3,"version":1}`,
    );
    expect(Buffer.from(signed.signature, 'base64')).toHaveLength(64);
    expect(verifySignedCheckpoint(signed, key.publicKeyPem)).toEqual({
      ok: true,
      checkpoint: signed.checkpoint,
    });
  });

  it('checkpoint verification fails on a changed field, non-canonical bytes or a wrong key', () => {
    const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    const signed = signCheckpoint(key, {
      treeSize: 5,
      rootHash: 'cd'.repeat(32),
      createdAt: '2026-03-01T08:00:00.000Z',
    });
    const sig = Buffer.from(signed.signature, 'base64');
    const tampered = Buffer.from(signed.body.replace('"treeSize":5', '"treeSize":6'));
    expect(verifyCheckpointBytes(tampered, sig, key.publicKey)).toEqual({
      ok: false,
      detail: 'checkpoint signature does not verify',
    });
    const spaced = Buffer.from(signed.body.replace(',', ', '));
    expect(verifyCheckpointBytes(spaced, sig, key.publicKey)).toMatchObject({
      ok: false,
      detail: /canonical/,
    });
    const other = generateSigningKeyPair();
    expect(verifySignedCheckpoint(signed, other.publicKeyPem)).toMatchObject({
      ok: false,
      detail: /names key/,
    });
    expect(
      verifySignedCheckpoint({ ...signed, checkpoint: { ...signed.checkpoint, treeSize: 9 } }, key.publicKey),
    ).toMatchObject({ ok: false });
    expect(() => signCheckpoint(key, { treeSize: 1, rootHash: 'XY', createdAt: new Date() })).toThrow(
      /rootHash/,
    );
  });

  it('openssl pkeyutl -verify -rawin accepts the checkpoint signature with the SPKI PEM, and rejects a change', async () => {
    const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    const signed = signCheckpoint(key, { treeSize: 42, rootHash: 'ef'.repeat(32), createdAt: new Date(0) });
    const body = Buffer.from(signed.body, 'utf8');
    const sig = Buffer.from(signed.signature, 'base64');
    expect(await opensslVerify(dir, key.publicKeyPem, body, sig)).toBe(true);
    expect(
      await opensslVerify(dir, key.publicKeyPem, Buffer.from(signed.body.replace('42', '43')), sig),
    ).toBe(false);
    expect(await opensslVerify(dir, generateSigningKeyPair().publicKeyPem, body, sig)).toBe(false);
    // And the other way round: openssl's DER of our PEM hashes to our key id.
    await writeFile(join(dir, 'pub.pem'), key.publicKeyPem);
    const { stdout } = await run(
      'openssl',
      ['pkey', '-pubin', '-in', join(dir, 'pub.pem'), '-outform', 'DER'],
      {
        encoding: 'buffer',
      },
    );
    expect(createHash('sha256').update(stdout).digest('hex')).toBe(keyIdOf(key.publicKeyPem));
  });
});
