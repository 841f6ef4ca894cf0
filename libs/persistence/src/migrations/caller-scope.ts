import { Logger } from '@nestjs/common';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { storedAddressKey } from '#libs/core';

/**
 * Caller-scoped idempotency and normalised opt-outs (issue 13, docs/api.md and
 * docs/compliance.md):
 * - `notifications.idempotency_scope` holds the caller a key belongs to; keys are unique per
 *   (key, scope). Rows from before keep scope NULL and still answer an identical retry
 *   (NotificationRepository.byIdempotencyKey), so existing keys keep working.
 * - every `opt_outs.address` is rewritten to the key sends match on (E.164 numbers, lower-case
 *   email: libs/core/src/address-key.ts); two rows that become one keep the earliest. Rows that
 *   do not normalise stay as they were and are listed in `opt_outs_unnormalised` (and logged),
 *   for an operator to fix by hand: an opt-out is never dropped.
 */
const schema = [
  'ALTER TABLE notifications ADD COLUMN idempotency_scope VARCHAR(80) NULL',
  'DROP INDEX ux_notifications_idempotency',
  'CREATE UNIQUE INDEX ux_notifications_idempotency_scope ON notifications (idempotency_key, idempotency_scope)',
  `CREATE TABLE opt_outs_unnormalised (
    address VARCHAR(320) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    reason VARCHAR(32) NOT NULL,
    problem TEXT NOT NULL,
    found_at BIGINT NOT NULL,
    PRIMARY KEY (address, channel)
  )`,
];

interface OptOutRow {
  address: string;
  channel: string;
  reason: string;
  created_at: string | number;
}

/** The opt-out key of a stored row, or null when it is neither a number nor an email (nor a letter key). */
export function migratedOptOutKey(address: string, channel: string): string | null {
  if (channel === 'letter') return address.trim();
  const key = storedAddressKey(channel, address);
  if (channel === 'sms') return key.startsWith('+') ? key : null;
  if (channel === 'email') return key.includes('@') ? key : null;
  // '*': a number or an email.
  return key.startsWith('+') || key.includes('@') ? key : null;
}

async function normaliseOptOuts(q: QueryRunner, ph: (i: number) => string): Promise<void> {
  const log = new Logger('Migration');
  const rows = (await q.query(
    'SELECT address, channel, reason, created_at FROM opt_outs ORDER BY created_at',
  )) as OptOutRow[];
  const now = Date.now();
  let changed = 0;
  const refused: string[] = [];
  for (const r of rows) {
    const key = migratedOptOutKey(r.address, r.channel);
    if (key === null) {
      refused.push(`${r.channel}:${r.address.slice(0, 3)}…`);
      await q.query(
        `INSERT INTO opt_outs_unnormalised (address, channel, reason, problem, found_at) VALUES (${ph(1)}, ${ph(2)}, ${ph(3)}, ${ph(4)}, ${ph(5)}) ON CONFLICT (address, channel) DO NOTHING`,
        [r.address, r.channel, r.reason, 'not a valid phone number or email address', now],
      );
      continue;
    }
    if (key === r.address) continue;
    changed++;
    const taken = (await q.query(
      `SELECT address FROM opt_outs WHERE address = ${ph(1)} AND channel = ${ph(2)}`,
      [key, r.channel],
    )) as unknown[];
    if (taken.length > 0) {
      // Rows are visited oldest first, so the normalised row already there is the earlier one.
      await q.query(`DELETE FROM opt_outs WHERE address = ${ph(1)} AND channel = ${ph(2)}`, [
        r.address,
        r.channel,
      ]);
    } else {
      await q.query(
        `UPDATE opt_outs SET address = ${ph(1)} WHERE address = ${ph(2)} AND channel = ${ph(3)}`,
        [key, r.address, r.channel],
      );
    }
  }
  if (changed || refused.length) {
    log.warn(
      `opt-outs normalised: ${changed} rewritten; ${refused.length} could not be normalised and are listed in opt_outs_unnormalised${
        refused.length ? ` (${refused.slice(0, 20).join(', ')})` : ''
      }`,
    );
  }
}

async function down(q: QueryRunner): Promise<void> {
  await q.query('DROP TABLE opt_outs_unnormalised');
  await q.query('DROP INDEX ux_notifications_idempotency_scope');
  await q.query('CREATE UNIQUE INDEX ux_notifications_idempotency ON notifications (idempotency_key)');
  await q.query('ALTER TABLE notifications DROP COLUMN idempotency_scope');
}

export class CallerScopeSqlite1764630000000 implements MigrationInterface {
  name = 'CallerScopeSqlite1764630000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of schema) await q.query(sql);
    await normaliseOptOuts(q, () => '?');
  }
  down = down;
}

export class CallerScopePostgres1764630000000 implements MigrationInterface {
  name = 'CallerScopePostgres1764630000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of schema) await q.query(sql);
    await normaliseOptOuts(q, (i) => `$${i}`);
  }
  down = down;
}
