import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestTsa, type TestTsa } from '../../../test/tsa/server.js';
import { generateSigningKeyPair, loadSigningKey, signCheckpoint } from './signing.js';
import {
  buildTimeStampRequest,
  checkTimeStampResponse,
  parseTimeStampResponse,
  requestTimestamp,
  TimeStampError,
} from './tsa.js';

const run = promisify(execFile);

describe('RFC 3161 time stamps', () => {
  let tsa: TestTsa;
  let dir: string;

  beforeAll(async () => {
    tsa = await startTestTsa();
    dir = await mkdtemp(join(tmpdir(), 'tsa-spec-'));
  }, 30_000);

  afterAll(async () => {
    await tsa?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds a TimeStampReq that openssl reads as SHA-256 imprint + nonce + certReq', async () => {
    const data = Buffer.from('checkpoint bytes');
    const req = buildTimeStampRequest(data, { nonce: Buffer.from('0102030405060708', 'hex') });
    await writeFile(join(dir, 'req.tsq'), req.der);
    const { stdout } = await run('openssl', ['ts', '-query', '-in', join(dir, 'req.tsq'), '-text']);
    expect(stdout).toMatch(/Version: 1/);
    expect(stdout).toMatch(/Hash Algorithm: sha256/);
    expect(stdout).toMatch(/Nonce: 0x0102030405060708/);
    expect(stdout).toMatch(/Certificate required: yes/);
    const imprint = createHash('sha256').update(data).digest('hex');
    const asn1 = await run('openssl', ['asn1parse', '-inform', 'DER', '-in', join(dir, 'req.tsq')]);
    expect(asn1.stdout).toMatch(/OBJECT\s+:sha256/);
    expect(asn1.stdout).toContain(`OCTET STRING      [HEX DUMP]:${imprint.toUpperCase()}`);
    expect(req.messageImprint.toString('hex')).toBe(imprint);
  });

  it('encodes a nonce with the high bit set as a positive INTEGER', () => {
    const req = buildTimeStampRequest(Buffer.from('x'), { nonce: Buffer.from('ff01', 'hex') });
    expect(req.der.includes(Buffer.from('020300ff01', 'hex'))).toBe(true);
  });

  it('gets a token for a signed checkpoint that openssl ts -verify accepts', async () => {
    const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    const signed = signCheckpoint(key, { treeSize: 7, rootHash: '12'.repeat(32), createdAt: new Date() });
    const body = Buffer.from(signed.body, 'utf8');
    const before = Date.now();
    const tsr = await requestTimestamp(tsa.url, body);

    const info = parseTimeStampResponse(tsr);
    expect(info.status).toBe(0);
    expect(info.policy).toBe('1.3.6.1.4.1.55555.1.1');
    expect(info.messageImprint).toEqual(createHash('sha256').update(body).digest());
    expect(Math.abs(Date.parse(info.genTime) - before)).toBeLessThan(60_000);
    expect(info.nonce).toBeDefined();

    await writeFile(join(dir, 'checkpoint.json'), body);
    await writeFile(join(dir, 'token.tsr'), tsr);
    const verifyArgs = (data: string): string[] => [
      'ts',
      '-verify',
      '-data',
      join(dir, data),
      '-in',
      join(dir, 'token.tsr'),
      '-CAfile',
      tsa.caPem,
      '-untrusted',
      tsa.tsaPem,
    ];
    const { stdout } = await run('openssl', verifyArgs('checkpoint.json'));
    expect(stdout).toMatch(/Verification: OK/);

    await writeFile(
      join(dir, 'other.json'),
      Buffer.from(signed.body.replace('"treeSize":7', '"treeSize":8')),
    );
    await expect(run('openssl', verifyArgs('other.json'))).rejects.toThrow();
    expect(() => checkTimeStampResponse(tsr, Buffer.from('other'))).toThrow(/imprint does not match/);
  });

  it('rejects a replayed reply whose nonce does not match the request', async () => {
    const data = Buffer.from('replay');
    const first = await requestTimestamp(tsa.url, data);
    const replay: typeof fetch = async () => new Response(new Uint8Array(first), { status: 200 });
    await expect(requestTimestamp(tsa.url, data, { fetch: replay })).rejects.toThrow(/nonce does not match/);
  });

  it('reports HTTP errors and TSA refusals', async () => {
    const teapot: typeof fetch = async () => new Response('no', { status: 503 });
    await expect(requestTimestamp(tsa.url, Buffer.from('x'), { fetch: teapot })).rejects.toThrow(/HTTP 503/);
    // TimeStampResp { status { rejection(2), statusString { "bad alg" } } } without a token.
    const rejected = Buffer.from([
      0x30, 0x0e, 0x30, 0x0c, 0x02, 0x01, 0x02, 0x30, 0x07, 0x0c, 0x05, 0x62, 0x61, 0x64, 0x20, 0x78,
    ]);
    expect(() => parseTimeStampResponse(rejected)).toThrow(TimeStampError);
    expect(() => parseTimeStampResponse(rejected)).toThrow(/rejection \(bad x\)/);
    expect(() => parseTimeStampResponse(Buffer.from('3003020100', 'hex'))).toThrow(/malformed/);
  });
});
