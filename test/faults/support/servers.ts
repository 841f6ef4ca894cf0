/**
 * Private PostgreSQL and Redis servers for the fault suites: each suite that restarts a server
 * starts its own on a spare port (never the machine's shared ones), in a temp directory that is
 * removed afterwards. PostgreSQL refuses to run as root, so as root the binaries run as the
 * `postgres` user (runuser).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort, waitFor } from '../../support/infra.js';

function pgBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL binaries under ${base}`);
  return join(base, versions[0], 'bin');
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function pgUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
function pgCommand(bin: string, args: string[]): { cmd: string; args: string[] } {
  const path = join(pgBinDir(), bin);
  return isRoot() ? { cmd: 'runuser', args: ['-u', 'postgres', '--', path, ...args] } : { cmd: path, args };
}

function pgRun(bin: string, args: string[]): string {
  const c = pgCommand(bin, args);
  return execFileSync(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export interface PrivatePostgres {
  /** Connection URL of the `notices` database. */
  url: string;
  port: number;
  dataDir: string;
  /** Stops the server (fast shutdown: open connections are cut). */
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(downMs?: number): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const root = mkdtempSync(join(tmpdir(), 'cns-fault-pg-'));
  const dataDir = join(root, 'data');
  const sockDir = join(root, 'sock');
  mkdirSync(dataDir);
  mkdirSync(sockDir);
  if (isRoot()) {
    const { uid, gid } = pgUser();
    for (const d of [root, dataDir, sockDir]) chownSync(d, uid, gid);
  }
  chmodSync(root, 0o755);
  chmodSync(dataDir, 0o700);
  pgRun('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '-N']);
  const port = await freePort();
  const logFile = join(root, 'postgres.log');
  const start = async (): Promise<void> => {
    pgRun('pg_ctl', [
      '-D',
      dataDir,
      '-l',
      logFile,
      '-w',
      '-o',
      `-p ${port} -k ${sockDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      'start',
    ]);
    await waitFor(
      'private postgres to accept connections',
      async () => {
        const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
        await c.connect();
        await c.end();
        return true;
      },
      30_000,
      100,
    );
  };
  const stop = async (): Promise<void> => {
    pgRun('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  };
  await start();
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE notices');
  await admin.end();
  let destroyed = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/notices`,
    port,
    dataDir,
    stop,
    start,
    async restart(downMs = 1_000) {
      await stop();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        await stop();
      } catch {
        /* already stopped */
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILL: nothing is saved (the server runs without persistence, so every key is lost). */
  kill(): Promise<void>;
  start(): Promise<void>;
  restart(downMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'cns-fault-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async (): Promise<void> => {
    const c = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    await waitFor(
      'private redis to answer',
      async () => {
        const r = new Redis(port, '127.0.0.1', {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        try {
          await r.connect();
          return (await r.ping()) === 'PONG';
        } finally {
          r.disconnect();
        }
      },
      15_000,
      50,
    );
  };
  const kill = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async restart(downMs = 1_000) {
      await kill();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async destroy() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
