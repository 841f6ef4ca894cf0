/**
 * A small pool of worker threads for verifying the stored global log (piscina): recomputing leaf
 * hashes and checking SET signatures spread over the machine's cores while the calling thread
 * reads the next pages and builds the tree. Without the compiled worker file (the TypeScript
 * sources under Jest before `npm run build`), or with `threads: 0`, the same functions run inline.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import {
  checkLeafPage,
  checkSetPage,
  type LeafPage,
  type LeafPageResult,
  type SetKey,
  type SetPage,
} from './verify-work.js';

export type VerifyTask =
  { kind: 'leaves'; page: LeafPage } | { kind: 'sets'; page: SetPage; key: SetKey; skipKeyIds: string[] };

export type VerifyTaskResult =
  ({ kind: 'leaves' } & LeafPageResult) | { kind: 'sets'; bad: { id: number; detail: string }[] };

/** The compiled worker next to this module in dist/, or from the build when running from sources. */
export function verifyWorkerFile(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, 'verify-worker.js');
  if (existsSync(sibling)) return sibling;
  const built = join(resolve(here, '../../../..'), 'dist/libs/evidence/src/log/verify-worker.js');
  return existsSync(built) ? built : undefined;
}

export interface VerifyPoolOptions {
  /** Worker threads (default: the machine's cores); 0 runs every page inline. */
  threads?: number;
  /** Idle workers exit after this (default 10 s): the check runs at start and before checkpoints. */
  idleTimeoutMs?: number;
}

export class LogVerifyPool {
  private readonly pool?: Piscina<VerifyTask, VerifyTaskResult>;
  readonly threads: number;

  constructor(opts: VerifyPoolOptions = {}) {
    const wanted = opts.threads ?? availableParallelism();
    const file = wanted > 0 ? verifyWorkerFile() : undefined;
    this.threads = file ? wanted : 0;
    if (file) {
      this.pool = new Piscina<VerifyTask, VerifyTaskResult>({
        filename: file,
        minThreads: 0,
        maxThreads: wanted,
        idleTimeout: opts.idleTimeoutMs ?? 10_000,
        // Pages wait in the queue, never on a worker: the caller bounds what is in flight.
        concurrentTasksPerWorker: 1,
      });
    }
  }

  async leaves(page: LeafPage): Promise<LeafPageResult> {
    if (!this.pool) return checkLeafPage(page);
    const r = await this.pool.run({ kind: 'leaves', page });
    if (r.kind !== 'leaves') throw new Error('verify pool: unexpected answer');
    // Structured clone hands back a Uint8Array; the tree wants Buffers.
    return { ...r, packed: Buffer.from(r.packed.buffer, r.packed.byteOffset, r.packed.byteLength) };
  }

  async sets(page: SetPage, key: SetKey, skipKeyIds: string[]): Promise<{ id: number; detail: string }[]> {
    if (!this.pool) return checkSetPage(page, key, skipKeyIds).bad;
    const r = await this.pool.run({ kind: 'sets', page, key, skipKeyIds });
    if (r.kind !== 'sets') throw new Error('verify pool: unexpected answer');
    return r.bad;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
