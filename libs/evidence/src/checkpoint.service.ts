import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock, NotFoundError } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import { type PeriodicTaskHandle, PeriodicTasks } from '#libs/queue';
import { type CheckpointRow, CheckpointRepository } from './checkpoint.repository.js';
import { MerkleLevels } from './log/proofs.js';
import { type CaseHead, CaseHeadTree, type CaseInclusionProof } from './merkle.js';
import { EvidenceSigningKeys } from './signer.js';
import { type SignedCheckpoint, signCheckpointWith, type SigningKey } from './signing.js';
import { parseTimeStampResponse, requestTimestamp } from './tsa.js';
import {
  consistencyFinding,
  EvidenceIntegrity,
  EvidenceIntegrityError,
  type IntegrityFinding,
} from './transparency/integrity.service.js';
import { CheckpointAnchor } from './transparency/anchor.js';
import { type WitnessOutcome, WitnessPublisher } from './transparency/witnesses.js';

/**
 * Signed checkpoints over all case-chain heads (docs/evidence.md): an RFC 6962 root, signed with
 * the service's Ed25519 key, optionally time-stamped by an RFC 3161 TSA, stored in `checkpoints`
 * with the tree's leaves as a per-case delta in `checkpoint_leaves`. Each checkpoint also signs
 * the global evidence log (logSize, logRoot): the writer integrates new events into `log_leaves`
 * in the same transaction and refuses to sign a log that does not extend the previous checkpoint's.
 */

/** The stored log does not extend the previous checkpoint (found under the checkpoint lock). */
class InconsistentLogError extends Error {
  constructor(readonly finding: IntegrityFinding) {
    super(finding.detail);
  }
}

export type CheckpointReason = 'scheduled' | 'on_demand' | 'bundle';

export interface StoredCheckpoint {
  id: number;
  signed: SignedCheckpoint;
  reason: CheckpointReason;
  /** DER TimeStampResp over `signed.body`, when a TSA answered. */
  tsaToken?: Buffer;
  tsaGenTime?: string;
  tsaError?: string;
  /** The C2SP checkpoint note of the log and what each witness answered (when just made). */
  witnessed?: { note: string; outcomes: WitnessOutcome[] };
}

/** JSON view of a stored checkpoint (API answers). */
export function checkpointView(c: StoredCheckpoint) {
  return {
    id: c.id,
    reason: c.reason,
    checkpoint: c.signed.checkpoint,
    body: c.signed.body,
    signature: c.signed.signature,
    timestamp: c.tsaToken
      ? { genTime: c.tsaGenTime ?? null, token: c.tsaToken.toString('base64') }
      : c.tsaError
        ? { error: c.tsaError }
        : null,
  };
}

function toStored(r: CheckpointRow): StoredCheckpoint {
  const checkpoint = JSON.parse(r.body) as SignedCheckpoint['checkpoint'];
  return {
    id: Number(r.id),
    signed: { checkpoint, body: r.body, signature: r.signature },
    reason: r.reason as CheckpointReason,
    tsaToken: r.tsa_token ? Buffer.from(r.tsa_token) : undefined,
    tsaGenTime: r.tsa_gen_time ?? undefined,
    tsaError: r.tsa_error ?? undefined,
  };
}

@Injectable()
export class CheckpointService {
  private readonly log = new Logger('Checkpoints');
  /** Creation is serialised in the process (and by an advisory lock across PostgreSQL processes). */
  private tail: Promise<unknown> = Promise.resolve();
  private cachedTree?: { id: number; tree: CaseHeadTree };
  /** The stored log's tree as the last checkpoint made here left it (append-only: its prefixes stay valid). */
  private cachedLog?: MerkleLevels;
  private readonly integrity: EvidenceIntegrity;
  private readonly repo: CheckpointRepository;

  /** `repo` is injected by Nest; code that builds the service by hand gets one over `db`. */
  constructor(
    private readonly db: Db,
    private readonly keys: EvidenceSigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() integrity?: EvidenceIntegrity,
    @Optional() private readonly witnesses?: WitnessPublisher,
    @Optional() private readonly anchor?: CheckpointAnchor,
    @Optional() repo?: CheckpointRepository,
  ) {
    this.integrity = integrity ?? new EvidenceIntegrity(db, keys, clock, anchor);
    this.repo = repo ?? new CheckpointRepository(db);
  }

  /**
   * Takes a checkpoint of every case head now, signs it, stores it and (with a TSA configured)
   * time-stamps it. With `skipIfUnchanged`, returns null when no head moved since the last one.
   */
  async create(
    reason: CheckpointReason = 'on_demand',
    opts: { skipIfUnchanged?: boolean } = {},
  ): Promise<StoredCheckpoint | null> {
    const key = this.keys.get();
    const run = this.tail.then(() => this.createChecked(key, reason, opts.skipIfUnchanged ?? false));
    this.tail = run.catch(() => undefined);
    const made = await run;
    if (!made) return null;
    // Committed: kept outside the database too, what the start-up check compares it with.
    this.anchor?.keep({ id: made.id, body: made.signed.body, signature: made.signed.signature });
    this.cachedTree = { id: made.id, tree: made.tree };
    this.cachedLog = made.log;
    const stored: StoredCheckpoint = { id: made.id, signed: made.signed, reason };
    const tsaUrl = this.config.evidence.tsaUrl;
    if (tsaUrl) {
      const body = Buffer.from(made.signed.body, 'utf8');
      try {
        // Verified (status, imprint, nonce, CMS signature, chain to TSA_CA_CERT_FILE) before it is kept.
        const token = await requestTimestamp(tsaUrl, body, {
          timeoutMs: this.config.evidence.tsaTimeoutMs,
          trustedCerts: this.config.evidence.tsaCaCertsPem ?? [],
        });
        stored.tsaToken = token;
        stored.tsaGenTime = parseTimeStampResponse(token).genTime;
        await this.repo.setTimestamp(made.id, token, stored.tsaGenTime);
      } catch (err) {
        stored.tsaError = (err instanceof Error ? err.message : String(err)).slice(0, 500);
        this.log.warn(`checkpoint ${made.id}: time stamp from ${tsaUrl} failed: ${stored.tsaError}`);
        await this.repo.setTimestampError(made.id, stored.tsaError);
      }
    }
    if (this.witnesses) {
      stored.witnessed = await this.witnesses.publish(made.id, this.keys.signer(), made.log);
    }
    this.log.log(
      `checkpoint ${made.id} (${reason}): ${made.signed.checkpoint.treeSize} cases, root ${made.signed.checkpoint.rootHash}, log of ${made.signed.checkpoint.logSize} events`,
    );
    return stored;
  }

  /**
   * Runs the integrity check, refuses while an alert is open, then signs under the lock; a log
   * found inconsistent there is recorded as an alert too.
   */
  private async createChecked(key: SigningKey, reason: CheckpointReason, skipIfUnchanged: boolean) {
    const checked = await this.integrity.checkLog();
    await this.integrity.record(checked.findings);
    await this.integrity.assertClear('checkpoint');
    try {
      return await this.createLocked(key, reason, skipIfUnchanged, checked.tree);
    } catch (err) {
      if (!(err instanceof InconsistentLogError)) throw err;
      await this.integrity.record([err.finding]);
      await this.integrity.openAlerts();
      throw new EvidenceIntegrityError(
        `checkpoint refused: the stored evidence log does not extend the previous checkpoint: ${err.finding.detail}`,
      );
    }
  }

  private async createLocked(
    key: SigningKey,
    reason: CheckpointReason,
    skipIfUnchanged: boolean,
    stored: MerkleLevels,
  ): Promise<{ id: number; signed: SignedCheckpoint; tree: CaseHeadTree; log: MerkleLevels } | null> {
    return this.db.transaction(async (tx) => {
      await this.repo.lock(tx);
      const heads = (await this.repo.heads(tx)).map((r) => ({
        caseId: r.case_id,
        seq: Number(r.last_seq),
        hash: r.last_hash,
      }));
      const lastId = await this.repo.lastId(tx);
      const previous = lastId > 0 ? await this.leavesAt(tx, lastId) : new Map<string, CaseHead>();
      const changed = heads.filter((h) => previous.get(h.caseId)?.hash !== h.hash);
      if (skipIfUnchanged && lastId > 0 && changed.length === 0) return null;
      // The log: new events appended (single integrator: this lock), then the previous checkpoint's
      // (size, root) must be a prefix of it. The check's tree is extended; it is read again only
      // when another writer integrated since the check.
      const { extended } = await this.integrity.integrate(tx, stored);
      const log = extended ? stored : await this.integrity.storedTree(tx);
      if (lastId > 0) {
        const prev = await this.repo.body(tx, lastId);
        // MAX(id) of this transaction, and checkpoints are append-only: it cannot be missing.
        if (prev === undefined) throw new Error(`checkpoint ${lastId} missing under the checkpoint lock`);
        const p = JSON.parse(prev) as { logSize?: number; logRoot?: string };
        if (p.logSize !== undefined && p.logRoot !== undefined) {
          const f = consistencyFinding(lastId, p.logSize, p.logRoot, log);
          if (f && !(await this.integrity.acknowledged(f, tx))) throw new InconsistentLogError(f);
        }
      }
      const tree = new CaseHeadTree(heads);
      const logRoot = log.root().toString('hex');
      const signed = await signCheckpointWith(this.keys.signer(), {
        treeSize: tree.treeSize,
        rootHash: tree.rootHash,
        createdAt: this.clock.now(),
        logSize: log.size,
        logRoot,
      });
      const id = await this.repo.insert(tx, {
        createdAt: Date.parse(signed.checkpoint.createdAt),
        treeSize: tree.treeSize,
        rootHash: tree.rootHash,
        keyId: key.keyId,
        body: signed.body,
        signature: signed.signature,
        reason,
        logSize: log.size,
        logRoot,
      });
      await this.repo.insertLeaves(tx, id, changed);
      return { id, signed, tree, log };
    });
  }

  /** The leaves of checkpoint `id`: per case, its latest leaf at or before `id`. */
  private async leavesAt(runner: SqlRunner, id: number): Promise<Map<string, CaseHead>> {
    const rows = await this.repo.leavesAt(id, runner);
    return new Map(rows.map((r) => [r.case_id, { caseId: r.case_id, seq: Number(r.seq), hash: r.hash }]));
  }

  /**
   * The stored log's tree with at least `size` leaves (proofs for any size up to it): the one the
   * last checkpoint made in this process built, otherwise read from storage once.
   */
  async logTree(size: number): Promise<MerkleLevels> {
    if (this.cachedLog && this.cachedLog.size >= size) return this.cachedLog;
    const tree = await this.integrity.storedTree();
    if (tree.size < size) throw new Error(`the stored log has ${tree.size} leaves, fewer than ${size}`);
    this.cachedLog = tree;
    return tree;
  }

  async latest(): Promise<StoredCheckpoint | null> {
    const row = await this.repo.latest();
    return row ? toStored(row) : null;
  }

  async get(id: number): Promise<StoredCheckpoint | null> {
    const row = await this.repo.get(id);
    return row ? toStored(row) : null;
  }

  /** The tree of a stored checkpoint, rebuilt from its leaves and checked against the signed root. */
  async treeOf(c: StoredCheckpoint): Promise<CaseHeadTree> {
    if (this.cachedTree?.id === c.id) return this.cachedTree.tree;
    const tree = new CaseHeadTree((await this.leavesAt(this.db, c.id)).values());
    if (tree.rootHash !== c.signed.checkpoint.rootHash || tree.treeSize !== c.signed.checkpoint.treeSize) {
      throw new Error(`checkpoint ${c.id}: stored leaves do not rebuild the signed root`);
    }
    this.cachedTree = { id: c.id, tree };
    return tree;
  }

  /**
   * The inclusion proof of a case's head in a checkpoint (the latest by default), or null when
   * there is no checkpoint or the case is not in it.
   */
  async proof(
    caseId: string,
    checkpointId?: number,
  ): Promise<{ checkpoint: StoredCheckpoint; proof: CaseInclusionProof } | null> {
    const c = checkpointId === undefined ? await this.latest() : await this.get(checkpointId);
    if (!c) return null;
    const tree = await this.treeOf(c);
    try {
      return { checkpoint: c, proof: tree.proofFor(caseId) };
    } catch {
      return null;
    }
  }

  /**
   * A checkpoint that covers the case's current head: the latest one when its leaf for the case is
   * the current head, otherwise a fresh checkpoint. 404 for a case without evidence.
   */
  async covering(caseId: string): Promise<{ checkpoint: StoredCheckpoint; proof: CaseInclusionProof }> {
    await this.integrity.assertClear('evidence bundle');
    const head = await this.repo.head(caseId);
    if (!head)
      throw new NotFoundError(`Case ${caseId} has no evidence`, [
        { path: 'caseId', message: 'unknown case' },
      ]);
    const current = await this.proof(caseId);
    if (current && current.proof.head.hash === head.last_hash) return current;
    const fresh = await this.create('bundle');
    const proved = fresh ? await this.proof(caseId, fresh.id) : null;
    if (!proved) throw new Error(`fresh checkpoint does not contain case ${caseId}`);
    return proved;
  }
}

/**
 * Takes a checkpoint every CHECKPOINT_INTERVAL_MS (0 = off) from the api: once per cluster in
 * queue mode (a BullMQ job scheduler: several api processes never sign competing checkpoints),
 * on a timer of the process in standalone mode.
 */
@Injectable()
export class CheckpointScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Checkpoints');
  private task?: PeriodicTaskHandle;

  constructor(
    private readonly checkpoints: CheckpointService,
    private readonly keys: EvidenceSigningKeys,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tasks: PeriodicTasks,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Load (or generate, standalone) the key at start so its id is logged once.
    const key = this.keys.tryGet();
    const every = this.config.evidence.checkpointIntervalMs;
    if (!key || every <= 0) return;
    this.task = await this.tasks.register({
      name: 'evidence-checkpoint',
      everyMs: every,
      run: async () => {
        try {
          await this.checkpoints.create('scheduled', { skipIfUnchanged: true });
        } catch (err) {
          // An open integrity alert was logged as an error when found; repeat it only as a warning.
          if (!(err instanceof EvidenceIntegrityError)) throw err;
          this.log.warn(`scheduled checkpoint skipped: ${err.message}`);
        }
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task?.stop();
  }
}
