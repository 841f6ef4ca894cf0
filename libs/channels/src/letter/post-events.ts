import type { ReceiptOutcome } from '#libs/core';
import type { PostEvent, ReturnReason } from '../provider.js';

/**
 * The post channel's event vocabulary, shared by the print vendor, the print room and the sandbox.
 *
 * | event        | outcome       | postEvent    | notes                                              |
 * |--------------|---------------|--------------|----------------------------------------------------|
 * | `accepted`   | `queued`      | -            | the vendor has the letter                          |
 * | `printed`    | `queued`      | `printed`    | still in the print shop                            |
 * | `mailed`     | `sent`        | `mailed`     | handed to the postal service: counts as sent       |
 * | `in_transit` | `sent`        | `in_transit` | postal scan on the way                             |
 * | `delivered`  | `delivered`   | -            | `signer` = who signed for a registered letter      |
 * | `returned`   | `undelivered` | `returned`   | `returnReason` refused/unclaimed/bad_address/...   |
 * | `failed`     | `failed`      | -            | vendor could not produce or mail the letter        |
 * | `cancelled`  | `failed`      | -            | cancelled before mailing                           |
 * | anything else| `unknown`     | -            | never counted as success                           |
 */
export interface PostEventMapping {
  outcome: ReceiptOutcome;
  postEvent?: PostEvent;
}

const EVENT_ALIASES: Record<string, string> = {
  in_transit: 'in_transit',
  intransit: 'in_transit',
  transit: 'in_transit',
  mailed: 'mailed',
  posted: 'mailed',
  printed: 'printed',
  delivered: 'delivered',
  returned: 'returned',
  returned_to_sender: 'returned',
  failed: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  accepted: 'accepted',
};

function token(value: string): string {
  return value
    .normalize('NFKC')
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

/** Canonical event name (`In-Transit` -> `in_transit`), or null when the event is not one we know. */
export function canonicalPostEvent(event: string): string | null {
  return EVENT_ALIASES[token(event)] ?? null;
}

export function postEventOutcome(event: string): PostEventMapping {
  switch (canonicalPostEvent(event)) {
    case 'accepted':
      return { outcome: 'queued' };
    case 'printed':
      return { outcome: 'queued', postEvent: 'printed' };
    case 'mailed':
      return { outcome: 'sent', postEvent: 'mailed' };
    case 'in_transit':
      return { outcome: 'sent', postEvent: 'in_transit' };
    case 'delivered':
      return { outcome: 'delivered' };
    case 'returned':
      return { outcome: 'undelivered', postEvent: 'returned' };
    case 'failed':
    case 'cancelled':
      return { outcome: 'failed' };
    default:
      return { outcome: 'unknown' };
  }
}

/**
 * Return reasons as vendors and Chinese post offices write them. Refused (拒收) and unclaimed (无人签收,
 * 逾期未领) stay distinct: the difference matters in court.
 */
const RETURN_REASONS: Record<string, ReturnReason> = {
  refused: 'refused',
  refused_by_recipient: 'refused',
  rejected_by_recipient: 'refused',
  拒收: 'refused',
  收件人拒收: 'refused',
  拒绝签收: 'refused',
  拒签: 'refused',
  unclaimed: 'unclaimed',
  not_collected: 'unclaimed',
  uncollected: 'unclaimed',
  not_picked_up: 'unclaimed',
  无人签收: 'unclaimed',
  无人领取: 'unclaimed',
  逾期未领: 'unclaimed',
  招领逾期: 'unclaimed',
  bad_address: 'bad_address',
  insufficient_address: 'bad_address',
  no_such_address: 'bad_address',
  address_not_found: 'bad_address',
  undeliverable_address: 'bad_address',
  addressee_unknown: 'bad_address',
  地址不详: 'bad_address',
  地址错误: 'bad_address',
  查无此地址: 'bad_address',
  查无此人: 'bad_address',
  moved: 'moved',
  moved_left_no_address: 'moved',
  moved_no_forwarding: 'moved',
  迁移新址不明: 'moved',
  已搬迁: 'moved',
  搬迁: 'moved',
  other: 'other',
  其他: 'other',
};

/** Normalised return reason, or null when the text is empty or not recognised. */
export function normaliseReturnReason(reason: string | null | undefined): ReturnReason | null {
  if (!reason) return null;
  return RETURN_REASONS[token(reason)] ?? null;
}
