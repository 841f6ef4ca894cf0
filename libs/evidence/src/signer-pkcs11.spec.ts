import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createPublicKey, KeyObject, randomBytes, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  createSoftHsmToken,
  SOFTHSM_MODULE as MODULE,
  type SoftHsmToken,
} from '../../../test/support/hsm.js';
import {
  HsmSignerError,
  openPkcs11Modules,
  Pkcs11Signer,
  type Pkcs11SignerOptions,
} from './signer-pkcs11.js';
import { keyIdOf } from './signing.js';

const run = promisify(execFile);
const INIT = resolve('scripts/hsm-init.sh');

// SoftHSM2 from Debian (scripts/install-system-deps.sh); a private token directory per run.
describe('Pkcs11Signer (SoftHSM2)', () => {
  let token: SoftHsmToken;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let scriptPem: string;
  let PIN: string;
  const opts = (): Pkcs11SignerOptions => ({
    module: MODULE,
    tokenLabel: 'evidence-test',
    pin: PIN,
    keyLabel: 'evidence-signing',
  });
  const p11 = (...args: string[]) =>
    run(
      'pkcs11-tool',
      ['--module', MODULE, '--token-label', 'evidence-test', '--login', '--pin', PIN, ...args],
      { env },
    );

  beforeAll(async () => {
    expect(existsSync(MODULE)).toBe(true);
    token = await createSoftHsmToken();
    ({ dir, env, pin: PIN, publicKeyPem: scriptPem } = token);
    // A second key the signer must refuse: it can be exported from the token.
    await p11(
      '--keypairgen',
      '--key-type',
      'EC:edwards25519',
      '--label',
      'extractable',
      '--id',
      '02',
      '--extractable',
    );
  }, 60_000);

  afterAll(async () => {
    expect(openPkcs11Modules().size).toBe(0);
    await token?.remove();
  });

  it('hsm-init.sh is idempotent: a second run keeps the token and the key and prints the same public key', async () => {
    const again = await run(INIT, [], { env });
    expect(again.stdout).toBe(scriptPem);
    expect(again.stderr).toContain("token 'evidence-test' exists");
    expect(again.stderr).toContain("key pair 'evidence-signing' exists");
  });

  it('signs in the token; node:crypto verifies with the exported public key', async () => {
    const signer = Pkcs11Signer.open(opts());
    try {
      expect(signer.backend).toBe('pkcs11');
      expect(signer.publicKey.asymmetricKeyType).toBe('ed25519');
      expect(signer.publicKeyPem).toBe(scriptPem);
      expect(signer.keyId).toBe(keyIdOf(scriptPem));
      const data = Buffer.from('{"rootHash":"00","treeSize":1}');
      const sig = await signer.sign(data);
      expect(sig).toHaveLength(64);
      const pub = createPublicKey(signer.publicKeyPem);
      expect(verify(null, data, pub, sig)).toBe(true);
      expect(verify(null, Buffer.from('{"rootHash":"01","treeSize":1}'), pub, sig)).toBe(false);
      // Ed25519 is deterministic: same bytes, same signature.
      expect((await signer.sign(data)).equals(sig)).toBe(true);
    } finally {
      await signer.close();
    }
  });

  it('serialises concurrent calls on its one session', async () => {
    const signer = Pkcs11Signer.open(opts());
    try {
      const inputs = Array.from({ length: 40 }, (_, i) => randomBytes(16 + i));
      const sigs = await Promise.all(inputs.map((d) => signer.sign(d)));
      inputs.forEach((d, i) => expect(verify(null, d, signer.publicKey, sigs[i])).toBe(true));
    } finally {
      await signer.close();
    }
  });

  it('the private key cannot be read out of the token', async () => {
    // The signer's registry keeps the library loaded; with no signer open it is not initialised,
    // so this test's own handle on it initialises and finalises it alone.
    await Pkcs11Signer.open(opts()).close();
    expect(openPkcs11Modules().size).toBe(0);
    const lib = new pkcs11js.PKCS11();
    lib.load(MODULE);
    lib.C_Initialize();
    try {
      const slot = lib
        .C_GetSlotList(true)
        .find((s) => lib.C_GetTokenInfo(s).label.trim() === 'evidence-test');
      expect(slot).toBeDefined();
      const session = lib.C_OpenSession(slot!, pkcs11js.CKF_SERIAL_SESSION);
      lib.C_Login(session, pkcs11js.CKU_USER, PIN);
      lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_LABEL, value: 'evidence-signing' },
      ]);
      const [key] = lib.C_FindObjects(session, 1);
      lib.C_FindObjectsFinal(session);
      const flags = lib
        .C_GetAttributeValue(session, key, [
          { type: pkcs11js.CKA_SENSITIVE },
          { type: pkcs11js.CKA_EXTRACTABLE },
          { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
        ])
        .map((a) => (a.value as Buffer)[0]);
      expect(flags).toEqual([1, 0, 1]);
      let err: unknown;
      try {
        lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(pkcs11js.Pkcs11Error);
      expect((err as InstanceType<typeof pkcs11js.Pkcs11Error>).code).toBe(pkcs11js.CKR_ATTRIBUTE_SENSITIVE);
      lib.C_CloseSession(session);
    } finally {
      lib.C_Finalize();
      lib.close();
    }
    // The signer holds object handles, never key material.
    const signer = Pkcs11Signer.open(opts());
    try {
      expect(Object.values(signer).filter((v) => v instanceof KeyObject && v.type === 'private')).toEqual([]);
    } finally {
      await signer.close();
    }
  });

  it('refuses a key that is extractable', () => {
    expect(() => Pkcs11Signer.open({ ...opts(), keyLabel: 'extractable' })).toThrow(/can leave the token/);
    expect(openPkcs11Modules().size).toBe(0);
  });

  it('a wrong PIN fails with a clear error that does not contain the PIN', () => {
    let err: unknown;
    try {
      Pkcs11Signer.open({ ...opts(), pin: '999999' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HsmSignerError);
    expect((err as Error).message).toBe("PKCS#11 login to token 'evidence-test' failed: wrong PIN");
    expect((err as Error).message).not.toContain('999999');
    expect(openPkcs11Modules().size).toBe(0);
  });

  it('names an unknown token, an unknown key and a missing module', () => {
    expect(() => Pkcs11Signer.open({ ...opts(), tokenLabel: 'nope' })).toThrow(
      "PKCS#11: no token labelled 'nope'",
    );
    expect(() => Pkcs11Signer.open({ ...opts(), keyLabel: 'nope' })).toThrow(
      "PKCS#11: no private key labelled 'nope'",
    );
    expect(() => Pkcs11Signer.open({ ...opts(), module: join(dir, 'missing.so') })).toThrow(
      /could not be loaded/,
    );
    expect(openPkcs11Modules().size).toBe(0);
  });

  it('initialises the library once per module and finalises it when the last signer closes', async () => {
    const a = Pkcs11Signer.open(opts());
    const b = Pkcs11Signer.open(opts());
    expect(openPkcs11Modules().get(MODULE)).toBe(2);
    const data = Buffer.from('shared library');
    const [sa, sb] = await Promise.all([a.sign(data), b.sign(data)]);
    expect(sa.equals(sb)).toBe(true);
    await a.close();
    await a.close(); // idempotent: does not release twice
    expect(openPkcs11Modules().get(MODULE)).toBe(1);
    expect(verify(null, data, b.publicKey, await b.sign(data))).toBe(true);
    await b.close();
    expect(openPkcs11Modules().size).toBe(0);
    await expect(a.sign(data)).rejects.toThrow('PKCS#11 signer is closed');
    // Finalised and initialised again in the same process.
    const c = Pkcs11Signer.open(opts());
    expect(verify(null, data, c.publicKey, await c.sign(data))).toBe(true);
    await c.close();
  });

  it('close waits for a signature in flight', async () => {
    const signer = Pkcs11Signer.open(opts());
    const pending = signer.sign(Buffer.from('in flight'));
    await signer.close();
    expect(verify(null, Buffer.from('in flight'), signer.publicKey, await pending)).toBe(true);
    expect(openPkcs11Modules().size).toBe(0);
  });
});
