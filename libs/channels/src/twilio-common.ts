/**
 * What the Twilio adapters (SMS, voice) share: the official client with its timeout and optional
 * emulator base URL, the mapping of its errors, and the status callbacks they own (form body,
 * `X-Twilio-Signature` over the exact public URL, a dedup key per callback).
 */
import { createHash } from 'node:crypto';
import twilio from 'twilio';
import { ProviderError } from '#libs/core';
import { headerValue, type InboundRequest, type InboundResult } from './inbound.js';
import type { Json, OutboundMessage } from './provider.js';
import { createTwilioHttpClient } from './sms/twilio-http-client.js';

export interface TwilioAccount {
  accountSid: string;
  authToken: string;
  /** Base URL replacing https://api.twilio.com (a local emulator in tests). */
  apiBaseUrl?: string;
  timeoutMs: number;
}

/** The official client, never retrying by itself (the pipeline decides about retries). */
export function twilioClient(account: TwilioAccount): twilio.Twilio {
  const httpClient = account.apiBaseUrl
    ? createTwilioHttpClient(account.apiBaseUrl, { timeoutMs: account.timeoutMs })
    : undefined;
  return twilio(account.accountSid, account.authToken, {
    ...(httpClient ? { httpClient } : {}),
    timeout: account.timeoutMs,
    autoRetry: false,
  });
}

/** HTTP statuses after which the same request may succeed later. */
export function retryableStatus(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/** A client error as a ProviderError: `httpStatus` null when no answer came (ambiguous). */
export function twilioProviderError(provider: string, err: unknown, request: Json): ProviderError {
  const e = err as { status?: number; code?: number | string; message?: string };
  const status = typeof e.status === 'number' ? e.status : undefined;
  return new ProviderError(`${provider}: ${e.message ?? String(err)}`, retryableStatus(status), {
    httpStatus: status ?? null,
    providerCode: e.code ?? null,
    request,
  });
}

/** Where Twilio posts a message's or call's status: our id rides along (`nid`), signed with the URL. */
export function twilioCallbackUrl(message: OutboundMessage, webhookName: string): string {
  return `${message.webhookBaseUrl}/${webhookName}?nid=${message.notificationId}`;
}

/**
 * A status callback's form parameters once `X-Twilio-Signature` is right for them; otherwise the
 * refusal to answer (403, the same for SMS and calls).
 */
export function twilioCallback(
  req: InboundRequest,
  authToken: string,
): { params: Record<string, string> } | { refused: InboundResult } {
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) params[k] = v;
  const signature = headerValue(req, 'x-twilio-signature');
  if (verifyTwilioSignature(authToken, signature, req.url, params)) return { params };
  return {
    refused: { ok: false, status: 403, reason: `Invalid X-Twilio-Signature (${signature ? 'bad' : 'none'})` },
  };
}

/** Verifies `X-Twilio-Signature` against the exact public URL Twilio called. */
export function verifyTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Record<string, string>,
): boolean {
  if (!signature) return false;
  return twilio.validateRequest(authToken, signature, url, params);
}

/**
 * Twilio callbacks carry no event id: the same sid and status with the same parameters is the
 * same callback (a retry or a replay).
 */
export function twilioDedupKey(
  provider: string,
  sid: string,
  status: string,
  params: Record<string, string>,
): string {
  const sorted = Object.keys(params)
    .sort()
    .map((k) => [k, params[k]]);
  const digest = createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
  return `${provider}:${sid}:${status}:${digest}`;
}
