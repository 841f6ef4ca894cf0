import { createHash } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { AppError, CLOCK, type Clock, NotFoundError } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import { MerkleLevels } from '../log/proofs.js';
import { LogVerifyPool } from '../log/verify-pool.js';
import type { LeafPageResult } from '../log/verify-work.js';
import { UNSIGNED_SET_KEY } from '../evidence.service.js';
import { EvidenceSigningKeys } from '../signer.js';
import { type SigningKey, verifyCheckpointBytes } from '../signing.js';
import { type AnchoredCheckpoint, CheckpointAnchor } from './anchor.js';
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

export const ALERT_KINDS = [
  'event_missing',
  'leaf_mismatch',
  'log_gap',
  'log_truncated',
  'log_mismatch',
  'checkpoint_missing',
  'checkpoint_signature',
  /** A witness cosigned more of this log than is stored: history was lost or rolled back. */
  'witness_ahead',
  /** A witness refused the log as inconsistent with what it cosigned: history was rewritten. */
  'witness_refused',
  /** A stored SET does not verify with the evidence key (rewritten, or inserted without the key). */
  'set_signature',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

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

/** Rows of `log_leaves` (joined with their events) and of `evidence_sets` read per query. */
const LEAF_PAGE = 16_384;
const SET_PAGE = 2_048;
/** Pages handed to the verify pool and not yet consumed: bounds memory, keeps the workers busy. */
const IN_FLIGHT = 8;
/** Key ids of SET rows without a signature. */
const NOT_SIGNED = [LEGACY_SET_KEY, UNSIGNED_SET_KEY];

/** The result of the log check: the findings and the stored log's tree (for the checkpoint writer). */
export interface LogCheckResult {
  findings: IntegrityFinding[];
  /** The stored leaf hashes, in idx order, as a tree. */
  tree: MerkleLevels;
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

/**
 * Whether the stored log (its leaves as a tree) extends checkpoint `id` (size, root): its first
 * `logSize` leaves must rebuild the signed root. Null when it does.
 */
export function consistencyFinding(
  id: number,
  logSize: number,
  logRoot: string,
  stored: MerkleLevels,
): IntegrityFinding | null {
  if (stored.size < logSize) {
    return {
      kind: 'log_truncated',
      detail: `checkpoint ${id} signs ${logSize} log leaves, ${stored.size} are stored: the log was truncated (log leaf ${stored.size} is the first one missing)`,
    };
  }
  if (stored.root(logSize).toString('hex') !== logRoot) {
    return {
      kind: 'log_mismatch',
      detail: `checkpoint ${id}: the first ${logSize} stored log leaves do not rebuild its signed root ${logRoot}`,
    };
  }
  return null;
}

@Injectable()
export class EvidenceIntegrity implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('EvidenceIntegrity');
  /** Open (unacknowledged) alerts, as last read; for gauges that must not query on every scrape. */
  openCount = 0;
  /** Worker threads of the check (created on first use; idle threads exit). */
  private pool?: LogVerifyPool;

  constructor(
    private readonly db: Db,
    private readonly keys: EvidenceSigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly anchor?: CheckpointAnchor,
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
   * writer's transaction (under its lock). With `tree` (the stored log as the check read it), the
   * new leaves are appended to it too when it still is the whole stored log (`extended`).
   */
  async integrate(tx: SqlRunner, tree?: MerkleLevels): Promise<{ size: number; extended: boolean }> {
    const [size] = await tx.rows<{ n: number | string | null }>(
      'SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM log_leaves',
    );
    let next = Number(size?.n ?? 0);
    const extended = tree !== undefined && tree.size === next;
    const fresh = await tx.rows<{ id: number | string; case_id: string; seq: number | string; hash: string }>(
      `SELECT e.id, e.case_id, e.seq, e.hash FROM evidence_events e
       WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.event_id = e.id) ORDER BY e.id`,
    );
    for (let i = 0; i < fresh.length; i += 500) {
      const part = fresh.slice(i, i + 500);
      const values: unknown[] = [];
      for (const e of part) {
        const seq = Number(e.seq);
        const leaf = eventLeafHash({ caseId: e.case_id, seq, hash: e.hash });
        values.push(next++, e.id, e.case_id, seq, leaf);
        if (extended) tree.append(Buffer.from(leaf, 'hex'));
      }
      await tx.exec(
        `INSERT INTO log_leaves (idx, event_id, case_id, seq, leaf_hash) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
        values,
      );
    }
    return { size: next, extended };
  }

  /** Stored leaf hashes in idx order. */
  async leafHashes(runner: SqlRunner = this.db): Promise<string[]> {
    const rows = await runner.rows<{ leaf_hash: string }>('SELECT leaf_hash FROM log_leaves ORDER BY idx');
    return rows.map((r) => r.leaf_hash);
  }

  /** The stored log as a tree (leaf hashes in idx order), read in pages. */
  async storedTree(runner: SqlRunner = this.db): Promise<MerkleLevels> {
    const tree = new MerkleLevels();
    let after = -1;
    for (;;) {
      const rows = await runner.rows<{ idx: number | string; leaf_hash: string }>(
        'SELECT idx, leaf_hash FROM log_leaves WHERE idx > ? ORDER BY idx LIMIT ?',
        [after, LEAF_PAGE],
      );
      for (const r of rows) tree.append(Buffer.from(r.leaf_hash, 'hex'));
      if (rows.length < LEAF_PAGE) return tree;
      after = Number(rows[rows.length - 1].idx);
    }
  }

  /**
   * Recomputes the log from the stored events and compares it with the latest signed checkpoint.
   * Returns the first finding of each kind (empty when the log is intact).
   */
  async check(runner: SqlRunner = this.db): Promise<IntegrityFinding[]> {
    return (await this.checkLog(runner)).findings;
  }

  /**
   * The check, with the stored log's tree: every leaf recomputed from its event row (hash of the
   * canonical `{caseId, hash, seq}`), every SET signature checked with the evidence key, the latest
   * checkpoint's signature checked and its (logSize, logRoot) rebuilt from the stored leaves.
   * Leaves and SETs are read a page at a time and checked on the verify pool's threads.
   */
  async checkLog(runner: SqlRunner = this.db): Promise<LogCheckResult> {
    const found = new Map<AlertKind, IntegrityFinding>();
    const counts = new Map<AlertKind, number>();
    const add = (kind: AlertKind, detail: string, n = 1) => {
      counts.set(kind, (counts.get(kind) ?? 0) + n);
      if (!found.has(kind)) found.set(kind, { kind, detail });
    };
    const key = this.keys.tryGet();
    const [tree] = await Promise.all([
      this.checkLeaves(runner, add),
      key ? this.checkSets(runner, key, add) : Promise.resolve(),
    ]);
    const [cp] = await runner.rows<{ id: number | string; body: string; signature: string }>(
      'SELECT id, body, signature FROM checkpoints ORDER BY id DESC LIMIT 1',
    );
    let covered = 0;
    if (cp) {
      const id = Number(cp.id);
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
        const f = consistencyFinding(id, logSize, logRoot, tree);
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
    if (this.anchor) await this.checkKept(runner, this.anchor, key, tree, cp ? Number(cp.id) : 0, add);
    // Leaves are only written with the checkpoint that signs them: more means checkpoints are gone.
    if (tree.size > covered && !found.has('checkpoint_missing')) {
      add(
        'checkpoint_missing',
        `the log has ${tree.size} leaves, the latest checkpoint signs ${covered}: checkpoint rows were deleted`,
      );
    }
    // The count is part of the finding: one more rewritten or missing row is a new alert.
    const findings = [...found.values()].map((f) => {
      const n = counts.get(f.kind) ?? 1;
      return n > 1 ? { kind: f.kind, detail: `${f.detail} (and ${n - 1} more)` } : f;
    });
    return { findings, tree };
  }

  /**
   * The database against the checkpoint kept outside it (anchor.ts): its row must be there, the
   * same, and the stored log must extend it. Catches history the database lost as a whole
   * (corrupted WAL frames dropped at recovery, an older copy of the file).
   */
  private async checkKept(
    runner: SqlRunner,
    anchor: CheckpointAnchor,
    key: SigningKey | undefined,
    tree: MerkleLevels,
    latestId: number,
    add: (kind: AlertKind, detail: string, n?: number) => void,
  ): Promise<void> {
    let kept: AnchoredCheckpoint | undefined;
    try {
      kept = anchor.read();
    } catch (err) {
      this.log.error(`the kept checkpoint is unreadable, not compared: ${String(err)}`);
      return;
    }
    if (!kept) return;
    const where = `checkpoint ${kept.id} kept in ${anchor.path}`;
    let signed: { logSize?: number; logRoot?: string; createdAt: string };
    if (key) {
      const v = verifyCheckpointBytes(
        Buffer.from(kept.body, 'utf8'),
        Buffer.from(kept.signature, 'base64'),
        key.publicKey,
      );
      if (!v.ok) {
        add('checkpoint_signature', `${where}: ${v.detail}`);
        return;
      }
      signed = v.checkpoint;
    } else {
      signed = JSON.parse(kept.body) as typeof signed;
    }
    const [row] = await runner.rows<{ body: string; signature: string }>(
      'SELECT body, signature FROM checkpoints WHERE id = ?',
      [kept.id],
    );
    if (!row) {
      add(
        'checkpoint_missing',
        `${where} (signed at ${signed.createdAt}) is not in the database, whose latest checkpoint is ${latestId || 'none'}: committed transactions were lost (corrupted WAL frames, an older copy of the database)`,
      );
    } else if (row.body !== kept.body || row.signature !== kept.signature) {
      add(
        'checkpoint_missing',
        `${where}: the database holds another checkpoint ${kept.id} (history rewritten or lost)`,
      );
    }
    if (signed.logSize !== undefined && signed.logRoot !== undefined) {
      const f = consistencyFinding(kept.id, signed.logSize, signed.logRoot, tree);
      if (f) add(f.kind, `${f.detail} (${where})`);
    }
  }

  /** Worker threads the check uses (0: inline, no compiled worker). */
  get verifyThreads(): number {
    return this.verifyPool().threads;
  }

  private verifyPool(): LogVerifyPool {
    this.pool ??= new LogVerifyPool();
    return this.pool;
  }

  /**
   * `SELECT` of one JSON array over `rows` (a subquery with an `ord` column) in `ord` order: the
   * database builds the page as one string. SQLite aggregates in the order of an ordered subquery
   * (faster than its aggregate ORDER BY); the worker refuses a page out of order.
   */
  private jsonPage(values: string, rows: string): string {
    return this.db.dialect === 'postgres'
      ? `SELECT json_agg(json_build_array(${values}) ORDER BY ord)::text AS page FROM (${rows}) r`
      : `SELECT json_group_array(json_array(${values})) AS page FROM (${rows} ORDER BY ord) r`;
  }

  /** Every stored leaf against its event row; returns the stored leaves as a tree. */
  private async checkLeaves(
    runner: SqlRunner,
    add: (kind: AlertKind, detail: string, n?: number) => void,
  ): Promise<MerkleLevels> {
    const pool = this.verifyPool();
    const [extent] = await runner.rows<{ m: number | string | null; c: number | string }>(
      'SELECT MAX(idx) AS m, COUNT(*) AS c FROM log_leaves',
    );
    const end = extent?.m === null || extent?.m === undefined ? 0 : Number(extent.m) + 1;
    const stored = Number(extent?.c ?? 0);
    const tree = new MerkleLevels(stored);
    const sql = this.jsonPage(
      'idx, leaf_hash, e_hash, e_seq, e_case',
      `SELECT l.idx AS ord, l.idx, l.leaf_hash, e.hash AS e_hash, e.seq AS e_seq, e.case_id AS e_case
       FROM log_leaves l LEFT JOIN evidence_events e ON e.id = l.event_id WHERE l.idx >= ? AND l.idx < ?`,
    );
    const inFlight: Promise<LeafPageResult>[] = [];
    const bad = { missing: [] as number[], mismatched: [] as number[], gap: -1, count: 0 };
    const consume = async () => {
      const r = await inFlight.shift()!;
      tree.appendPacked(Buffer.from(r.packed.buffer, r.packed.byteOffset, r.packed.byteLength));
      bad.missing.push(...r.missing);
      bad.mismatched.push(...r.mismatched);
      bad.count += r.count;
      if (bad.gap < 0) bad.gap = r.firstGap;
    };
    for (let start = 0; start < end; start += LEAF_PAGE) {
      const to = Math.min(end, start + LEAF_PAGE);
      const [row] = await runner.rows<{ page: string | null }>(sql, [start, to]);
      inFlight.push(pool.leaves({ json: row?.page ?? '[]', start, end: to }));
      if (inFlight.length >= IN_FLIGHT) await consume();
    }
    while (inFlight.length > 0) await consume();
    if (bad.count !== stored) throw new Error(`log check read ${bad.count} leaves, ${stored} are stored`);
    if (bad.gap >= 0) {
      const [next] = await runner.rows<{ n: number | string }>(
        'SELECT MIN(idx) AS n FROM log_leaves WHERE idx > ?',
        [bad.gap],
      );
      add('log_gap', `log leaf ${bad.gap} is missing (next stored leaf is ${Number(next.n)})`, end - stored);
    }
    const where = async (i: number) => {
      const [r] = await runner.rows<{ event_id: number | string; case_id: string; seq: number | string }>(
        'SELECT event_id, case_id, seq FROM log_leaves WHERE idx = ?',
        [i],
      );
      return `log leaf ${i} (case ${r.case_id} seq ${Number(r.seq)}, event row ${Number(r.event_id)})`;
    };
    if (bad.missing.length > 0) {
      add('event_missing', `${await where(bad.missing[0])}: the event row is gone`, bad.missing.length);
    }
    if (bad.mismatched.length > 0) {
      add(
        'leaf_mismatch',
        `${await where(bad.mismatched[0])}: the event row no longer hashes to the logged leaf (rewritten)`,
        bad.mismatched.length,
      );
    }
    return tree;
  }

  /**
   * Every SET's signature with the evidence key. Rows that carry no signature (the migration's
   * legacy marker, SETs appended by a process without the key) are not checked here: they cover
   * nothing, so per-case verification names their events `forged` (legacy: until adopted).
   */
  private async checkSets(
    runner: SqlRunner,
    key: SigningKey,
    add: (kind: AlertKind, detail: string, n?: number) => void,
  ): Promise<void> {
    const pool = this.verifyPool();
    const setKey = {
      keyId: key.keyId,
      spki: new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' })),
    };
    const [extent] = await runner.rows<{ m: number | string | null }>(
      'SELECT MAX(id) AS m FROM evidence_sets',
    );
    const end = extent?.m === null || extent?.m === undefined ? 0 : Number(extent.m) + 1;
    const sql = this.jsonPage(
      'id, key_id, body, signature',
      'SELECT id AS ord, id, key_id, body, signature FROM evidence_sets WHERE id >= ? AND id < ?',
    );
    const inFlight: Promise<{ id: number; detail: string }[]>[] = [];
    const bad: { id: number; detail: string }[] = [];
    for (let start = 0; start < end; start += SET_PAGE) {
      const [row] = await runner.rows<{ page: string | null }>(sql, [start, Math.min(end, start + SET_PAGE)]);
      inFlight.push(pool.sets({ json: row?.page ?? '[]' }, setKey, NOT_SIGNED));
      if (inFlight.length >= IN_FLIGHT) bad.push(...(await inFlight.shift()!));
    }
    for (const p of inFlight) bad.push(...(await p));
    if (bad.length > 0) {
      bad.sort((x, y) => x.id - y.id);
      add(
        'set_signature',
        `signed entry timestamp ${bad[0].id}: ${bad[0].detail}: the events it lists were not signed by the evidence key`,
        bad.length,
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
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
