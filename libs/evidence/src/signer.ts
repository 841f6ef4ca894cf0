import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { AppError } from '#libs/core';
import { HsmSignerError, Pkcs11Signer } from './signer-pkcs11.js';
import { generateSigningKeyPair, loadSigningKey, signBytes, type SigningKey } from './signing.js';

/**
 * Who holds the evidence key. Every signature the service makes (checkpoints, signed entry
 * timestamps, bundle manifests) goes through an EvidenceSigner, so the key can live in a file
 * (FileSigner) or in an HSM behind PKCS#11 without the callers knowing which.
 */
export interface EvidenceSigner {
  /** Hex SHA-256 of the DER SubjectPublicKeyInfo. */
  readonly keyId: string;
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo PEM, the form published to verifiers. */
  readonly publicKeyPem: string;
  /** Where the private key lives, for logs and health. */
  readonly backend: 'file' | 'pkcs11';
  /** Raw 64-byte Ed25519 signature over `data`. */
  sign(data: Buffer): Promise<Buffer>;
}

/** A signer over an Ed25519 key held in this process (from env or a 0600 file). */
export class FileSigner implements EvidenceSigner {
  readonly backend = 'file' as const;
  constructor(readonly key: SigningKey) {}
  get keyId(): string {
    return this.key.keyId;
  }
  get publicKey(): KeyObject {
    return this.key.publicKey;
  }
  get publicKeyPem(): string {
    return this.key.publicKeyPem;
  }
  sign(data: Buffer): Promise<Buffer> {
    return Promise.resolve(signBytes(this.key, data));
  }
}

/** The service has no signing key (queue mode without EVIDENCE_SIGNING_KEY[_FILE]). */
export class EvidenceKeyMissingError extends AppError {
  readonly code = 'internal';
  readonly status = 503;
  readonly title = 'Evidence signing key not configured';
}

export interface SigningKeyOptions {
  /** PKCS#8 PEM given directly. */
  pem?: string;
  /** File holding the PKCS#8 PEM. */
  file?: string;
  /** Where to generate a key (mode 0600) when neither is given; without it there is no key. */
  generatedFile?: string;
}

export type SigningKeySource = 'config' | 'file' | 'generated' | 'generated-earlier';

/** Loads the configured key, or generates one into `generatedFile` on first use. */
export function resolveSigningKey(
  opts: SigningKeyOptions,
): { key: SigningKey; source: SigningKeySource; path?: string } | undefined {
  if (opts.pem) return { key: loadSigningKey(opts.pem.replace(/\\n/g, '\n')), source: 'config' };
  if (opts.file) return { key: loadSigningKey(readFileSync(opts.file)), source: 'file', path: opts.file };
  const file = opts.generatedFile;
  if (!file) return undefined;
  if (existsSync(file))
    return { key: loadSigningKey(readFileSync(file)), source: 'generated-earlier', path: file };
  mkdirSync(dirname(file), { recursive: true });
  const pair = generateSigningKeyPair();
  try {
    writeFileSync(file, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process generated it at the same moment: use that one.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      return { key: loadSigningKey(readFileSync(file)), source: 'generated-earlier', path: file };
    }
    throw err;
  }
  chmodSync(file, 0o600);
  return { key: loadSigningKey(pair.privateKeyPem), source: 'generated', path: file };
}

/**
 * A SigningKey view of a token key: id and public key; reading `privateKey` throws, so a path that
 * would sign in memory fails loudly (503) instead of signing with some other key.
 */
function publicOnlyKey(signer: EvidenceSigner): SigningKey {
  const key = { keyId: signer.keyId, publicKey: signer.publicKey, publicKeyPem: signer.publicKeyPem };
  Object.defineProperty(key, 'privateKey', {
    enumerable: false,
    get(): never {
      throw new HsmSignerError(
        `EVIDENCE_SIGNER=${signer.backend}: the evidence private key stays in the token; this operation must sign through EvidenceSigningKeys.signer()`,
      );
    },
  });
  return key as SigningKey;
}

/**
 * The service's Ed25519 evidence key, loaded (or generated) once; with EVIDENCE_SIGNER=pkcs11 a
 * session on the token instead, opened once and closed at shutdown.
 */
@Injectable()
export class EvidenceSigningKeys implements OnApplicationShutdown {
  private readonly log = new Logger('EvidenceKeys');
  private loaded?: { key?: SigningKey };
  private hsm?: Pkcs11Signer;
  private tokenKey?: SigningKey;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /**
   * The key, or undefined when none is configured. Logs its id the first time.
   * With EVIDENCE_SIGNER=pkcs11: opens the token (a bad PIN or label fails at boot) and returns its
   * key id and public key; its `privateKey` throws, since the private key never leaves the token:
   * sign through signer().
   */
  tryGet(): SigningKey | undefined {
    if (this.config.evidence.signer === 'pkcs11') {
      this.tokenKey ??= publicOnlyKey(this.signer());
      return this.tokenKey;
    }
    if (!this.loaded) {
      const e = this.config.evidence;
      const r = resolveSigningKey({
        pem: e.signingKeyPem,
        file: e.signingKeyFile,
        generatedFile: e.generatedKeyFile,
      });
      this.loaded = { key: r?.key };
      if (!r) {
        this.log.warn(
          'no evidence signing key (EVIDENCE_SIGNING_KEY or EVIDENCE_SIGNING_KEY_FILE): checkpoints and bundles are unavailable',
        );
      } else if (r.source === 'generated') {
        this.log.warn(
          `generated the evidence signing key ${r.key.keyId} into ${r.path} (mode 0600): back it up`,
        );
      } else {
        this.log.log(`evidence signing key ${r.key.keyId} (${r.source}${r.path ? `: ${r.path}` : ''})`);
      }
    }
    return this.loaded.key;
  }

  /** The signer every signature goes through (see EvidenceSigner). */
  signer(): EvidenceSigner {
    const e = this.config.evidence;
    if (e.signer !== 'pkcs11') return new FileSigner(this.get());
    if (!this.hsm) {
      if (!e.pkcs11) throw new HsmSignerError('EVIDENCE_SIGNER=pkcs11 without PKCS11_* settings');
      this.hsm = Pkcs11Signer.open(e.pkcs11);
      // Labels and module only: never the PIN.
      this.log.log(
        `evidence signing key ${this.hsm.keyId} (pkcs11: token '${e.pkcs11.tokenLabel}', key '${e.pkcs11.keyLabel}', module ${e.pkcs11.module})`,
      );
    }
    return this.hsm;
  }

  async onApplicationShutdown(): Promise<void> {
    const hsm = this.hsm;
    this.hsm = undefined;
    await hsm?.close();
  }

  get(): SigningKey {
    const key = this.tryGet();
    if (!key) {
      throw new EvidenceKeyMissingError(
        'No evidence signing key is configured: set EVIDENCE_SIGNING_KEY or EVIDENCE_SIGNING_KEY_FILE',
      );
    }
    return key;
  }
}
