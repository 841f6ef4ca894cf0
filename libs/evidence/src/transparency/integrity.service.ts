import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppError, CLOCK, type Clock, NotFoundError } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import { MerkleTree } from '../merkle.js';
import { EvidenceSigningKeys } from '../signer.js';
import { verifyCheckpointBytes } from '../signing.js';
import { eventLeafHash, LEGACY_SET_KEY, type SetEntry, setBody } from './set.js';

/**
 * The global evidence log and its integrity check (docs/evidence.md, "Transparency log").
 *
 * The log's leaves are evidence events in integration order: the checkpoint writer (one per
 * cluster, under the checkpoint lock) appends every event not yet in the log, ordered by id, in
 * the transaction that signs the checkpoint. So every leaf is covered by a signed checkpoint,
 * and the latest checkpoint signs the whole log.
 *
 * The check recomputes each leaf from its event row and the latest checkpoint's root from the
 * stored leaves. A mismatch is written to `evidence_alerts` (once per distinct finding), logged,
 * shown in /health/ready and /metrics, and blocks checkpoints and bundles until acknowledged.
 */

export type AlertKind =
  | 'event_missing'
  | 'leaf_mismatch'
  | 'log_gap'
  | 'log_truncated'
  | 'log_mismatch'
  | 'checkpoint_missing'
  | 'checkpoint_signature'
  /** A witness cosigned more of this log than is stored: history was lost or rolled back. */
  | 'witness_ahead'
  /** A witness refused the log as inconsistent with what it cosigned: history was rewritten. */
  | 'witness_refused';

export interface IntegrityFinding {
  kind: AlertKind;
  detail: string;
}

export interface EvidenceAlert {
  id: number;
  createdAt: string;
  kind: AlertKind;
  detail: string;
  acknowledged: { at: string; by: string } | null;
}

/** An unacknowledged evidence integrity alert blocks the operation. */
export class EvidenceIntegrityError extends AppError {
  readonly code = 'conflict';
  readonly status = 409;
  readonly title = 'Evidence integrity alert not acknowledged';
}

interface AlertRow {
  id: number | string;
  created_at: number | string;
  kind: string;
  detail: string;
  acked_at: number | string | null;
  acked_by: string | null;
}

interface LeafCheckRow {
  idx: number | string;
  event_id: number | string;
  case_id: string;
  seq: number | string;
  leaf_hash: string;
  e_case: string | null;
  e_seq: number | string | null;
  e_hash: string | null;
}

function toAlert(r: AlertRow): EvidenceAlert {
  return {
    id: Number(r.id),
    createdAt: new Date(Number(r.created_at)).toISOString(),
    kind: r.kind as AlertKind,
    detail: r.detail,
    acknowledged:
      r.acked_at === null ? null : { at: new Date(Number(r.acked_at)).toISOString(), by: r.acked_by ?? '' },
  };
}

export function fingerprintOf(f: IntegrityFinding): string {
  return createHash('sha256').update(`${f.kind}\n${f.detail}`).digest('hex');
}

/** Root of the first `size` leaves of the log (hex leaf hashes in idx order). */
export function prefixRoot(leafHashes: readonly string[], size: number): string {
  return MerkleTree.fromLeafHashes(leafHashes.slice(0, size).map((h) => Buffer.from(h, 'hex')))
    .root()
    .toString('hex');
}

/**
 * Whether the stored log extends checkpoint `id` (size, root): its first `logSize` leaves must
 * rebuild the signed root. Null when it does.
 */
export function consistencyFinding(
  id: number,
  logSize: number,
  logRoot: string,
  leaves: readonly string[],
): IntegrityFinding | null {
  if (leaves.length < logSize) {
    return {
      kind: 'log_truncated',
      detail: `checkpoint ${id} signs ${logSize} log leaves, ${leaves.length} are stored: the log was truncated`,
    };
  }
  if (prefixRoot(leaves, logSize) !== logRoot) {
    return {
      kind: 'log_mismatch',
      detail: `checkpoint ${id}: the first ${logSize} stored log leaves do not rebuild its signed root ${logRoot}`,
    };
  }
  return null;
}

@Injectable()
export class EvidenceIntegrity implements OnApplicationBootstrap {
  private readonly log = new Logger('EvidenceIntegrity');
  /** Open (unacknowledged) alerts, as last read; for gauges that must not query on every scrape. */
  openCount = 0;

  constructor(
    private readonly db: Db,
    private readonly keys: EvidenceSigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The start-up check. Failures of the check itself are logged, never fatal. */
  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.adoptLegacy();
      await this.run();
    } catch (err) {
      this.log.error(`evidence integrity check failed to run: ${String(err)}`);
    }
  }

  /**
   * Signs, once, the events appended before SETs existed (the migration's `legacy` row and its
   * per-case ranges): one SET over those case heads, with `adopts` and `prefix`, so their chains
   * verify. Needs the key; returns the new SET's id, or null when there is nothing to adopt.
   */
  async adoptLegacy(): Promise<number | null> {
    const key = this.keys.tryGet();
    if (!key) return null;
    const [legacy] = await this.db.rows<{ id: number | string }>(
      'SELECT id FROM evidence_sets WHERE key_id = ? ORDER BY id LIMIT 1',
      [LEGACY_SET_KEY],
    );
    if (!legacy) return null;
    const [done] = await this.db.rows<{ id: number | string }>(
      `SELECT id FROM evidence_sets WHERE body LIKE '{"adopts":%' LIMIT 1`,
    );
    if (done) return null;
    const heads = await this.db.rows<{ case_id: string; to_seq: number | string; hash: string }>(
      `SELECT c.case_id, c.to_seq, e.hash FROM evidence_set_cases c
       JOIN evidence_events e ON e.case_id = c.case_id AND e.seq = c.to_seq
       WHERE c.set_id = ? ORDER BY c.case_id`,
      [legacy.id],
    );
    const entries: SetEntry[] = heads.map((h) => [h.case_id, Number(h.to_seq), h.hash]);
    const now = this.clock.now();
    const body = setBody({ time: now.toISOString(), keyId: key.keyId, entries, adopts: Number(legacy.id) });
    const signature = (await this.keys.signer().sign(Buffer.from(body, 'utf8'))).toString('base64');
    const [row] = await this.db.rows<{ id: number | string }>(
      'INSERT INTO evidence_sets (created_at, key_id, body, signature) VALUES (?, ?, ?, ?) RETURNING id',
      [now.getTime(), key.keyId, body, signature],
    );
    this.log.warn(
      `signed SET ${Number(row.id)} adopting the ${entries.length} case chains appended before signed entry timestamps`,
    );
    return Number(row.id);
  }

  /** Runs the check, records new findings as alerts, returns the open alerts. */
  async run(): Promise<EvidenceAlert[]> {
    const findings = await this.check();
    await this.record(findings);
    return this.openAlerts();
  }

  /**
   * Appends every evidence event not yet in the log, ordered by id. Call inside the checkpoint
   * writer's transaction (under its lock). Returns the new log size.
   */
  async integrate(tx: SqlRunner): Promise<number> {
    const [size] = await tx.rows<{ n: number | string | null }>(
      'SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM log_leaves',
    );
    let next = Number(size?.n ?? 0);
    const fresh = await tx.rows<{ id: number | string; case_id: string; seq: number | string; hash: string }>(
      `SELECT e.id, e.case_id, e.seq, e.hash FROM evidence_events e
       WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.event_id = e.id) ORDER BY e.id`,
    );
    for (let i = 0; i < fresh.length; i += 500) {
      const part = fresh.slice(i, i + 500);
      const values: unknown[] = [];
      for (const e of part) {
        const seq = Number(e.seq);
        values.push(next++, e.id, e.case_id, seq, eventLeafHash({ caseId: e.case_id, seq, hash: e.hash }));
      }
      await tx.exec(
        `INSERT INTO log_leaves (idx, event_id, case_id, seq, leaf_hash) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
        values,
      );
    }
    return next;
  }

  /** Stored leaf hashes in idx order. */
  async leafHashes(runner: SqlRunner = this.db): Promise<string[]> {
    const rows = await runner.rows<{ leaf_hash: string }>('SELECT leaf_hash FROM log_leaves ORDER BY idx');
    return rows.map((r) => r.leaf_hash);
  }

  /**
   * Recomputes the log from the stored events and compares it with the latest signed checkpoint.
   * Returns the first finding of each kind (empty when the log is intact).
   */
  async check(runner: SqlRunner = this.db): Promise<IntegrityFinding[]> {
    const found = new Map<AlertKind, IntegrityFinding>();
    const counts = new Map<AlertKind, number>();
    const add = (kind: AlertKind, detail: string) => {
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      if (!found.has(kind)) found.set(kind, { kind, detail });
    };
    const rows = await runner.rows<LeafCheckRow>(
      `SELECT l.idx, l.event_id, l.case_id, l.seq, l.leaf_hash, e.case_id AS e_case, e.seq AS e_seq, e.hash AS e_hash
       FROM log_leaves l LEFT JOIN evidence_events e ON e.id = l.event_id ORDER BY l.idx`,
    );
    const leaves: string[] = [];
    for (const r of rows) {
      const idx = Number(r.idx);
      const where = `log leaf ${idx} (case ${r.case_id} seq ${Number(r.seq)}, event row ${Number(r.event_id)})`;
      if (idx !== leaves.length)
        add('log_gap', `log leaf ${leaves.length} is missing (next stored leaf is ${idx})`);
      leaves.push(r.leaf_hash);
      if (r.e_case === null || r.e_hash === null) {
        add('event_missing', `${where}: the event row is gone`);
        continue;
      }
      const recomputed = eventLeafHash({ caseId: r.e_case, seq: Number(r.e_seq), hash: r.e_hash });
      if (recomputed !== r.leaf_hash) {
        add('leaf_mismatch', `${where}: the event row no longer hashes to the logged leaf (rewritten)`);
      }
    }
    const [cp] = await runner.rows<{ id: number | string; body: string; signature: string }>(
      'SELECT id, body, signature FROM checkpoints ORDER BY id DESC LIMIT 1',
    );
    let covered = 0;
    if (cp) {
      const id = Number(cp.id);
      const key = this.keys.tryGet();
      let logSize: number | undefined;
      let logRoot: string | undefined;
      if (key) {
        const v = verifyCheckpointBytes(
          Buffer.from(cp.body, 'utf8'),
          Buffer.from(cp.signature, 'base64'),
          key.publicKey,
        );
        if (!v.ok) add('checkpoint_signature', `checkpoint ${id}: ${v.detail}`);
        else ({ logSize, logRoot } = v.checkpoint);
      } else {
        ({ logSize, logRoot } = JSON.parse(cp.body) as { logSize?: number; logRoot?: string });
      }
      if (logSize !== undefined && logRoot !== undefined) {
        covered = logSize;
        const f = consistencyFinding(id, logSize, logRoot, leaves);
        if (f) add(f.kind, f.detail);
      }
      const [orphan] = await runner.rows<{ m: number | string | null }>(
        'SELECT MAX(checkpoint_id) AS m FROM checkpoint_leaves',
      );
      if (orphan?.m !== null && orphan?.m !== undefined && Number(orphan.m) > id) {
        add(
          'checkpoint_missing',
          `checkpoint ${Number(orphan.m)} has leaves but no row: checkpoint rows were deleted`,
        );
      }
    } else {
      const [any] = await runner.rows<{ m: number | string | null }>(
        'SELECT MAX(checkpoint_id) AS m FROM checkpoint_leaves',
      );
      if (any?.m !== null && any?.m !== undefined) {
        add(
          'checkpoint_missing',
          `checkpoint ${Number(any.m)} has leaves but no row: checkpoint rows were deleted`,
        );
      }
    }
    // Leaves are only written with the checkpoint that signs them: more means checkpoints are gone.
    if (leaves.length > covered && !found.has('checkpoint_missing')) {
      add(
        'checkpoint_missing',
        `the log has ${leaves.length} leaves, the latest checkpoint signs ${covered}: checkpoint rows were deleted`,
      );
    }
    // The count is part of the finding: one more rewritten or missing row is a new alert.
    return [...found.values()].map((f) => {
      const n = counts.get(f.kind) ?? 1;
      return n > 1 ? { kind: f.kind, detail: `${f.detail} (and ${n - 1} more)` } : f;
    });
  }

  /** Writes findings not recorded before (acknowledged ones included) and logs each as an error. */
  async record(findings: IntegrityFinding[]): Promise<void> {
    const now = this.clock.now().getTime();
    for (const f of findings) {
      const inserted = await this.db.rows<{ id: number | string }>(
        `INSERT INTO evidence_alerts (created_at, kind, fingerprint, detail) VALUES (?, ?, ?, ?)
         ON CONFLICT (fingerprint) DO NOTHING RETURNING id`,
        [now, f.kind, fingerprintOf(f), f.detail],
      );
      if (inserted.length > 0) {
        this.log.error(`evidence integrity alert ${Number(inserted[0].id)} (${f.kind}): ${f.detail}`);
      }
    }
  }

  /** Whether this exact finding was recorded and acknowledged (the operator accepted it). */
  async acknowledged(f: IntegrityFinding, runner: SqlRunner = this.db): Promise<boolean> {
    const [r] = await runner.rows<{ acked_at: number | string | null }>(
      'SELECT acked_at FROM evidence_alerts WHERE fingerprint = ?',
      [fingerprintOf(f)],
    );
    return r !== undefined && r.acked_at !== null;
  }

  async openAlerts(): Promise<EvidenceAlert[]> {
    const rows = await this.db.rows<AlertRow>(
      'SELECT id, created_at, kind, detail, acked_at, acked_by FROM evidence_alerts WHERE acked_at IS NULL ORDER BY id',
    );
    this.openCount = rows.length;
    return rows.map(toAlert);
  }

  async alerts(): Promise<EvidenceAlert[]> {
    const rows = await this.db.rows<AlertRow>(
      'SELECT id, created_at, kind, detail, acked_at, acked_by FROM evidence_alerts ORDER BY id',
    );
    return rows.map(toAlert);
  }

  /** Throws EvidenceIntegrityError while an alert is open. */
  async assertClear(what: string): Promise<void> {
    const open = await this.openAlerts();
    if (open.length === 0) return;
    const a = open[0];
    throw new EvidenceIntegrityError(
      `${what} refused: evidence integrity alert ${a.id} (${a.kind}) is not acknowledged: ${a.detail}`,
      [],
      { alerts: open.map((x) => ({ id: x.id, kind: x.kind, detail: x.detail })) },
    );
  }

  /** Records who acknowledged the alert and when; the alert stays in the history. */
  async acknowledge(id: number, by: string): Promise<EvidenceAlert> {
    const [row] = await this.db.rows<AlertRow>(
      'SELECT id, created_at, kind, detail, acked_at, acked_by FROM evidence_alerts WHERE id = ?',
      [id],
    );
    if (!row)
      throw new NotFoundError(`Evidence alert ${id} does not exist`, [
        { path: 'id', message: 'unknown alert' },
      ]);
    if (row.acked_at !== null) return toAlert(row);
    const at = this.clock.now().getTime();
    await this.db.exec(
      'UPDATE evidence_alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL',
      [at, by, id],
    );
    this.log.warn(`evidence integrity alert ${id} (${row.kind}) acknowledged by ${by}`);
    await this.openAlerts();
    return toAlert({ ...row, acked_at: at, acked_by: by });
  }
}
