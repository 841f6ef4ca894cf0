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
import { type AlertRow, type LeafInsert, LogRepository } from './log.repository.js';
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
  private readonly repo: LogRepository;

  /** `repo` is injected by Nest; code that builds the service by hand gets one over `db`. */
  constructor(
    private readonly db: Db,
    private readonly keys: EvidenceSigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly anchor?: CheckpointAnchor,
    @Optional() repo?: LogRepository,
  ) {
    this.repo = repo ?? new LogRepository(db);
  }

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
    const legacy = await this.repo.firstSetWithKey(LEGACY_SET_KEY);
    if (legacy === undefined) return null;
    if (await this.repo.hasAdoption()) return null;
    const heads = await this.repo.setHeads(legacy);
    const entries: SetEntry[] = heads.map((h) => [h.case_id, Number(h.to_seq), h.hash]);
    const now = this.clock.now();
    const body = setBody({ time: now.toISOString(), keyId: key.keyId, entries, adopts: legacy });
    const signature = (await this.keys.signer().sign(Buffer.from(body, 'utf8'))).toString('base64');
    const id = await this.repo.insertSet({ createdAt: now.getTime(), keyId: key.keyId, body, signature });
    this.log.warn(
      `signed SET ${id} adopting the ${entries.length} case chains appended before signed entry timestamps`,
    );
    return id;
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
    let next = await this.repo.nextIndex(tx);
    const extended = tree !== undefined && tree.size === next;
    const fresh = await this.repo.unloggedEvents(tx);
    for (let i = 0; i < fresh.length; i += 500) {
      const part = fresh.slice(i, i + 500);
      const leaves: LeafInsert[] = [];
      for (const e of part) {
        const seq = Number(e.seq);
        const leaf = eventLeafHash({ caseId: e.case_id, seq, hash: e.hash });
        leaves.push({ idx: next++, eventId: e.id, caseId: e.case_id, seq, leafHash: leaf });
        if (extended) tree.append(Buffer.from(leaf, 'hex'));
      }
      await this.repo.insertLeaves(tx, leaves);
    }
    return { size: next, extended };
  }

  /** Stored leaf hashes in idx order. */
  async leafHashes(runner: SqlRunner = this.db): Promise<string[]> {
    return this.repo.leafHashes(runner);
  }

  /** The stored log as a tree (leaf hashes in idx order), read in pages. */
  async storedTree(runner: SqlRunner = this.db): Promise<MerkleLevels> {
    const tree = new MerkleLevels();
    let after = -1;
    for (;;) {
      const rows = await this.repo.leavesAfter(runner, after, LEAF_PAGE);
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
    const cp = await this.repo.latestCheckpoint(runner);
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
      const orphan = await this.repo.maxLeafCheckpointId(runner);
      if (orphan !== null && orphan > id) {
        add('checkpoint_missing', `checkpoint ${orphan} has leaves but no row: checkpoint rows were deleted`);
      }
    } else {
      const any = await this.repo.maxLeafCheckpointId(runner);
      if (any !== null) {
        add('checkpoint_missing', `checkpoint ${any} has leaves but no row: checkpoint rows were deleted`);
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
    const row = await this.repo.checkpoint(runner, kept.id);
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

  /** Every stored leaf against its event row; returns the stored leaves as a tree. */
  private async checkLeaves(
    runner: SqlRunner,
    add: (kind: AlertKind, detail: string, n?: number) => void,
  ): Promise<MerkleLevels> {
    const pool = this.verifyPool();
    const extent = await this.repo.leafExtent(runner);
    const end = extent.max === null ? 0 : extent.max + 1;
    const stored = extent.count;
    const tree = new MerkleLevels(stored);
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
      const page = await this.repo.leafPage(runner, start, to);
      inFlight.push(pool.leaves({ json: page ?? '[]', start, end: to }));
      if (inFlight.length >= IN_FLIGHT) await consume();
    }
    while (inFlight.length > 0) await consume();
    if (bad.count !== stored) throw new Error(`log check read ${bad.count} leaves, ${stored} are stored`);
    if (bad.gap >= 0) {
      const next = await this.repo.nextLeafAfter(runner, bad.gap);
      add('log_gap', `log leaf ${bad.gap} is missing (next stored leaf is ${next})`, end - stored);
    }
    const where = async (i: number) => {
      const r = await this.repo.leafAt(runner, i);
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
    const max = await this.repo.maxSetId(runner);
    const end = max === null ? 0 : max + 1;
    const inFlight: Promise<{ id: number; detail: string }[]>[] = [];
    const bad: { id: number; detail: string }[] = [];
    for (let start = 0; start < end; start += SET_PAGE) {
      const page = await this.repo.setPage(runner, start, Math.min(end, start + SET_PAGE));
      inFlight.push(pool.sets({ json: page ?? '[]' }, setKey, NOT_SIGNED));
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
      const id = await this.repo.insertAlert({
        at: now,
        kind: f.kind,
        fingerprint: fingerprintOf(f),
        detail: f.detail,
      });
      if (id !== null) this.log.error(`evidence integrity alert ${id} (${f.kind}): ${f.detail}`);
    }
  }

  /** Whether this exact finding was recorded and acknowledged (the operator accepted it). */
  async acknowledged(f: IntegrityFinding, runner: SqlRunner = this.db): Promise<boolean> {
    const r = await this.repo.alertAckedAt(fingerprintOf(f), runner);
    return r !== undefined && r.acked_at !== null;
  }

  async openAlerts(): Promise<EvidenceAlert[]> {
    const rows = await this.repo.openAlerts();
    this.openCount = rows.length;
    return rows.map(toAlert);
  }

  async alerts(): Promise<EvidenceAlert[]> {
    return (await this.repo.alerts()).map(toAlert);
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
    const row = await this.repo.alert(id);
    if (!row)
      throw new NotFoundError(`Evidence alert ${id} does not exist`, [
        { path: 'id', message: 'unknown alert' },
      ]);
    if (row.acked_at !== null) return toAlert(row);
    const at = this.clock.now().getTime();
    await this.repo.acknowledge(id, at, by);
    this.log.warn(`evidence integrity alert ${id} (${row.kind}) acknowledged by ${by}`);
    await this.openAlerts();
    return toAlert({ ...row, acked_at: at, acked_by: by });
  }
}
