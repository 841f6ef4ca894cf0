import { ProviderError } from '#libs/core';
import type { InboundRequest, InboundResult, WebhookOwner } from '../inbound.js';
import type { ChannelProvider, Json, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';
import { checkLetter } from './letter-request.js';
import { postEventOutcome } from './post-events.js';
import {
  parseVendorEvents,
  verifyVendorWebhook,
  vendorEventToReceipt,
  type HeaderBag,
  type VendorEvent,
  type VerifyOptions,
  type WebhookVerification,
} from './vendor-webhook.js';

export interface PrintVendorSettings {
  /** e.g. https://api.vendor.example (no trailing /v1). */
  apiBaseUrl: string;
  apiKey: string;
  /** Per request, ms. */
  timeoutMs: number;
  /** Webhook signing secret(s); several during a rotation. */
  webhookSecret?: string | readonly string[];
  /** Provider name recorded in receipts and evidence. Default `print-vendor`. */
  name?: string;
  /** Letters made with a test key are never mailed: their receipts are marked sandbox. */
  sandbox?: boolean;
  fetch?: typeof fetch;
}

/** The vendor's letter resource (`GET /v1/letters/:id`). */
export interface VendorLetter {
  id: string;
  reference: string;
  documentId: string;
  service: 'registered' | 'ordinary';
  status: string;
  pdfSha256: string;
  createdAt: string;
  updatedAt?: string;
  trackingNumber?: string | null;
  livemode?: boolean;
  events?: VendorEvent[];
}

interface VendorErrorBody {
  error?: { code?: string; message?: string };
}

/**
 * HTTP statuses after which the same request may succeed later: 408, 429, 5xx, and the 409 the vendor
 * answers while another request with the same Idempotency-Key is still running. Other 4xx are final.
 */
function retryableStatus(status: number, code: string | undefined): boolean {
  if (status === 409) return code === 'idempotency_in_progress';
  return status === 408 || status === 429 || status >= 500;
}

function summary(letter: VendorLetter, replayed: boolean): Json {
  return {
    id: letter.id,
    status: letter.status,
    reference: letter.reference ?? null,
    documentId: letter.documentId ?? null,
    service: letter.service ?? null,
    pdfSha256: letter.pdfSha256 ?? null,
    createdAt: letter.createdAt ?? null,
    trackingNumber: letter.trackingNumber ?? null,
    idempotentReplayed: replayed,
  };
}

/**
 * Registered and ordinary letters through a print-and-mail vendor's HTTP JSON API (docs/post.md).
 * `send` is safe to retry: our notification id is the `Idempotency-Key` and the letter's `reference`,
 * so a repeat returns the first letter, and `findSent` finds it by reference after a crash.
 */
export class PrintVendorProvider implements ChannelProvider, WebhookOwner {
  readonly name: string;
  readonly channel = 'letter' as const;
  readonly sandbox: boolean;
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly settings: PrintVendorSettings) {
    this.name = settings.name ?? 'print-vendor';
    this.sandbox = settings.sandbox ?? false;
    this.base = settings.apiBaseUrl.replace(/\/+$/, '');
    this.fetchImpl = settings.fetch ?? globalThis.fetch;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const { letter, address } = checkLetter(this.name, message);
    const recipient = {
      name: letter.recipientName.trim(),
      addressLines: address.addressLines,
      postcode: address.postcode,
      country: address.country,
    };
    const body = {
      reference: message.notificationId,
      documentId: letter.documentId,
      service: letter.service,
      recipient,
      callbackUrl: message.webhookBaseUrl ? `${message.webhookBaseUrl}/${this.webhookName}` : undefined,
      pdf: letter.pdf.toString('base64'),
      pdfSha256: letter.pdfSha256.toLowerCase(),
    };
    // What goes into the evidence: everything but the PDF bytes (its hash stands for them) and the key.
    const request: Json = {
      method: 'POST',
      path: '/v1/letters',
      idempotencyKey: message.notificationId,
      reference: body.reference,
      documentId: body.documentId,
      service: body.service,
      recipient,
      callbackUrl: body.callbackUrl ?? null,
      pdfSha256: body.pdfSha256,
      pdfBytes: letter.pdf.length,
    };
    const res = await this.call('POST', '/v1/letters', request, JSON.stringify(body), {
      'Idempotency-Key': message.notificationId,
    });
    const created = (await this.readJson(res, request)) as Partial<VendorLetter>;
    if (typeof created.id !== 'string' || !created.id) {
      // The vendor answered 2xx but we cannot tell which letter: ambiguous, reconcile via findSent.
      throw new ProviderError(`${this.name}: create answer has no letter id`, true, {
        httpStatus: null,
        responseStatus: res.status,
        ambiguous: true,
        request,
      });
    }
    const replayed = res.headers.get('idempotent-replayed') === 'true';
    const raw = summary({ ...(created as VendorLetter) }, replayed) as Record<string, Json>;
    if (created.pdfSha256 && created.pdfSha256 !== body.pdfSha256) {
      // An earlier attempt with this key carried another PDF: that one is the letter being mailed.
      raw.pdfMismatch = true;
    }
    return {
      providerMessageId: created.id,
      acceptedAt: created.createdAt ? new Date(created.createdAt) : new Date(),
      request,
      raw,
    };
  }

  async poll(providerMessageId: string, message?: OutboundMessage): Promise<NormalisedReceipt | null> {
    const request: Json = { method: 'GET', path: `/v1/letters/${providerMessageId}` };
    const res = await this.call(
      'GET',
      `/v1/letters/${encodeURIComponent(providerMessageId)}`,
      request,
      null,
      {},
      [404],
    );
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    const letter = (await this.readJson(res, request)) as VendorLetter;
    return this.letterReceipt(letter, message?.notificationId ?? null);
  }

  /** The current state of a letter as a receipt: its latest event, or its status when it has none. */
  letterReceipt(letter: VendorLetter, notificationId: string | null): NormalisedReceipt {
    const events = letter.events ?? [];
    const last = events[events.length - 1];
    const polled: Json = { polled: true, letter: summary(letter, false) };
    if (last) {
      const r = vendorEventToReceipt(last, this.name);
      return {
        ...r,
        notificationId: r.notificationId ?? letter.reference ?? notificationId,
        sandbox: r.sandbox || this.sandbox || letter.livemode === false,
        raw: { ...(polled as Record<string, Json>), event: r.raw },
      };
    }
    const mapping = postEventOutcome(letter.status);
    return {
      provider: this.name,
      providerMessageId: letter.id,
      notificationId: letter.reference ?? notificationId,
      outcome: mapping.outcome,
      providerStatus: letter.status,
      ...(mapping.postEvent ? { postEvent: mapping.postEvent } : {}),
      occurredAt: new Date(letter.updatedAt ?? letter.createdAt),
      sandbox: this.sandbox || letter.livemode === false,
      raw: polled,
    };
  }

  async findSent(message: OutboundMessage, since: Date): Promise<SendResult | null> {
    void since; // the reference is unique: no time window needed
    const path = `/v1/letters?reference=${encodeURIComponent(message.notificationId)}`;
    const request: Json = { method: 'GET', path, reconciledBy: 'reference' };
    const res = await this.call('GET', path, request, null);
    const list = (await this.readJson(res, request)) as { data?: VendorLetter[] };
    const matches = (list.data ?? []).filter((l) => l.reference === message.notificationId);
    if (matches.length === 0) return null;
    matches.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    const first = matches[0] as VendorLetter;
    const raw = summary(first, false) as Record<string, Json>;
    if (matches.length > 1) raw.duplicates = matches.slice(1).map((l) => l.id);
    return { providerMessageId: first.id, acceptedAt: new Date(first.createdAt), request, raw };
  }

  /**
   * Verifies a webhook with the configured secret(s). Replays pass: the receipts' dedup key
   * refuses them in the transaction that would apply them.
   */
  verifyWebhook(
    headers: HeaderBag,
    rawBody: string | Buffer,
    now: Date = new Date(),
    options?: VerifyOptions,
  ): WebhookVerification {
    const secret = this.settings.webhookSecret;
    if (!secret || secret.length === 0) {
      return { ok: false, reason: 'bad_signature', message: 'no webhook secret configured' };
    }
    return verifyVendorWebhook(secret, headers, rawBody, now, options);
  }

  get webhookName(): string {
    return this.name;
  }

  /**
   * A vendor webhook: HMAC-SHA256 over `timestamp.body`, 5-minute tolerance. A replay is answered
   * 200 and changes nothing (the receipt store drops it by dedup key, in the transaction that would
   * apply it, so a failed ingest claims nothing and the redelivery is applied).
   */
  async receive(req: InboundRequest): Promise<InboundResult> {
    const check = this.verifyWebhook(req.headers, req.body, req.now);
    if (!check.ok) return { ok: false, status: 401, reason: `Webhook rejected: ${check.reason}` };
    let json: unknown;
    try {
      json = JSON.parse(req.body.toString('utf8'));
    } catch {
      return { ok: false, status: 400, reason: 'Body is not valid JSON' };
    }
    return {
      ok: true,
      receipts: this.parseReceipts(json),
      verification: { verified: true, via: 'vendor-webhook', eventId: check.eventId },
      reply: (s) => ({
        status: 200,
        body: { received: s.received - s.replays, ...(s.replays > 0 ? { replay: true } : {}) },
      }),
    };
  }

  /** Normalises a verified webhook body. */
  parseReceipts(json: unknown): NormalisedReceipt[] {
    return parseVendorEvents(json, this.name).map((r) => (this.sandbox ? { ...r, sandbox: true } : r));
  }

  // ---------------------------------------------------------------- HTTP

  private async call(
    method: 'GET' | 'POST',
    path: string,
    request: Json,
    body: string | null,
    headers: Record<string, string> = {},
    allow: number[] = [],
  ): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.settings.apiKey}`,
          Accept: 'application/json',
          ...(body !== null ? { 'Content-Type': 'application/json' } : {}),
          ...headers,
        },
        body,
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
    } catch (err) {
      // Timeout or connection error: the vendor may or may not have the letter (ambiguous).
      const e = err as Error & { cause?: { code?: string } };
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
      throw new ProviderError(`${this.name}: ${timedOut ? 'request timed out' : e.message}`, true, {
        httpStatus: null,
        ambiguous: true,
        providerCode: timedOut ? 'timeout' : (e.cause?.code ?? 'network'),
        request,
      });
    }
    if (res.ok || allow.includes(res.status)) return res;
    const text = await res.text().catch(() => '');
    let parsed: VendorErrorBody = {};
    try {
      parsed = JSON.parse(text) as VendorErrorBody;
    } catch {
      // not JSON: keep the status only
    }
    const retryAfter = res.headers.get('retry-after');
    const retryAfterMs = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : null;
    throw new ProviderError(
      `${this.name}: HTTP ${res.status}${parsed.error?.message ? ` ${parsed.error.message}` : ''}`,
      retryableStatus(res.status, parsed.error?.code),
      {
        httpStatus: res.status,
        providerCode: parsed.error?.code ?? null,
        ...(retryAfterMs !== null ? { retryAfterMs } : {}),
        request,
      },
    );
  }

  private async readJson(res: Response, request: Json): Promise<unknown> {
    try {
      return (await res.json()) as unknown;
    } catch (err) {
      throw new ProviderError(`${this.name}: unreadable answer (${(err as Error).message})`, true, {
        httpStatus: null,
        responseStatus: res.status,
        ambiguous: true,
        request,
      });
    }
  }
}
