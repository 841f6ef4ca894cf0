/**
 * The witness process: a plain node:http server for c2sp.org/tlog-witness.
 *
 *   POST /add-checkpoint            cosign a checkpoint that extends the last one cosigned
 *   GET  /<sha256(origin)>/checkpoint   the last cosigned checkpoint of a log (monitoring)
 *   GET  /vkey                      the witness verifier key
 *   GET  /health                    "ok"
 *
 * `--print-vkey` prints the verifier key (creating the key file if needed) and exits.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pino } from 'pino';
import { AppError, PayloadTooLargeError } from '#libs/core';
import { cosignatureV1Signer } from '#libs/evidence';
import { loadOrCreateWitnessKey, loadWitnessConfig, USAGE } from './config.js';
import { openWitnessStore } from './store.js';
import { MAX_REQUEST_BYTES, OldSizeConflictError, Witness } from './witness.js';

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new PayloadTooLargeError(`a request body is at most ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new PayloadTooLargeError(`a request body is at most ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) }).end(body);
}

async function main(): Promise<void> {
  // The witness is its own program (not the service's AppConfig): its flags and environment are
  // read here, once, and parsed by config.ts.
  // eslint-disable-next-line no-restricted-syntax
  const config = loadWitnessConfig(process.argv.slice(2), process.env);
  if (config.help) {
    process.stdout.write(USAGE);
    return;
  }
  const { privateKey, created } = loadOrCreateWitnessKey(config.keyFile);
  const signer = cosignatureV1Signer(config.name, privateKey);
  if (config.printVkey) {
    process.stdout.write(`${signer.vkey}\n`);
    return;
  }
  const log = pino({
    name: 'tlog-witness',
    level: config.logLevel,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
  if (created) log.warn({ keyFile: config.keyFile }, 'created a new witness key');
  const store = openWitnessStore(config.dataFile);
  const witness = new Witness({
    signer,
    logs: config.logs,
    store,
    onRefused: (origin, err, body) => {
      log.warn(
        { origin, status: err.status, reason: err.message },
        'refused a checkpoint signed by a known log',
      );
      store.recordRefusal(origin, err.status, err.message, body);
    },
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handle = async (): Promise<void> => {
      if (path === '/add-checkpoint') {
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          send(res, 405, 'add-checkpoint takes a POST\n');
          return;
        }
        const body = await readBody(req, MAX_REQUEST_BYTES);
        const lines = witness.addCheckpoint(body);
        log.info({ path, status: 200 }, 'cosigned');
        send(res, 200, lines);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'method not allowed\n');
        return;
      }
      const m = /^\/([0-9a-f]{64})\/checkpoint$/.exec(path);
      if (m) {
        const note = witness.latestByOriginHash(m[1]);
        if (note === null) send(res, 404, 'no checkpoint cosigned for this log\n');
        else send(res, 200, note);
        return;
      }
      if (path === '/vkey') return send(res, 200, `${witness.vkey}\n`);
      if (path === '/health') return send(res, 200, 'ok\n');
      send(res, 404, 'not found\n');
    };
    handle().catch((err: unknown) => {
      if (err instanceof OldSizeConflictError) {
        log.info({ path, status: 409, knownSize: err.knownSize }, 'old size mismatch');
        send(res, 409, `${err.knownSize}\n`, 'text/x.tlog.size');
      } else if (err instanceof AppError) {
        log.info({ path, status: err.status, reason: err.message }, 'refused');
        send(res, err.status, `${err.message}\n`);
      } else {
        log.error({ err }, 'internal error');
        send(res, 500, 'internal error\n');
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const addr = server.address();
  log.info(
    {
      vkey: signer.vkey,
      port: typeof addr === 'object' && addr ? addr.port : config.port,
      logs: config.logKeys,
    },
    'witness listening',
  );
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    server.close(() => {
      store.close();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof AppError ? err.message : err);
  process.exit(err instanceof AppError ? 2 : 1);
});
