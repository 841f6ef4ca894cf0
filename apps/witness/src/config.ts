/**
 * The witness configuration, read once at start from command-line flags, falling back to
 * environment variables (a flag wins). See docs/witness.md.
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ValidationError } from '#libs/core';
import {
  generateEd25519Key,
  isValidKeyName,
  noteVerifier,
  parseNoteSigningKey,
  parseVerifierKey,
  SIG_TYPE_ED25519,
} from '#libs/evidence';
import type { KnownLog } from './witness.js';

export interface WitnessConfig {
  host: string;
  port: number;
  dataFile: string;
  keyFile: string;
  name: string;
  logs: KnownLog[];
  /** The vkeys as configured, by origin (for the start-up log line). */
  logKeys: Record<string, string[]>;
  printVkey: boolean;
  help: boolean;
  logLevel: string;
}

export const USAGE = `Usage: node dist/apps/witness/src/main.js [flags]

A C2SP tlog-witness: cosigns a log's checkpoints only when they extend the last one it cosigned.

  --name NAME          witness key name, e.g. audit.bank.example/witness1   (WITNESS_NAME)
  --key FILE           Ed25519 private key (PKCS#8 PEM, or a Go note key); generated 0600 if missing
                       (WITNESS_KEY_FILE, default ./data/witness/witness.key)
  --data FILE          SQLite file with the witness state (WITNESS_DATA_FILE, default ./data/witness/witness.sqlite)
  --host HOST          listen address (WITNESS_HOST, default 127.0.0.1)
  --port PORT          listen port (WITNESS_PORT, default 7380)
  --log ENTRY          a log it witnesses, repeatable: "<vkey>" (origin = key name) or "<origin> <vkey>"
                       (WITNESS_LOGS: entries separated by newlines or ";")
  --logs-file FILE     more log entries, one a line, # comments (WITNESS_LOGS_FILE)
  --log-level LEVEL    pino level (WITNESS_LOG_LEVEL, default info)
  --print-vkey         print the witness verifier key (cosignature/v1) and exit
  --help               this text
`;

function fail(msg: string): never {
  throw new ValidationError(msg);
}

function parseLogEntry(entry: string, into: Map<string, string[]>): void {
  const parts = entry.trim().split(/\s+/);
  if (parts.length === 0 || parts[0] === '') return;
  if (parts.length > 2) fail(`log entry ${JSON.stringify(entry)}: expected "<vkey>" or "<origin> <vkey>"`);
  const vkey = parts[parts.length - 1];
  let key;
  try {
    key = parseVerifierKey(vkey);
  } catch (err) {
    fail(`log entry ${JSON.stringify(entry)}: ${(err as Error).message}`);
  }
  if (key.type !== SIG_TYPE_ED25519)
    fail(`log entry ${JSON.stringify(entry)}: a log key is an Ed25519 note key (type 0x01)`);
  const origin = parts.length === 2 ? parts[0] : key.name;
  const list = into.get(origin) ?? [];
  if (!list.includes(vkey)) list.push(vkey);
  into.set(origin, list);
}

export function loadWitnessConfig(argv: string[], env: NodeJS.ProcessEnv): WitnessConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        name: { type: 'string' },
        key: { type: 'string' },
        data: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        log: { type: 'string', multiple: true },
        'logs-file': { type: 'string' },
        'log-level': { type: 'string' },
        'print-vkey': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  const help = values.help ?? false;
  const printVkey = values['print-vkey'] ?? false;
  const name = values.name ?? env.WITNESS_NAME ?? '';
  if (!help && !isValidKeyName(name)) {
    fail(
      'WITNESS_NAME / --name: a non-empty key name without spaces or "+", e.g. audit.bank.example/witness1',
    );
  }
  const portText = values.port ?? env.WITNESS_PORT ?? '7380';
  const port = Number(portText);
  if (!/^[0-9]+$/.test(portText) || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`WITNESS_PORT / --port: ${JSON.stringify(portText)} is not a port number`);
  }
  const logs = new Map<string, string[]>();
  const envLogs = env.WITNESS_LOGS ?? '';
  for (const e of values.log ?? envLogs.split(/[\n;]/)) parseLogEntry(e, logs);
  const logsFile = values['logs-file'] ?? env.WITNESS_LOGS_FILE;
  if (logsFile) {
    let text: string;
    try {
      text = readFileSync(logsFile, 'utf8');
    } catch (err) {
      fail(`WITNESS_LOGS_FILE / --logs-file: ${(err as Error).message}`);
    }
    for (const line of text.split('\n')) parseLogEntry(line.replace(/#.*$/, ''), logs);
  }
  if (!help && !printVkey && logs.size === 0) {
    fail('no log configured: give --log "<origin> <vkey>" (or WITNESS_LOGS / WITNESS_LOGS_FILE)');
  }
  return {
    host: values.host ?? env.WITNESS_HOST ?? '127.0.0.1',
    port,
    dataFile: resolve(values.data ?? env.WITNESS_DATA_FILE ?? 'data/witness/witness.sqlite'),
    keyFile: resolve(values.key ?? env.WITNESS_KEY_FILE ?? 'data/witness/witness.key'),
    name,
    logs: [...logs].map(([origin, vkeys]) => ({ origin, verifiers: vkeys.map((v) => noteVerifier(v)) })),
    logKeys: Object.fromEntries(logs),
    printVkey,
    help,
    logLevel: values['log-level'] ?? env.WITNESS_LOG_LEVEL ?? 'info',
  };
}

/**
 * Reads the witness private key, or creates it (mode 0600, never overwritten) when the file
 * does not exist. Refuses a key file that others can read.
 */
export function loadOrCreateWitnessKey(file: string): { privateKey: KeyObject; created: boolean } {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const key = generateEd25519Key();
    const pem = key.export({ format: 'pem', type: 'pkcs8' });
    writeFileSync(file, pem, { flag: 'wx', mode: 0o600 });
    chmodSync(file, 0o600);
    return { privateKey: key, created: true };
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    fail(`witness key ${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
  }
  const text = readFileSync(file, 'utf8').trim();
  if (text.startsWith('PRIVATE+KEY+'))
    return { privateKey: parseNoteSigningKey(text).privateKey, created: false };
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (err) {
    fail(`witness key ${file}: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') fail(`witness key ${file} is not an Ed25519 key`);
  return { privateKey: key, created: false };
}
