import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { startTestTsa, type TestTsa } from '../../../test/tsa/server.js';
import { generateSigningKeyPair, loadSigningKey, signCheckpoint } from './signing.js';
import {
  buildTimeStampRequest,
  checkTimeStampResponse,
  parseTimeStampResponse,
  requestTimestamp,
  TimeStampError,
  type TimeStampFailure,
  verifyTimeStampToken,
} from './tsa.js';

const run = promisify(execFile);

describe('RFC 3161 time stamps', () => {
  let tsa: TestTsa;
  /** A second TSA with its own throw-away CA (same names, other keys): not trusted here. */
  let rogue: TestTsa;
  let dir: string;
  let caPem: string;

  beforeAll(async () => {
    [tsa, rogue] = await Promise.all([startTestTsa(), startTestTsa()]);
    dir = await mkdtemp(join(tmpdir(), 'tsa-spec-'));
    caPem = await readFile(tsa.caPem, 'utf8');
  }, 30_000);

  afterAll(async () => {
    await tsa?.close();
    await rogue?.close();
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
    await expectFailure(verifyTimeStampToken(rejected, Buffer.from('x'), { trustedCerts: caPem }), 'status');
    expect(() => parseTimeStampResponse(Buffer.from('3003020100', 'hex'))).toThrow(/malformed/);
  });

  describe('verifyTimeStampToken (PKI.js: signature, chain, imprint)', () => {
    const data = Buffer.from('checkpoint body to stamp');
    let token: Buffer;

    beforeAll(async () => {
      token = await requestTimestamp(tsa.url, data);
    }, 30_000);

    it('accepts a good token and names the TSA certificate', async () => {
      const v = await verifyTimeStampToken(token, data, { trustedCerts: caPem });
      expect(v.chainVerified).toBe(true);
      expect(v.policy).toBe('1.3.6.1.4.1.55555.1.1');
      expect(v.tsaCertificate.subject).toBe('CN=Evidence Test TSA');
      expect(v.tsaCertificate.issuer).toBe('CN=Evidence Test CA (not trusted)');
      expect(v.serial).toMatch(/^[0-9a-f]+$/);
      expect(Math.abs(Date.parse(v.genTime) - Date.now())).toBeLessThan(60_000);
      // The CA as a DER trust anchor.
      const caDer = Buffer.from(caPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
      await expect(verifyTimeStampToken(token, data, { trustedCerts: caDer })).resolves.toMatchObject({
        chainVerified: true,
      });
    });

    it('fails imprint for a token over other data', async () => {
      await expectFailure(
        verifyTimeStampToken(token, Buffer.from('other data'), { trustedCerts: caPem }),
        'imprint',
      );
    });

    it('fails nonce when the nonce is not the one sent', async () => {
      const sent = parseTimeStampResponse(token).nonce!;
      await expect(
        verifyTimeStampToken(token, data, { trustedCerts: caPem, nonce: sent }),
      ).resolves.toBeDefined();
      const other = Buffer.from(sent);
      other[other.length - 1] ^= 1;
      await expectFailure(verifyTimeStampToken(token, data, { trustedCerts: caPem, nonce: other }), 'nonce');
    });

    it('fails signature when the signature bytes are flipped', async () => {
      const sig = signerInfoOf(token).signature.valueBlock.valueHexView;
      const at = token.indexOf(Buffer.from(sig));
      expect(at).toBeGreaterThan(0);
      const bad = Buffer.from(token);
      bad[at + sig.length - 1] ^= 0x01; // last byte of ECDSA s: still DER, wrong value
      await expectFailure(verifyTimeStampToken(bad, data, { trustedCerts: caPem }), 'signature');
      // The same token is still fine: the flip, not the verifier, made it fail.
      await expect(verifyTimeStampToken(token, data, { trustedCerts: caPem })).resolves.toBeDefined();
    });

    it('fails signature when the signed TSTInfo is altered (genTime moved)', async () => {
      const info = parseTimeStampResponse(token);
      const stamp = info.genTime.replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
      const at = token.indexOf(Buffer.from(stamp, 'latin1'));
      expect(at).toBeGreaterThan(0);
      const bad = Buffer.from(token);
      bad[at + 3] = bad[at + 3] === 0x39 ? 0x38 : bad[at + 3] + 1; // another year
      await expectFailure(verifyTimeStampToken(bad, data, { trustedCerts: caPem }), 'signature');
    });

    it('fails chain for a token from a TSA of another (untrusted) CA', async () => {
      const rogueToken = await requestTimestamp(rogue.url, data);
      // Correct for its own CA: only the trust anchor differs.
      const rogueCa = await readFile(rogue.caPem, 'utf8');
      await expect(verifyTimeStampToken(rogueToken, data, { trustedCerts: rogueCa })).resolves.toBeDefined();
      await expectFailure(verifyTimeStampToken(rogueToken, data, { trustedCerts: caPem }), 'chain');
      // Without a trust anchor nothing chains.
      await expectFailure(verifyTimeStampToken(token, data, { trustedCerts: [] }), 'chain');
    });

    it('fails chain when the certificates are not valid at the checked instant', async () => {
      await expectFailure(
        verifyTimeStampToken(token, data, { trustedCerts: caPem, at: new Date('2100-01-01T00:00:00Z') }),
        'chain',
      );
    });

    it('checks all but the chain with checkChain false, and says so', async () => {
      const rogueToken = await requestTimestamp(rogue.url, data);
      const v = await verifyTimeStampToken(rogueToken, data, { trustedCerts: [], checkChain: false });
      expect(v.chainVerified).toBe(false);
      expect(v.tsaCertificate.subject).toBe('CN=Evidence Test TSA');
    });

    it('fails chain for a certificate of the trusted CA whose timeStamping EKU is not critical', async () => {
      // openssl ts -reply refuses such a signer, so the token is signed with openssl cms (CAdES
      // signingCertificateV2 included) over the TSTInfo of a real token.
      const tst = tstInfoOf(token);
      const tstFile = join(dir, 'tst.der');
      await writeFile(tstFile, tst);
      const signWith = async (cert: string, key: string, cades = true): Promise<Buffer> => {
        const out = join(dir, 'cms.der');
        await run('openssl', [
          'cms',
          '-sign',
          '-binary',
          '-nodetach',
          '-in',
          tstFile,
          '-outform',
          'DER',
          '-out',
          out,
          '-econtent_type',
          '1.2.840.113549.1.9.16.1.4',
          '-signer',
          cert,
          '-inkey',
          key,
          '-md',
          'sha256',
          ...(cades ? ['-cades'] : []),
        ]);
        const resp = new pkijs.TimeStampResp({
          status: new pkijs.PKIStatusInfo({ status: 0 }),
          timeStampToken: pkijs.ContentInfo.fromBER(new Uint8Array(await readFile(out))),
        });
        return Buffer.from(resp.toSchema().toBER(false));
      };
      // Control: the real TSA certificate, signed this way, verifies.
      const control = await signWith(tsa.tsaPem, join(tsa.dir, 'tsa.key'));
      await expect(verifyTimeStampToken(control, data, { trustedCerts: caPem })).resolves.toMatchObject({
        chainVerified: true,
      });
      // Without the ESS signing-certificate attribute the signer is not bound: signature.
      const noEss = await signWith(tsa.tsaPem, join(tsa.dir, 'tsa.key'), false);
      await expect(verifyTimeStampToken(noEss, data, { trustedCerts: caPem })).rejects.toThrow(/ESS/);
      await expectFailure(verifyTimeStampToken(noEss, data, { trustedCerts: caPem }), 'signature');
      await writeFile(
        join(dir, 'noncrit.cnf'),
        'basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = timeStamping\n' +
          'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n',
      );
      const leafKey = join(dir, 'leaf.key');
      const leafPem = join(dir, 'leaf.pem');
      await run('openssl', [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        leafKey,
        '-out',
        join(dir, 'leaf.csr'),
        '-subj',
        '/CN=Evidence Test TSA',
      ]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        join(dir, 'leaf.csr'),
        '-CA',
        tsa.caPem,
        '-CAkey',
        join(tsa.dir, 'ca.key'),
        '-set_serial',
        '3',
        '-days',
        '30',
        '-extfile',
        join(dir, 'noncrit.cnf'),
        '-out',
        leafPem,
      ]);
      const bad = await signWith(leafPem, leafKey);
      await expect(verifyTimeStampToken(bad, data, { trustedCerts: caPem })).rejects.toThrow(
        /critical extendedKeyUsage/,
      );
      await expectFailure(verifyTimeStampToken(bad, data, { trustedCerts: caPem }), 'chain');
    }, 30_000);

    it('fails status for a rejection from the TSA (unsupported digest)', async () => {
      await writeFile(join(dir, 'sha1.txt'), data);
      await run('openssl', [
        'ts',
        '-query',
        '-data',
        join(dir, 'sha1.txt'),
        '-sha1',
        '-cert',
        '-out',
        join(dir, 'sha1.tsq'),
      ]);
      const reply = await postQuery(tsa.url, await readFile(join(dir, 'sha1.tsq')));
      await expectFailure(verifyTimeStampToken(reply, data, { trustedCerts: caPem }), 'status');
      await expect(verifyTimeStampToken(reply, data, { trustedCerts: caPem })).rejects.toThrow(/rejection/);
    });

    it('fails algorithm for a granted token whose imprint is not SHA-256', async () => {
      await writeFile(join(dir, 'sha384.txt'), data);
      await run('openssl', [
        'ts',
        '-query',
        '-data',
        join(dir, 'sha384.txt'),
        '-sha384',
        '-cert',
        '-out',
        join(dir, 'sha384.tsq'),
      ]);
      const reply = await postQuery(tsa.url, await readFile(join(dir, 'sha384.tsq')));
      expect(parseTimeStampResponse(reply).status).toBe(0);
      await expectFailure(verifyTimeStampToken(reply, data, { trustedCerts: caPem }), 'algorithm');
    });

    it('requestTimestamp with trustedCerts verifies the reply before returning it', async () => {
      await expect(requestTimestamp(tsa.url, data, { trustedCerts: caPem })).resolves.toBeInstanceOf(Buffer);
      await expect(requestTimestamp(rogue.url, data, { trustedCerts: caPem })).rejects.toMatchObject({
        reason: 'chain',
      });
    });
  });
});

async function expectFailure(p: Promise<unknown>, reason: TimeStampFailure): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TimeStampError);
  expect((err as TimeStampError).reason).toBe(reason);
}

async function postQuery(url: string, query: Buffer): Promise<Buffer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/timestamp-query' },
    body: new Uint8Array(query) as Uint8Array<ArrayBuffer>,
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

function signerInfoOf(tsr: Buffer): pkijs.SignerInfo {
  const resp = pkijs.TimeStampResp.fromBER(new Uint8Array(tsr));
  const signed = new pkijs.SignedData({ schema: resp.timeStampToken!.content as asn1js.Sequence });
  return signed.signerInfos[0];
}

function tstInfoOf(tsr: Buffer): Buffer {
  const resp = pkijs.TimeStampResp.fromBER(new Uint8Array(tsr));
  const signed = new pkijs.SignedData({ schema: resp.timeStampToken!.content as asn1js.Sequence });
  return Buffer.from(signed.encapContentInfo.eContent!.getValue());
}
