import type { SqlRunner } from './database.js';

/**
 * The read-only figures health checks and metrics take from the database: one definition of each
 * (the readiness check and the lag gauge ask the same question and must get the same answer).
 */
export const PipelineStats = {
  /** When the oldest notification that is due but not yet picked up became due; null when none is. */
  async oldestDueAt(db: SqlRunner, now: number): Promise<number | null> {
    const [r] = await db.rows<{ oldest: string | number | null }>(
      "SELECT MIN(COALESCE(not_before, updated_at)) AS oldest FROM notifications WHERE status IN ('accepted', 'scheduled') AND (not_before IS NULL OR not_before <= ?)",
      [now],
    );
    return r?.oldest === null || r?.oldest === undefined ? null : Number(r.oldest);
  },

  async countsByChannelAndStatus(db: SqlRunner): Promise<{ channel: string; status: string; n: number }[]> {
    const rows = await db.rows<{ channel: string; status: string; n: string | number }>(
      'SELECT channel, status, COUNT(*) AS n FROM notifications GROUP BY channel, status',
    );
    return rows.map((r) => ({ channel: r.channel, status: r.status, n: Number(r.n) }));
  },

  async openEvidenceAlerts(db: SqlRunner): Promise<number> {
    const [r] = await db.rows<{ n: string | number }>(
      'SELECT COUNT(*) AS n FROM evidence_alerts WHERE acked_at IS NULL',
    );
    return Number(r?.n ?? 0);
  },
};
