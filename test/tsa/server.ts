import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * A local RFC 3161 time-stamp authority for tests: a throw-away CA + TSA certificate made by
 * make-test-tsa.sh, and an HTTP server on 127.0.0.1 that answers `application/timestamp-query`
 * by running `openssl ts -reply`. Nothing here is trusted outside tests.
 */

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

export interface TestTsa {
  url: string;
  dir: string;
  /** Test CA certificate (PEM file path): `openssl ts -verify -CAfile`. */
  caPem: string;
  /** TSA certificate (PEM file path): `openssl ts -verify -untrusted`. */
  tsaPem: string;
  /** Queries answered so far. */
  readonly served: number;
  close(): Promise<void>;
}

export async function createTestTsaFiles(
  dir: string,
): Promise<{ caPem: string; tsaPem: string; config: string }> {
  await run('bash', [join(here, 'make-test-tsa.sh'), dir]);
  return { caPem: join(dir, 'ca.pem'), tsaPem: join(dir, 'tsa.pem'), config: join(dir, 'tsa.cnf') };
}

export async function startTestTsa(options: { dir?: string } = {}): Promise<TestTsa> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'test-tsa-')));
  const files = await createTestTsaFiles(dir);
  let served = 0;
  let counter = 0;
  // `openssl ts -reply` bumps a serial file: answer one query at a time.
  let queue: Promise<unknown> = Promise.resolve();

  const answer = async (query: Buffer): Promise<Buffer> => {
    const n = ++counter;
    const q = join(dir, `q${n}.tsq`);
    const r = join(dir, `r${n}.tsr`);
    await writeFile(q, query);
    try {
      await run('openssl', ['ts', '-reply', '-config', files.config, '-queryfile', q, '-out', r]);
      return await readFile(r);
    } finally {
      await rm(q, { force: true });
      await rm(r, { force: true });
    }
  };

  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query') {
      res.writeHead(415, { 'content-type': 'text/plain' }).end('expected POST application/timestamp-query\n');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const job = queue.then(() => answer(Buffer.concat(chunks)));
      queue = job.catch(() => undefined);
      job.then(
        (reply) => {
          served++;
          res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(reply);
        },
        (err: Error) => {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/tsa`,
    dir,
    caPem: files.caPem,
    tsaPem: files.tsaPem,
    get served() {
      return served;
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
