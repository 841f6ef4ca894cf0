import { createHash } from 'node:crypto';
import type { Request } from 'express';
import busboy from 'busboy';

/** What a POST to the verification page carried. */
export type VerifyInput =
  | { kind: 'file'; sha256: string; bytes: number }
  | { kind: 'hash'; text: string }
  | { kind: 'none' }
  | { kind: 'too_large' }
  | { kind: 'unsupported' };

const RAW_TYPES = new Set(['application/pdf', 'application/octet-stream']);

function hashField(body: unknown): string | undefined {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const v = (body as Record<string, unknown>).sha256;
    if (typeof v === 'string') return v;
  }
  return undefined;
}

/** Hashes a raw body as it streams, at most `max` bytes (the bytes themselves are not kept). */
function rawBody(req: Request, max: number): Promise<VerifyInput> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 0;
    let done = false;
    const finish = (v: VerifyInput) => {
      if (done) return;
      done = true;
      resolve(v);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        req.pause();
        finish({ kind: 'too_large' });
        return;
      }
      h.update(chunk);
    });
    req.on('end', () =>
      finish(size === 0 ? { kind: 'none' } : { kind: 'file', sha256: h.digest('hex'), bytes: size }),
    );
    req.on('error', (err) => (done ? undefined : reject(err)));
  });
}

/** One file (`file`, any field name) and/or a `sha256` field from multipart/form-data. */
function multipart(req: Request, max: number): Promise<VerifyInput> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { files: 1, fileSize: max, fields: 4, fieldSize: 1024, parts: 6 },
      });
    } catch {
      resolve({ kind: 'unsupported' });
      return;
    }
    let file: VerifyInput | undefined;
    let hash: string | undefined;
    let tooLarge = false;
    bb.on('file', (_name, stream) => {
      const h = createHash('sha256');
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        h.update(chunk);
      });
      stream.on('limit', () => {
        // Stop reading here: the answer is 413 whatever follows (the connection is closed after it).
        tooLarge = true;
        req.unpipe(bb);
        req.pause();
        resolve({ kind: 'too_large' });
      });
      stream.on('end', () => {
        if (!tooLarge && size > 0) file = { kind: 'file', sha256: h.digest('hex'), bytes: size };
      });
    });
    bb.on('field', (name, value) => {
      if (name === 'sha256' && value.trim()) hash = value;
    });
    bb.on('close', () => {
      if (tooLarge) resolve({ kind: 'too_large' });
      else if (file) resolve(file);
      else if (hash !== undefined) resolve({ kind: 'hash', text: hash });
      else resolve({ kind: 'none' });
    });
    bb.on('error', (err: Error) => reject(err));
    req.pipe(bb);
  });
}

/**
 * Reads the POST body: a raw `application/pdf` (or octet-stream) body, a multipart form with the
 * file or a `sha256` field, or a `sha256` field of a URL-encoded or JSON body (those two were
 * parsed by the app's body parsers). At most `max` bytes of file are read.
 */
export async function readVerifyInput(req: Request, max: number): Promise<VerifyInput> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (RAW_TYPES.has(type) || type === 'multipart/form-data') {
    // A declared length over the cap (plus room for the multipart envelope) is refused unread.
    if (Number.isFinite(declared) && declared > max + 64 * 1024) return { kind: 'too_large' };
    return type === 'multipart/form-data' ? multipart(req, max) : rawBody(req, max);
  }
  if (type === 'application/x-www-form-urlencoded' || type === 'application/json') {
    const v = hashField(req.body);
    return v === undefined || !v.trim() ? { kind: 'none' } : { kind: 'hash', text: v };
  }
  if (type === '' && (!Number.isFinite(declared) || declared === 0)) return { kind: 'none' };
  return { kind: 'unsupported' };
}
