import { Injectable } from '@nestjs/common';
import { Db } from '#libs/persistence';

/** A notice as the public verification page needs it (a stored row, nothing derived). */
export interface IssuedNoticeRow {
  id: string;
  case_id: string;
  channel: string;
  template_key: string;
  template_version: number;
  locale: string;
  recipient: string;
  recipient_address: string;
  status: string;
  created_at: string | number;
}

const COLUMNS =
  'id, case_id, channel, template_key, template_version, locale, recipient, recipient_address, status, created_at';

/** The notices behind documents the verification page looks up. */
@Injectable()
export class IssuedNoticeRepository {
  constructor(private readonly db: Db) {}

  async byId(id: string): Promise<IssuedNoticeRow | null> {
    const [row] = await this.db.rows<IssuedNoticeRow>(`SELECT ${COLUMNS} FROM notifications WHERE id = ?`, [
      id,
    ]);
    return row ?? null;
  }

  /** Later notices of the same case, channel and address (one may supersede the document). */
  laterOnSameAddress(row: IssuedNoticeRow, limit = 200): Promise<IssuedNoticeRow[]> {
    return this.db.rows<IssuedNoticeRow>(
      `SELECT ${COLUMNS} FROM notifications WHERE case_id = ? AND channel = ? AND recipient_address = ? AND created_at > ? ORDER BY created_at LIMIT ?`,
      [row.case_id, row.channel, row.recipient_address, Number(row.created_at), limit],
    );
  }
}
