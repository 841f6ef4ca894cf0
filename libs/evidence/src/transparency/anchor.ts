import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';

/**
 * The latest signed checkpoint, kept outside the database (docs/evidence.md, "Start-up check"):
 * in standalone mode a file next to the SQLite database, `evidence-checkpoint.json` (mode 0600),
 * replaced atomically (written, fsynced, renamed) after each checkpoint commits.
 *
 * A database that lost committed transactions (corrupted WAL frames dropped at recovery, an older
 * copy of the file put back) is consistent with itself and with its own latest checkpoint; the
 * kept checkpoint is what it is compared with at start: a log shorter than the kept checkpoint
 * signs, or the kept checkpoint's row missing, raises an alert. With PostgreSQL the database is
 * another machine's: no file is kept (witnesses and TSA time stamps cover that case).
 */

export interface AnchoredCheckpoint {
  id: number;
  /** The exact signed body (canonical JSON) and its base64 signature, as stored in `checkpoints`. */
  body: string;
  signature: string;
}

export const ANCHOR_FILE = 'evidence-checkpoint.json';

@Injectable()
export class CheckpointAnchor {
  private readonly log = new Logger('CheckpointAnchor');
  /** Where the checkpoint is kept, or undefined when none is (PostgreSQL). */
  readonly path?: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const db = config.database;
    this.path = db.type === 'sqlite' ? join(dirname(db.path), ANCHOR_FILE) : undefined;
  }

  /** The kept checkpoint, undefined when none was kept; a file that does not parse throws. */
  read(): AnchoredCheckpoint | undefined {
    if (!this.path || !existsSync(this.path)) return undefined;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<AnchoredCheckpoint>;
    if (
      !Number.isSafeInteger(parsed.id) ||
      typeof parsed.body !== 'string' ||
      typeof parsed.signature !== 'string'
    ) {
      throw new Error(`${this.path} is not a kept checkpoint`);
    }
    return { id: parsed.id!, body: parsed.body, signature: parsed.signature };
  }

  /** Keeps `c` (after its transaction committed). Failures are logged, never thrown. */
  keep(c: AnchoredCheckpoint): void {
    if (!this.path) return;
    const tmp = `${this.path}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, `${JSON.stringify({ id: c.id, body: c.body, signature: c.signature })}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      const dir = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch (err) {
      this.log.error(`could not keep checkpoint ${c.id} in ${this.path}: ${String(err)}`);
    }
  }
}
