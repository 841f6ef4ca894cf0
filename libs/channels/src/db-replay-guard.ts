import { Db } from '#libs/persistence';
import type { ReplayGuard } from './post/vendor-webhook.js';

/**
 * Replay guard backed by the database: a webhook event id is accepted once, atomically. Rows are
 * kept (an event older than the signature tolerance is refused by its timestamp anyway).
 */
export class DbReplayGuard implements ReplayGuard {
  constructor(private readonly db: Db) {}

  async claim(key: string, expiresAt: Date): Promise<boolean> {
    const inserted = await this.db.exec(
      'INSERT INTO webhook_replays (replay_key, expires_at) VALUES (?, ?) ON CONFLICT (replay_key) DO NOTHING',
      [key, expiresAt.getTime()],
    );
    return inserted === 1;
  }

  async release(key: string): Promise<void> {
    await this.db.exec('DELETE FROM webhook_replays WHERE replay_key = ?', [key]);
  }
}
