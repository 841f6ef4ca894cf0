/**
 * What a provider that takes delivery reports over HTTP implements: it owns its webhook (its
 * signature or token check and its payload format) and hands back normalised receipts. The api's
 * one ingress, `POST /webhooks/:provider`, finds the owner by `webhookName`, calls `receive`,
 * stores the receipts and answers with the owner's `reply` (a provider expects its own answer:
 * Aliyun `{"code":0}`, Tencent `{"result":0}`, Twilio an empty 2xx). Replays are answered the
 * same way: the receipt store drops them by dedup key.
 */
import type { Json, NormalisedReceipt } from './provider.js';

export interface InboundRequest {
  /** The exact public URL the provider called, query string included (Twilio signs it). */
  url: string;
  /** Lower-case header names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string>;
  /** The body bytes exactly as received (signatures are over them). */
  body: Buffer;
  /** Media type without parameters, lower case (`application/json`). */
  contentType: string;
  now: Date;
}

export interface InboundReply {
  status: number;
  /** JSON body (sent as application/json), or nothing (empty body). */
  body?: Json;
}

/** What became of an owner's receipts once stored (for answers that report it). */
export interface StoredSummary {
  received: number;
  /** Applied to a notification of theirs. */
  matched: number;
  /** Already stored (same dedup key): nothing added. */
  replays: number;
}

export type InboundResult =
  | {
      ok: true;
      receipts: NormalisedReceipt[];
      /** How the request was authenticated, kept with every receipt in the evidence. */
      verification: { [key: string]: Json };
      /** The answer, or a function of what the receipt store did with the receipts. */
      reply: InboundReply | ((stored: StoredSummary) => InboundReply);
    }
  | {
      ok: false;
      /** 400 malformed, 401 unauthenticated (no or bad signature/token), 404 not configured. */
      status: 400 | 401 | 403 | 404;
      reason: string;
    };

export interface WebhookOwner {
  /** The `:provider` segment of `POST /webhooks/:provider` this owner answers. */
  readonly webhookName: string;
  receive(req: InboundRequest): Promise<InboundResult>;
}

export function isWebhookOwner(p: unknown): p is WebhookOwner {
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof (p as WebhookOwner).webhookName === 'string' &&
    typeof (p as WebhookOwner).receive === 'function'
  );
}

/** A header's single value (the first when repeated). */
export function headerValue(req: InboundRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
