/**
 * Offline verifier for an evidence bundle.
 *
 *   node dist/scripts/evidence-verify.js <bundle.zip> [--public-key service-public-key.pem]
 *        [--tsa-ca tsa-ca.pem] [--trusted-checkpoint checkpoint.note] [--witness-vkey VKEY]... [--json]
 *
 * Exit 0 when the bundle verifies; 1 with the first broken element named; 2 on bad usage.
 * Pass the service's published key with --public-key: without it the bundle's own
 * public-key.pem is used, which proves integrity but not who signed. Pass the TSA's CA certificate
 * with --tsa-ca: without it the time stamp's signature is checked against the TSA certificate the
 * token carries, but not that this certificate belongs to a trusted TSA. Pass a checkpoint note of the
 * global log you kept earlier (from an earlier bundle's log/checkpoint.note, or a witness) with
 * --trusted-checkpoint: the bundle's log must extend it. Pass a witness's verifier key with
 * --witness-vkey to require its cosignature.
 */
import { readFile } from 'node:fs/promises';
import { formatVerification, verifyEvidenceBundle } from '#libs/evidence';

async function main(argv: string[]): Promise<number> {
  let zipPath: string | undefined;
  let publicKeyPath: string | undefined;
  let tsaCaPath: string | undefined;
  let trustedPath: string | undefined;
  const witnessVkeys: string[] = [];
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--public-key') publicKeyPath = argv[++i];
    else if (a === '--tsa-ca') tsaCaPath = argv[++i];
    else if (a === '--trusted-checkpoint') trustedPath = argv[++i];
    else if (a === '--witness-vkey' && argv[i + 1]) witnessVkeys.push(argv[++i]);
    else if (a === '-h' || a === '--help') zipPath = undefined;
    else if (!a.startsWith('-') && zipPath === undefined) zipPath = a;
    else {
      zipPath = undefined;
      break;
    }
  }
  if (
    !zipPath ||
    (argv.includes('--public-key') && !publicKeyPath) ||
    (argv.includes('--tsa-ca') && !tsaCaPath) ||
    (argv.includes('--trusted-checkpoint') && !trustedPath)
  ) {
    process.stderr.write(
      'usage: evidence-verify <bundle.zip> [--public-key public-key.pem] [--tsa-ca tsa-ca.pem] [--trusted-checkpoint checkpoint.note] [--witness-vkey VKEY]... [--json]\n',
    );
    return 2;
  }
  const publicKeyPem = publicKeyPath ? await readFile(publicKeyPath) : undefined;
  const tsaCaPem = tsaCaPath ? await readFile(tsaCaPath) : undefined;
  const trustedCheckpoint = trustedPath ? await readFile(trustedPath) : undefined;
  const result = await verifyEvidenceBundle(zipPath, {
    publicKeyPem,
    tsaCaPem,
    trustedCheckpoint,
    witnessVkeys,
  });
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatVerification(zipPath, result));
  if (!publicKeyPem && !json) {
    process.stderr.write(
      "note: checked against the bundle's own public-key.pem; pass --public-key to pin the service key\n",
    );
  }
  if (result.timestamp && !result.timestamp.chainVerified && !json) {
    process.stderr.write(
      "note: the time stamp's TSA certificate chain was not checked; pass --tsa-ca with the TSA's CA certificate\n",
    );
  }
  if (result.log?.size !== undefined && !result.log.trusted && !json) {
    process.stderr.write(
      'note: history before this bundle was not checked; pass --trusted-checkpoint with a checkpoint note kept earlier\n',
    );
  }
  return result.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`evidence-verify: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
