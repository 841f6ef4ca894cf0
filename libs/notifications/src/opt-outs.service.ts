import { Inject, Injectable } from '@nestjs/common';
import { type Channel, CLOCK, type Clock } from '#libs/core';
import { Db } from '#libs/persistence';

export type OptOutReason = 'opt_out' | 'complaint' | 'hard_bounce' | 'contact_refused';

/** Opt-outs per address and channel (`*` = every channel), and contacts who refused. */
@Injectable()
export class OptOutsService {
  constructor(
    private readonly db: Db,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async add(address: string, channel: Channel | '*', reason: OptOutReason, source: string): Promise<void> {
    await this.db.exec(
      'INSERT INTO opt_outs (address, channel, reason, source, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (address, channel) DO NOTHING',
      [address.trim().toLowerCase(), channel, reason, source, this.clock.now().getTime()],
    );
  }

  async list(address: string): Promise<{ channel: string; reason: string; createdAt: string }[]> {
    const rows = await this.db.rows<{ channel: string; reason: string; created_at: string | number }>(
      'SELECT channel, reason, created_at FROM opt_outs WHERE address = ? ORDER BY created_at',
      [address.trim().toLowerCase()],
    );
    return rows.map((r) => ({
      channel: r.channel,
      reason: r.reason,
      createdAt: new Date(Number(r.created_at)).toISOString(),
    }));
  }
}
