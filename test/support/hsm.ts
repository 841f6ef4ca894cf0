import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SHARE_ENV, Worker } from 'node:worker_threads';

const run = promisify(execFile);

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/**
 * Sets (or, with undefined, removes) a variable in the real process environment. Jest gives each
 * test file a copy of process.env, so writes there never reach a native library's getenv (SoftHSM
 * reads SOFTHSM2_CONF at C_Initialize); a worker thread with SHARE_ENV writes the real one.
 */
export async function setNativeEnv(name: string, value: string | undefined): Promise<void> {
  const worker = new Worker(
    `const { workerData: w } = require('node:worker_threads');
     if (w.value === undefined) delete process.env[w.name]; else process.env[w.name] = w.value;`,
    { eval: true, env: SHARE_ENV, workerData: { name, value } },
  );
  await new Promise<void>((ok, fail) => {
    worker.once('error', fail);
    worker.once('exit', (code) => (code === 0 ? ok() : fail(new Error(`setNativeEnv exited ${code}`))));
  });
}

export interface SoftHsmToken {
  dir: string;
  /** SoftHSM2 configuration of this token directory (SOFTHSM2_CONF), set in the real env while it lives. */
  conf: string;
  tokenLabel: string;
  keyLabel: string;
  pin: string;
  pinFile: string;
  /** The key pair's public key as printed by scripts/hsm-init.sh. */
  publicKeyPem: string;
  /** Environment for child processes (pkcs11-tool, hsm-init.sh) on this token. */
  env: NodeJS.ProcessEnv;
  remove(): Promise<void>;
}

/** A private SoftHSM2 token directory in a tmp folder, initialised with scripts/hsm-init.sh. */
export async function createSoftHsmToken(
  opts: { tokenLabel?: string; keyLabel?: string; pin?: string } = {},
): Promise<SoftHsmToken> {
  const dir = await mkdtemp(join(tmpdir(), 'softhsm-'));
  await mkdir(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(
    conf,
    `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  const pin = opts.pin ?? '246810';
  const pinFile = join(dir, 'pin');
  await writeFile(pinFile, `${pin}\n`, { mode: 0o600 });
  const tokenLabel = opts.tokenLabel ?? 'evidence-test';
  const keyLabel = opts.keyLabel ?? 'evidence-signing';
  const previous = process.env.SOFTHSM2_CONF;
  await setNativeEnv('SOFTHSM2_CONF', conf);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SOFTHSM2_CONF: conf,
    PKCS11_TOKEN_LABEL: tokenLabel,
    PKCS11_KEY_LABEL: keyLabel,
    PKCS11_PIN_FILE: pinFile,
    PKCS11_SO_PIN: '13579111',
  };
  const { stdout } = await run(resolve('scripts/hsm-init.sh'), [], { env });
  return {
    dir,
    conf,
    tokenLabel,
    keyLabel,
    pin,
    pinFile,
    publicKeyPem: stdout,
    env,
    async remove() {
      await setNativeEnv('SOFTHSM2_CONF', previous);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
