import { Inject, Injectable, Optional } from '@nestjs/common';
import { CLOCK, type Clock } from '#libs/core';
import { Db, type SqlRunner } from '#libs/persistence';
import {
  canonicalJson,
  chainEvents,
  type ChainedEvent,
  type ChainVerification,
  type EvidenceType,
  GENESIS_HASH,
  type JsonValue,
  verifyChain,
} from './chain.js';
import { type EventRow, EvidenceRepository } from './evidence.repository.js';
import { EvidenceSigningKeys } from './signer.js';
import { LEGACY_SET_KEY, openSet, type SetEntry, setBody } from './transparency/set.js';

export interface NewEvidence {
  notificationId: string | null;
  type: EvidenceType;
  payload: JsonValue;
  /** When the fact happened (provider time for receipts); defaults to now. */
  occurredAt?: Date;
}

/** Kept here too: callers imported the row type from the service before the repository. */
export type { EventRow };

export function toEvent(r: EventRow): ChainedEvent {
  return {
    seq: Number(r.seq),
    caseId: r.case_id,
    notificationId: r.notification_id,
    type: r.type,
    occurredAt: r.occurred_at,
    recordedAt: r.recorded_at,
    payload: JSON.parse(r.payload) as JsonValue,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

interface OpenedSet {
  byCase: Map<string, [number, string][]>;
  legacy?: true;
}

function indexSet(entries: SetEntry[]): OpenedSet {
  const byCase = new Map<string, [number, string][]>();
  for (const [c, seq, hash] of entries) {
    const list = byCase.get(c) ?? [];
    list.push([seq, hash]);
    byCase.set(c, list);
  }
  return { byCase };
}

/** Key id stored on a SET made without a signing key (no key configured): it verifies as no SET. */
export const UNSIGNED_SET_KEY = 'unsigned';

/**
 * The append-only evidence ledger: one hash chain per case. Appends run inside the caller's
 * transaction so a state change and its evidence commit together; the case head row is
 * locked (PostgreSQL) so appends to one case are serialised while cases write in parallel.
 * Every append batch is covered by one signed entry timestamp (`evidence_sets`) written in the
 * same transaction: verification names any event no valid SET covers as forged.
 */
@Injectable()
export class EvidenceService {
  /** SETs already read: id -> entries by case when the signature verified, else why not. */
  private readonly setCache = new Map<number, OpenedSet | string>();
  /** Signed adoptions of pre-SET events, by the legacy row they adopt (read once per process). */
  private adoptions?: Promise<Map<number, OpenedSet>>;
  private readonly repo: EvidenceRepository;

  /** `repo` is injected by Nest; code that builds the service by hand gets one over `db`. */
  constructor(
    db: Db,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly keys?: EvidenceSigningKeys,
    @Optional() repo?: EvidenceRepository,
  ) {
    this.repo = repo ?? new EvidenceRepository(db);
  }

  async append(tx: SqlRunner, caseId: string, items: NewEvidence[]): Promise<ChainedEvent[]> {
    if (items.length === 0) return [];
    const out = await this.appendMany(tx, new Map([[caseId, items]]));
    return out.get(caseId) ?? [];
  }

  /**
   * Appends to several case chains in one round of statements: heads are created if missing,
   * locked in case-id order (no deadlocks between concurrent batches), events inserted with one
   * multi-row INSERT per chunk, heads advanced with one UPDATE.
   */
  async appendMany(tx: SqlRunner, byCase: Map<string, NewEvidence[]>): Promise<Map<string, ChainedEvent[]>> {
    const result = new Map<string, ChainedEvent[]>();
    const cases = [...byCase.keys()].filter((c) => (byCase.get(c)?.length ?? 0) > 0).sort();
    if (cases.length === 0) return result;
    const now = this.clock.now();
    const recordedAt = now.toISOString();
    const at = now.getTime();
    // One statement creates missing heads and returns (and, on PostgreSQL, row-locks) every head:
    // ON CONFLICT DO UPDATE takes the row lock; rows are touched in case-id order (no deadlocks).
    const heads = new Map<string, { seq: number; hash: string }>();
    for (const r of await this.repo.lockHeads(tx, cases, GENESIS_HASH, at)) {
      heads.set(r.case_id, { seq: Number(r.last_seq), hash: r.last_hash });
    }
    const all: ChainedEvent[] = [];
    const allTexts: string[] = [];
    const newHeads: [string, { seq: number; hash: string }][] = [];
    for (const caseId of cases) {
      const head = heads.get(caseId);
      if (!head) throw new Error(`case head ${caseId} missing after upsert`);
      const items = byCase.get(caseId) ?? [];
      // Canonicalise each payload once: what is hashed is exactly what is stored.
      const texts = items.map((i) => canonicalJson(i.payload));
      const { events, head: next } = chainEvents(
        head,
        items.map((i) => ({
          caseId,
          notificationId: i.notificationId,
          type: i.type,
          occurredAt: (i.occurredAt ?? now).toISOString(),
          recordedAt,
          payload: i.payload,
        })),
        texts,
      );
      result.set(caseId, events);
      for (let k = 0; k < events.length; k++) {
        all.push(events[k]);
        allTexts.push(texts[k]);
      }
      newHeads.push([caseId, next]);
    }
    await this.writeSet(tx, now, all, heads, newHeads);
    await this.repo.insertEvents(
      tx,
      all.map((e, k) => ({
        caseId: e.caseId,
        seq: e.seq,
        notificationId: e.notificationId,
        type: e.type,
        occurredAt: e.occurredAt,
        recordedAt: e.recordedAt,
        payload: allTexts[k],
        prevHash: e.prevHash,
        hash: e.hash,
      })),
    );
    await this.repo.advanceHeads(tx, newHeads, at);
    return result;
  }

  /**
   * One signed entry timestamp over every new event of the batch (caseId, seq, hash) and the
   * time, and its per-case seq ranges (what the case_heads trigger and verification look up).
   */
  private async writeSet(
    tx: SqlRunner,
    now: Date,
    events: ChainedEvent[],
    before: Map<string, { seq: number }>,
    after: [string, { seq: number }][],
  ): Promise<void> {
    const key = this.keys?.tryGet();
    const entries: SetEntry[] = events.map((e) => [e.caseId, e.seq, e.hash]);
    const keyId = key ? key.keyId : UNSIGNED_SET_KEY;
    const body = setBody({ time: now.toISOString(), keyId, entries });
    const signature = key
      ? (await this.keys!.signer().sign(Buffer.from(body, 'utf8'))).toString('base64')
      : '';
    const setId = await this.repo.insertSet(tx, { createdAt: now.getTime(), keyId, body, signature });
    await this.repo.insertSetCases(
      tx,
      setId,
      after.map(([c, h]) => [c, (before.get(c)?.seq ?? 0) + 1, h.seq]),
    );
  }

  private loadAdoptions(key: { publicKey: import('node:crypto').KeyObject; keyId: string }) {
    this.adoptions ??= this.repo.adoptionSets().then((rows) => {
      const out = new Map<number, OpenedSet>();
      for (const r of rows) {
        const opened = openSet(r.body, r.signature, key.publicKey, key.keyId);
        if (opened.ok && opened.statement.prefix && opened.statement.adopts !== undefined) {
          out.set(opened.statement.adopts, indexSet(opened.statement.entries));
        }
      }
      if (out.size === 0) this.adoptions = undefined; // not adopted yet: look again next time
      return out;
    });
    return this.adoptions;
  }

  async caseEvents(caseId: string): Promise<ChainedEvent[]> {
    return (await this.repo.caseEvents(caseId)).map(toEvent);
  }

  /** One keyset page of a case's chain in seq order: up to `take` events after seq `afterSeq`. */
  async caseEventsPage(caseId: string, afterSeq: number, take: number): Promise<ChainedEvent[]> {
    return (await this.repo.caseEventsPage(caseId, afterSeq, take)).map(toEvent);
  }

  async notificationEvents(notificationId: string): Promise<ChainedEvent[]> {
    return (await this.repo.notificationEvents(notificationId)).map(toEvent);
  }

  async verifyCase(caseId: string): Promise<ChainVerification> {
    const head = await this.repo.head(caseId);
    const events = await this.caseEvents(caseId);
    const chain = verifyChain(
      caseId,
      events,
      head ? { seq: Number(head.last_seq), hash: head.last_hash } : { seq: 0, hash: GENESIS_HASH },
    );
    if (!chain.ok) return chain;
    return this.verifySets(caseId, events, chain);
  }

  /**
   * Every event must be listed, with its hash, by a SET whose signature verifies with the
   * service's key; a SET that lists a seq past the end of the chain means its tail was removed.
   * Without a key in this process the check is skipped (nothing to verify the SETs with).
   */
  private async verifySets(
    caseId: string,
    events: ChainedEvent[],
    chain: ChainVerification,
  ): Promise<ChainVerification> {
    const key = this.keys?.tryGet();
    if (!key) return chain;
    const ids = await this.repo.setIdsOfCase(caseId);
    const signed = new Map<number, string>();
    const bad: string[] = [];
    // This call's SETs, whatever the (bounded) cache keeps: a case may have more than it holds.
    const loaded = new Map<number, OpenedSet | string>();
    for (const id of ids) {
      const hit = this.setCache.get(id);
      if (hit !== undefined) loaded.set(id, hit);
    }
    const missing = ids.filter((id) => !loaded.has(id));
    for (const r of await this.repo.setsByIds(missing)) {
      // SET rows are append-only and signed: what was read once stays valid (bounded cache).
      if (this.setCache.size >= 256) this.setCache.delete(this.setCache.keys().next().value as number);
      if (r.key_id === LEGACY_SET_KEY) {
        const legacy = { byCase: new Map(), legacy: true } as const;
        this.setCache.set(Number(r.id), legacy);
        loaded.set(Number(r.id), legacy);
        continue;
      }
      const opened = openSet(r.body, r.signature, key.publicKey, key.keyId);
      const value = opened.ok ? indexSet(opened.statement.entries) : opened.detail;
      this.setCache.set(Number(r.id), value);
      loaded.set(Number(r.id), value);
    }
    for (const id of ids) {
      const cached = loaded.get(id);
      if (cached === undefined) bad.push(`SET ${id}: missing`);
      else if (typeof cached === 'string') bad.push(`SET ${id}: ${cached}`);
      else if (cached.legacy) {
        // Events from before SETs: covered up to the head a signed adoption lists, through the chain.
        const adoption = (await this.loadAdoptions(key)).get(id);
        if (!adoption) bad.push(`SET ${id}: pre-transparency events not adopted by a signed SET`);
        for (const [seq, hash] of adoption?.byCase.get(caseId) ?? []) {
          if (events[seq - 1]?.hash !== hash) continue;
          for (let k = 1; k <= seq; k++) signed.set(k, events[k - 1].hash);
        }
      } else for (const [seq, hash] of cached.byCase.get(caseId) ?? []) signed.set(seq, hash);
    }
    const fail = (seq: number, failure: 'forged' | 'truncated', detail: string): ChainVerification => ({
      ok: false,
      caseId,
      events: seq - 1,
      headHash: seq >= 2 && events[seq - 2] ? events[seq - 2].hash : GENESIS_HASH,
      brokenSeq: seq,
      failure,
      detail,
    });
    for (const e of events) {
      const hash = signed.get(e.seq);
      if (hash !== e.hash) {
        return fail(
          e.seq,
          'forged',
          hash === undefined
            ? `seq ${e.seq} is covered by no valid signed entry timestamp${bad.length ? ` (${bad[0]})` : ''}: it was not appended by the service`
            : `seq ${e.seq} differs from the hash its signed entry timestamp lists`,
        );
      }
    }
    let last = 0;
    for (const seq of signed.keys()) if (seq > last) last = seq;
    if (last > events.length) {
      return fail(
        events.length + 1,
        'truncated',
        `a signed entry timestamp lists seq ${events.length + 1}..${last}, the chain ends at ${events.length}: its tail was removed`,
      );
    }
    return chain;
  }
}
