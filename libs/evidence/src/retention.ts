import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock } from '#libs/core';
import { Db } from '#libs/persistence';
import { EvidenceRepository } from './evidence.repository.js';

/**
 * Evidence retention (DESIGN.md section 2: keep evidence at least 5 years, longer under legal hold).
 * Nothing that is evidence expires on a TTL and nothing here deletes: the report only lists the
 * cases whose last evidence event is older than the retention period and that carry no active
 * `legal_hold`, for a records manager to decide on. `evidence_events` refuses DELETE anyway.
 */

export const MIN_RETENTION_YEARS = 5;

/** The instant before which a case's last evidence must lie to be past retention (calendar years, UTC). */
export function retentionCutoff(now: Date, years: number): Date {
  const y = Math.max(MIN_RETENTION_YEARS, Math.floor(years));
  const d = new Date(now.getTime());
  d.setUTCFullYear(d.getUTCFullYear() - y);
  // 29 February minus whole years lands on 1 March; keep it on the last day of February.
  if (d.getUTCMonth() !== now.getUTCMonth()) d.setUTCDate(0);
  return d;
}

export interface RetentionCase {
  caseId: string;
  events: number;
  /** ISO time of the case's last evidence event. */
  lastEvidenceAt: string;
  /** ISO time from which the case is past retention. */
  retainUntil: string;
}

export interface RetentionReport {
  asOf: string;
  retentionYears: number;
  cutoff: string;
  /** Past retention and not on legal hold: could be archived or purged by a records decision. */
  pastRetention: RetentionCase[];
  /** Past retention but kept: an active legal hold. */
  onLegalHold: RetentionCase[];
  /** Cursor (a case id) for the next page, null at the end. */
  next: string | null;
  deleted: 0;
  note: string;
}

@Injectable()
export class RetentionService {
  private readonly repo: EvidenceRepository;

  /** `repo` is injected by Nest; code that builds the service by hand gets one over `db`. */
  constructor(
    db: Db,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() repo?: EvidenceRepository,
  ) {
    this.repo = repo ?? new EvidenceRepository(db);
  }

  async report(opts: { after?: string; limit?: number } = {}): Promise<RetentionReport> {
    const now = this.clock.now();
    const years = Math.max(MIN_RETENTION_YEARS, this.config.evidence.retentionYears);
    const cutoff = retentionCutoff(now, years);
    const limit = Math.min(Math.max(opts.limit ?? 500, 1), 5000);
    const rows = await this.repo.headsIdleSince(cutoff.getTime(), opts.after ?? '', limit + 1);
    const page = rows.slice(0, limit);
    const held = new Set<string>();
    for (let i = 0; i < page.length; i += 500) {
      const ids = page.slice(i, i + 500).map((r) => r.case_id);
      for (const c of await this.repo.legallyHeld(now.getTime(), ids)) held.add(c);
    }
    const toCase = (r: (typeof rows)[number]): RetentionCase => {
      const last = new Date(Number(r.updated_at));
      const until = new Date(last.getTime());
      until.setUTCFullYear(until.getUTCFullYear() + years);
      return {
        caseId: r.case_id,
        events: Number(r.last_seq),
        lastEvidenceAt: last.toISOString(),
        retainUntil: until.toISOString(),
      };
    };
    return {
      asOf: now.toISOString(),
      retentionYears: years,
      cutoff: cutoff.toISOString(),
      pastRetention: page.filter((r) => !held.has(r.case_id)).map(toCase),
      onLegalHold: page.filter((r) => held.has(r.case_id)).map(toCase),
      next: rows.length > limit ? page[page.length - 1].case_id : null,
      deleted: 0,
      note: 'Report only: evidence is never removed by a TTL and this service deletes nothing.',
    };
  }
}
