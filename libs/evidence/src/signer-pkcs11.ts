import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { AppError } from '#libs/core';
import type { EvidenceSigner } from './signer.js';
import { keyIdOf } from './signing.js';

/**
 * An EvidenceSigner whose Ed25519 private key never leaves a PKCS#11 token (an HSM, or SoftHSM2
 * in tests). Mechanism CKM_EDDSA (PKCS#11 3.0; SoftHSM 2.6 has it), which gives the same raw
 * 64-byte signature as node:crypto, so nothing downstream changes.
 *
 * One session per signer, calls serialised (a PKCS#11 session must not run two operations at
 * once), and the library's C_Initialize / C_Finalize reference-counted per module path: several
 * signers (several apps in one test process) share one initialised library, and the last close
 * finalises it exactly once.
 */

// PKCS#11 3.0 constants pkcs11js 2.x does not export.
const CKK_EC_EDWARDS = 0x40;
const CKM_EDDSA = 0x1057;
/** SPKI DER prefix of an Ed25519 public key (RFC 8410): SEQUENCE { AlgorithmIdentifier 1.3.101.112, BIT STRING }. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** CKA_EC_PARAMS of Ed25519: the OID 1.3.101.112, or the curve name as a PrintableString (SoftHSM, OpenSC). */
const ED25519_PARAMS = [
  Buffer.from('06032b6570', 'hex'),
  Buffer.concat([Buffer.from([0x13, 12]), Buffer.from('edwards25519')]),
];

export interface Pkcs11SignerOptions {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  tokenLabel: string;
  pin: string;
  /** CKA_LABEL of the private key and of its public key. */
  keyLabel: string;
}

/** The HSM cannot be used: unknown token or key, wrong PIN, wrong key type, library missing. */
export class HsmSignerError extends AppError {
  readonly code = 'internal';
  readonly status = 503;
  readonly title = 'Evidence signing key (HSM) unavailable';
}

// ---- one loaded library per module path, initialised while signers use it ----

interface LoadedModule {
  lib: pkcs11js.PKCS11;
  /** Open signers; C_Initialize when it goes 0 -> 1, C_Finalize when it goes back to 0. */
  refs: number;
  /** False when something else in the process had initialised it: then we never finalise it. */
  ownsInit: boolean;
}

/**
 * Libraries stay loaded (dlopen) for the life of the process and are never dlclose'd: unloading
 * SoftHSM2 (and other modules linking OpenSSL) and loading it again crashed the process later
 * (seen as a segfault in a following test file). Only initialisation is reference-counted.
 */
const modules = new Map<string, LoadedModule>();

function acquireModule(path: string): pkcs11js.PKCS11 {
  let loaded = modules.get(path);
  if (!loaded) {
    const lib = new pkcs11js.PKCS11();
    try {
      lib.load(path);
    } catch (err) {
      throw new HsmSignerError(`PKCS#11 module ${path} could not be loaded: ${messageOf(err)}`);
    }
    loaded = { lib, refs: 0, ownsInit: false };
    modules.set(path, loaded);
  }
  if (loaded.refs === 0) {
    try {
      loaded.lib.C_Initialize();
      loaded.ownsInit = true;
    } catch (err) {
      if (codeOf(err) !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw new HsmSignerError(`PKCS#11 C_Initialize of ${path} failed: ${messageOf(err)}`);
      }
      loaded.ownsInit = false;
    }
  }
  loaded.refs += 1;
  return loaded.lib;
}

function releaseModule(path: string): void {
  const loaded = modules.get(path);
  if (!loaded || loaded.refs === 0) return;
  loaded.refs -= 1;
  if (loaded.refs === 0 && loaded.ownsInit) {
    loaded.ownsInit = false;
    loaded.lib.C_Finalize();
  }
}

/** How many signers hold each initialised module (tests check that close releases everything). */
export function openPkcs11Modules(): ReadonlyMap<string, number> {
  return new Map([...modules].filter(([, m]) => m.refs > 0).map(([path, m]) => [path, m.refs]));
}

// ---- the signer ----

export class Pkcs11Signer implements EvidenceSigner {
  readonly backend = 'pkcs11' as const;
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly lib: pkcs11js.PKCS11,
    private readonly modulePath: string,
    private readonly session: Buffer,
    private readonly keyHandle: Buffer,
    publicKey: KeyObject,
  ) {
    this.publicKey = publicKey;
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.keyId = keyIdOf(publicKey);
  }

  /**
   * Opens the token, logs in and finds the key pair. Synchronous (pkcs11js calls are), so it
   * can run at boot. Checks the private key is sensitive and not extractable, and that it signs
   * for the public key it is published with.
   */
  static open(opts: Pkcs11SignerOptions): Pkcs11Signer {
    const lib = acquireModule(opts.module);
    let session: Buffer | undefined;
    try {
      const slot = findSlot(lib, opts.tokenLabel);
      session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, opts.pin);
      } catch (err) {
        const code = codeOf(err);
        if (code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
          const why =
            code === pkcs11js.CKR_PIN_INCORRECT
              ? 'wrong PIN'
              : code === pkcs11js.CKR_PIN_LOCKED
                ? 'PIN locked'
                : messageOf(err);
          throw new HsmSignerError(`PKCS#11 login to token '${opts.tokenLabel}' failed: ${why}`);
        }
      }
      const privateKey = findKey(lib, session, pkcs11js.CKO_PRIVATE_KEY, opts.keyLabel);
      const publicHandle = findKey(lib, session, pkcs11js.CKO_PUBLIC_KEY, opts.keyLabel);
      checkPrivateKey(lib, session, privateKey, opts.keyLabel);
      const publicKey = publicKeyOf(lib, session, publicHandle, opts.keyLabel);
      const probe = Buffer.from(`evidence signer self-check ${opts.keyLabel}`);
      lib.C_SignInit(session, { mechanism: CKM_EDDSA }, privateKey);
      const sig = lib.C_Sign(session, probe, Buffer.alloc(64));
      if (!verify(null, probe, publicKey, sig)) {
        throw new HsmSignerError(
          `PKCS#11 key '${opts.keyLabel}': the private key does not match the public key of that label`,
        );
      }
      return new Pkcs11Signer(lib, opts.module, session, privateKey, publicKey);
    } catch (err) {
      if (session) {
        try {
          lib.C_CloseSession(session);
        } catch {
          /* the error below is the one that matters */
        }
      }
      releaseModule(opts.module);
      if (err instanceof HsmSignerError) throw err;
      throw new HsmSignerError(`PKCS#11 token '${opts.tokenLabel}': ${messageOf(err)}`);
    }
  }

  /** Raw 64-byte Ed25519 signature over `data`, made in the token. Calls run one at a time. */
  sign(data: Buffer): Promise<Buffer> {
    // Checked at the call: a signature asked for before close() still runs (close waits for it).
    if (this.closed) return Promise.reject(new HsmSignerError('PKCS#11 signer is closed'));
    const run = this.tail.then(async () => {
      this.lib.C_SignInit(this.session, { mechanism: CKM_EDDSA }, this.keyHandle);
      return Buffer.from(await this.lib.C_SignAsync(this.session, data, Buffer.alloc(64)));
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Waits for pending signatures and closes the session; the last signer finalises the library. */
  async close(): Promise<void> {
    if (this.closed) return;
    const pending = this.tail;
    this.closed = true;
    await pending;
    // No C_Logout: the login belongs to the token, not to this session, and would log out the
    // other signers on it; closing the token's last session (or C_Finalize) ends it.
    try {
      this.lib.C_CloseSession(this.session);
    } finally {
      releaseModule(this.modulePath);
    }
  }
}

function findSlot(lib: pkcs11js.PKCS11, label: string): Buffer {
  for (const slot of lib.C_GetSlotList(true)) {
    if (lib.C_GetTokenInfo(slot).label.trim() === label) return slot;
  }
  throw new HsmSignerError(`PKCS#11: no token labelled '${label}'`);
}

function findKey(lib: pkcs11js.PKCS11, session: Buffer, cls: number, label: string): Buffer {
  lib.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  let found: Buffer[];
  try {
    found = lib.C_FindObjects(session, 2);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
  const what = cls === pkcs11js.CKO_PRIVATE_KEY ? 'private' : 'public';
  if (found.length === 0) throw new HsmSignerError(`PKCS#11: no ${what} key labelled '${label}'`);
  if (found.length > 1) throw new HsmSignerError(`PKCS#11: several ${what} keys labelled '${label}'`);
  return found[0];
}

function attrs(lib: pkcs11js.PKCS11, session: Buffer, key: Buffer, types: number[]): Buffer[] {
  return lib
    .C_GetAttributeValue(
      session,
      key,
      types.map((type) => ({ type })),
    )
    .map((a) => (Buffer.isBuffer(a.value) ? a.value : Buffer.alloc(0)));
}

const isTrue = (b: Buffer) => b.length > 0 && b[0] !== 0;

function checkPrivateKey(lib: pkcs11js.PKCS11, session: Buffer, key: Buffer, label: string): void {
  const [type, sensitive, extractable] = attrs(lib, session, key, [
    pkcs11js.CKA_KEY_TYPE,
    pkcs11js.CKA_SENSITIVE,
    pkcs11js.CKA_EXTRACTABLE,
  ]);
  if (type.readUIntLE(0, Math.min(type.length, 6)) !== CKK_EC_EDWARDS) {
    throw new HsmSignerError(`PKCS#11 key '${label}' is not an Ed25519 (CKK_EC_EDWARDS) key`);
  }
  if (!isTrue(sensitive) || isTrue(extractable)) {
    throw new HsmSignerError(
      `PKCS#11 key '${label}' can leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true): generate it non-extractable`,
    );
  }
}

function publicKeyOf(lib: pkcs11js.PKCS11, session: Buffer, key: Buffer, label: string): KeyObject {
  const [params, point] = attrs(lib, session, key, [pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_EC_POINT]);
  if (!ED25519_PARAMS.some((p) => p.equals(params))) {
    throw new HsmSignerError(
      `PKCS#11 key '${label}' is not on Ed25519 (CKA_EC_PARAMS ${params.toString('hex')})`,
    );
  }
  // CKA_EC_POINT is the DER OCTET STRING of the 32-byte key (some tokens give the raw 32 bytes).
  const raw = point.length === 34 && point[0] === 0x04 && point[1] === 32 ? point.subarray(2) : point;
  if (raw.length !== 32)
    throw new HsmSignerError(`PKCS#11 key '${label}': unexpected CKA_EC_POINT length ${point.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function codeOf(err: unknown): number | undefined {
  return err instanceof pkcs11js.Pkcs11Error ? err.code : undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof pkcs11js.Pkcs11Error) return `${err.message} (${err.method || 'PKCS#11'})`;
  return err instanceof Error ? err.message : String(err);
}
