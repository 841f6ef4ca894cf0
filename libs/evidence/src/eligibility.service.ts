import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock, NotFoundError, ValidationError } from '#libs/core';
import { Db } from '#libs/persistence';
import { EvidenceBundleService } from './bundle.service.js';
import type { ChainedEvent, ChainVerification } from './chain.js';
import type { CertificateLang } from './certificate.js';
import { assessEligibility, CASE_FACTS_EVENT, type EligibilityReport } from './eligibility.js';
import { type CaseTimeline, caseTimeline } from './legal-view.js';
import { EvidenceService } from './evidence.service.js';
import { EvidenceRepository } from './evidence.repository.js';

export interface CaseSummary {
  caseId: string;
  events: number;
  lastHash: string;
  /** ISO-8601 time of the last append. */
  updatedAt: string;
}

/** Facts about a case the eligibility reads (`PUT /v1/cases/:caseId/facts`). */
export interface CaseFacts {
  lastPaymentDate?: string;
  principal?: string;
  note?: string;
}

export interface RecordedFacts extends CaseFacts {
  caseId: string;
  seq: number;
  hash: string;
  recordedAt: string;
  actor: string;
}

export interface LedgerVerification {
  ok: boolean;
  /** Cases checked in this call. */
  cases: number;
  events: number;
  /** Broken chains (at most `maxFailures`), each naming its first broken seq. */
  failures: ChainVerification[];
  /** Set when `limit` stopped the walk: pass it as `after` to continue. */
  next: string | null;
}

/** Read side for the legal team: eligibility, timelines, case search, whole-ledger verification. */
@Injectable()
export class LegalEvidenceService {
  private readonly repo: EvidenceRepository;

  /** `repo` is injected by Nest; code that builds the service by hand gets one over `db`. */
  constructor(
    private readonly db: Db,
    private readonly evidence: EvidenceService,
    private readonly bundles: EvidenceBundleService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() repo?: EvidenceRepository,
  ) {
    this.repo = repo ?? new EvidenceRepository(db);
  }

  async eligibility(caseId: string): Promise<EligibilityReport> {
    const all: ChainedEvent[] = [];
    for await (const ev of this.bundles.events(caseId)) all.push(ev);
    return assessEligibility(caseId, all, this.config.legal, this.clock.now());
  }

  /** The labelled timeline and the per-notice summaries (legal-view.ts). */
  async timeline(caseId: string, lang: CertificateLang = 'zh-CN'): Promise<CaseTimeline> {
    const all: ChainedEvent[] = [];
    for await (const ev of this.bundles.events(caseId)) all.push(ev);
    return caseTimeline(caseId, all, lang);
  }

  /**
   * Records a case's last payment date and/or outstanding principal as a `case.facts.recorded`
   * evidence event (so the value the eligibility uses is itself in the chain, with who set it).
   * The case must already have evidence; a payment date after today (Beijing) is refused.
   */
  async recordFacts(caseId: string, facts: CaseFacts, actor: string): Promise<RecordedFacts> {
    const now = this.clock.now();
    const today = new Date(now.getTime() + 8 * 3_600_000).toISOString().slice(0, 10);
    if (facts.lastPaymentDate !== undefined && facts.lastPaymentDate > today) {
      throw new ValidationError('lastPaymentDate is in the future', [
        { path: 'lastPaymentDate', message: `on or before ${today} (Beijing)` },
      ]);
    }
    const payload = {
      ...(facts.lastPaymentDate !== undefined ? { lastPaymentDate: facts.lastPaymentDate } : {}),
      ...(facts.principal !== undefined ? { principal: facts.principal } : {}),
      ...(facts.note !== undefined ? { note: facts.note } : {}),
      actor,
      source: 'api',
    };
    const [ev] = await this.db.transaction(async (tx) => {
      const seq = await this.repo.headSeq(tx, caseId);
      if (seq === undefined || Number(seq) === 0) {
        throw new NotFoundError(`Case ${caseId} has no evidence`, [
          { path: 'caseId', message: 'no notice was ever accepted for this case' },
        ]);
      }
      return this.evidence.append(tx, caseId, [{ notificationId: null, type: CASE_FACTS_EVENT, payload }]);
    });
    return {
      caseId,
      ...facts,
      actor,
      seq: ev.seq,
      hash: ev.hash,
      recordedAt: ev.recordedAt,
    };
  }

  /** Cases whose id starts with `prefix` (case-sensitive), in id order; `after` a case id (keyset). */
  async findCases(prefix: string, limit = 20, after?: string): Promise<CaseSummary[]> {
    const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
    const rows = await this.repo.headsLike(`${escaped}%`, after ?? '', limit);
    return rows.map((r) => ({
      caseId: r.case_id,
      events: Number(r.last_seq),
      lastHash: r.last_hash,
      updatedAt: new Date(Number(r.updated_at)).toISOString(),
    }));
  }

  /**
   * Recomputes every case chain, walking the cases in id order `pageSize` at a time. With `limit`,
   * stops after that many cases and returns the cursor for the next call.
   */
  async verifyAll(
    opts: { after?: string; limit?: number; pageSize?: number; maxFailures?: number } = {},
  ): Promise<LedgerVerification> {
    const pageSize = opts.pageSize ?? 200;
    const maxFailures = opts.maxFailures ?? 100;
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    let after = opts.after ?? '';
    let cases = 0;
    let events = 0;
    let ok = true;
    const failures: ChainVerification[] = [];
    for (;;) {
      const take = Math.min(pageSize, limit - cases);
      if (take <= 0) break;
      const page = await this.repo.caseIdsAfter(after, take);
      for (const caseId of page) {
        const v = await this.evidence.verifyCase(caseId);
        cases += 1;
        events += v.events;
        if (!v.ok) {
          ok = false;
          if (failures.length < maxFailures) failures.push(v);
        }
      }
      if (page.length < take) return { ok, cases, events, failures, next: null };
      after = page[page.length - 1];
    }
    const [more] = await this.repo.caseIdsAfter(after, 1);
    return { ok, cases, events, failures, next: more ? after : null };
  }
}
