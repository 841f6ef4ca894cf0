/**
 * A local emulator of the print-and-mail vendor API described in docs/post.md, for tests and benchmarks.
 *
 * - `POST /v1/letters` (Bearer API key, optional `Idempotency-Key`): validates the letter (PDF magic,
 *   SHA-256, recipient), stores it and answers 201 `{ id, status: 'accepted', createdAt, ... }`. A repeat
 *   with the same key answers 200 with the first letter and `Idempotent-Replayed: true` (no new letter).
 * - `GET /v1/letters/:id`, `GET /v1/letters?reference=...` (`{ data: [...] }`).
 * - After a create, a script of events runs (printed -> mailed -> in_transit -> delivered, signed by the
 *   recipient) unless the postcode has another outcome (`postcodeOutcomes`, `setPostcodeOutcome`); each
 *   event is POSTed as a signed webhook (HMAC-SHA256 over `${timestamp}.${body}`) to the letter's
 *   `callbackUrl` or the account `webhookUrl`, retried on errors with the same event id.
 * - Faults: `failNext(n, status)` answers the next n creates with that status (no letter); `hang(n)` stores
 *   the next n letters but never answers (client timeout: the ambiguous case).
 *
 * The signing code is written here independently of the adapter, so the tests cross-check both.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedEvent {
  type: string;
  signer?: string;
  returnReason?: string;
  detail?: string;
  /** Default: the emulator's clock when the event is emitted. */
  occurredAt?: string;
}

export interface PrintVendorEmulatorOptions {
  apiKey: string;
  webhookSecret: string;
  /** Account-level webhook endpoint; a letter's `callbackUrl` takes precedence. */
  webhookUrl?: string;
  /** Run the event script after each create (default true). */
  autoEvents?: boolean;
  /** Delay before each scripted event, ms (default 0). */
  eventDelayMs?: number;
  /** Final event per postcode instead of `delivered`, e.g. `{ '100001': { type: 'returned', returnReason: 'refused' } }`. */
  postcodeOutcomes?: Record<string, ScriptedEvent>;
  /** Letters are "live" (default true); false marks events `livemode: false` like a test key. */
  livemode?: boolean;
  /** Webhook redeliveries after an error or non-2xx answer (default 2). */
  webhookRetries?: number;
  /** Clock for createdAt / webhook timestamps (default Date.now). */
  now?: () => number;
}

export interface EmulatedRecipient {
  name: string;
  addressLines: string[];
  postcode: string;
  country: string;
}

export interface EmulatedEvent {
  id: string;
  type: string;
  letterId: string;
  reference: string | null;
  documentId: string;
  occurredAt: string;
  trackingNumber: string;
  signer: string | null;
  returnReason: string | null;
  detail: string | null;
  livemode: boolean;
}

export interface EmulatedLetter {
  id: string;
  reference: string;
  documentId: string;
  service: 'registered' | 'ordinary';
  status: string;
  recipient: EmulatedRecipient;
  pdfSha256: string;
  pdfBytes: number;
  callbackUrl: string | null;
  idempotencyKey: string | null;
  createdAt: string;
  updatedAt: string;
  trackingNumber: string;
  livemode: boolean;
  events: EmulatedEvent[];
}

export interface WebhookDelivery {
  eventId: string;
  type: string;
  url: string | null;
  attempts: number;
  httpStatus: number | null;
  ok: boolean;
}

interface StoredLetter extends EmulatedLetter {
  pdf: Buffer;
}

const MAX_BODY_BYTES = 25 * 1024 * 1024;
const SERVICES = new Set(['registered', 'ordinary']);

/** UPU S10 tracking number (`RR` + 8 digits + check digit + `CN`). */
export function s10TrackingNumber(serial: number): string {
  const digits = String(serial % 100_000_000).padStart(8, '0');
  const weights = [8, 6, 4, 2, 3, 5, 9, 7];
  const sum = [...digits].reduce((acc, d, i) => acc + Number(d) * (weights[i] as number), 0);
  let check = 11 - (sum % 11);
  if (check === 10) check = 0;
  else if (check === 11) check = 5;
  return `RR${digits}${check}CN`;
}

export class PrintVendorEmulator {
  private readonly opts: PrintVendorEmulatorOptions;
  private readonly now: () => number;
  private readonly postcodeOutcomes: Map<string, ScriptedEvent>;
  private server: http.Server | undefined;
  private baseUrl: string | undefined;
  private readonly letters = new Map<string, StoredLetter>();
  private readonly byKey = new Map<string, string>();
  private createRequests = 0;
  private replays = 0;
  private failQueue: number[] = [];
  private hangCount = 0;
  private serial = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly hung = new Set<http.ServerResponse>();
  readonly deliveries: WebhookDelivery[] = [];
  private stopped = false;

  constructor(opts: PrintVendorEmulatorOptions) {
    this.opts = { ...opts };
    this.now = opts.now ?? Date.now;
    this.postcodeOutcomes = new Map(Object.entries(opts.postcodeOutcomes ?? {}));
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error('PrintVendorEmulator already started');
    this.stopped = false;
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    this.baseUrl = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('PrintVendorEmulator not started');
    return this.baseUrl;
  }

  set webhookUrl(url: string | undefined) {
    this.opts.webhookUrl = url;
  }

  /** Every POST /v1/letters received (answered, failed, hung, unauthorised). */
  get createCount(): number {
    return this.createRequests;
  }

  /** Distinct letters stored (what would be printed and mailed). */
  get letterCount(): number {
    return this.letters.size;
  }

  /** Creates answered from the idempotency store. */
  get replayCount(): number {
    return this.replays;
  }

  /** The next `n` creates are answered with `status` (default 503) and store nothing. */
  failNext(n: number, status = 503): void {
    for (let i = 0; i < n; i++) this.failQueue.push(status);
  }

  /** The next `n` creates store the letter but never answer (the client times out). */
  hang(n = 1): void {
    this.hangCount += n;
  }

  setPostcodeOutcome(postcode: string, outcome: ScriptedEvent | undefined): void {
    if (outcome) this.postcodeOutcomes.set(postcode, outcome);
    else this.postcodeOutcomes.delete(postcode);
  }

  listLetters(filter: { reference?: string } = {}): EmulatedLetter[] {
    return [...this.letters.values()]
      .filter((l) => filter.reference === undefined || l.reference === filter.reference)
      .map((l) => this.view(l));
  }

  letter(id: string): EmulatedLetter | undefined {
    const l = this.letters.get(id);
    return l ? this.view(l) : undefined;
  }

  /** The stored PDF bytes of a letter. */
  pdf(id: string): Buffer | undefined {
    return this.letters.get(id)?.pdf;
  }

  /** Resolves when every scripted event and webhook started so far is done. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** The script a letter to `postcode` gets. */
  scriptFor(letter: { recipient: EmulatedRecipient }): ScriptedEvent[] {
    const final = this.postcodeOutcomes.get(letter.recipient.postcode) ?? {
      type: 'delivered',
      signer: letter.recipient.name,
    };
    if (final.type === 'failed' || final.type === 'cancelled') return [final];
    return [{ type: 'printed' }, { type: 'mailed' }, { type: 'in_transit' }, final];
  }

  /** Applies events to a letter and POSTs each as a signed webhook (sequentially); returns the deliveries. */
  async emit(letterId: string, events: Array<ScriptedEvent | string>): Promise<WebhookDelivery[]> {
    const letter = this.letters.get(letterId);
    if (!letter) throw new Error(`unknown letter ${letterId}`);
    const out: WebhookDelivery[] = [];
    for (const e of events) {
      const spec = typeof e === 'string' ? { type: e } : e;
      const event: EmulatedEvent = {
        id: `evt_${randomBytes(12).toString('hex')}`,
        type: spec.type,
        letterId: letter.id,
        reference: letter.reference,
        documentId: letter.documentId,
        occurredAt: spec.occurredAt ?? new Date(this.now()).toISOString(),
        trackingNumber: letter.trackingNumber,
        signer: spec.signer ?? null,
        returnReason: spec.returnReason ?? null,
        detail: spec.detail ?? null,
        livemode: letter.livemode,
      };
      letter.events.push(event);
      letter.status = spec.type;
      letter.updatedAt = event.occurredAt;
      const delivery = await this.deliver(letter.callbackUrl ?? this.opts.webhookUrl ?? null, event);
      this.deliveries.push(delivery);
      out.push(delivery);
    }
    return out;
  }

  /** Signs a webhook body the way the vendor does: `v1=` + HMAC-SHA256(secret, `${ts}.${body}`). */
  sign(timestamp: number, body: string): string {
    return `v1=${createHmac('sha256', this.opts.webhookSecret).update(`${timestamp}.${body}`).digest('hex')}`;
  }

  /** Headers and body of a webhook for `event` signed at `timestamp` (for replay/tamper tests). */
  signedWebhook(event: EmulatedEvent, timestamp = Math.floor(this.now() / 1000)) {
    const body = JSON.stringify(event);
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-vendor-timestamp': String(timestamp),
        'x-vendor-signature': this.sign(timestamp, body),
        'x-vendor-event-id': event.id,
      },
    };
  }

  private async deliver(url: string | null, event: EmulatedEvent): Promise<WebhookDelivery> {
    const delivery: WebhookDelivery = {
      eventId: event.id,
      type: event.type,
      url,
      attempts: 0,
      httpStatus: null,
      ok: false,
    };
    if (!url) return delivery;
    const retries = this.opts.webhookRetries ?? 2;
    for (let attempt = 0; attempt <= retries && !this.stopped; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
      delivery.attempts += 1;
      const { body, headers } = this.signedWebhook(event);
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        delivery.httpStatus = res.status;
        delivery.ok = res.status >= 200 && res.status < 300;
        if (delivery.ok || (res.status >= 400 && res.status < 500 && res.status !== 429)) break;
      } catch {
        delivery.httpStatus = null;
      }
    }
    return delivery;
  }

  private track<T>(p: Promise<T>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
  }

  private runScript(letter: StoredLetter): void {
    const delay = this.opts.eventDelayMs ?? 0;
    this.track(
      (async () => {
        for (const e of this.scriptFor(letter)) {
          if (delay > 0) await new Promise((r) => setTimeout(r, delay));
          if (this.stopped) return;
          await this.emit(letter.id, [e]);
        }
      })(),
    );
  }

  private view(l: StoredLetter): EmulatedLetter {
    const { pdf: _pdf, ...rest } = l;
    return { ...rest, recipient: { ...rest.recipient }, events: rest.events.map((e) => ({ ...e })) };
  }

  /** The letter as the API returns it (no PDF, no idempotency key). */
  private resource(l: StoredLetter) {
    const { pdf: _pdf, idempotencyKey: _key, callbackUrl: _cb, ...rest } = l;
    return rest;
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const isCreate = req.method === 'POST' && url.pathname === '/v1/letters';
    if (isCreate) this.createRequests += 1;
    if (req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      req.resume();
      return this.error(res, 401, 'unauthenticated', 'invalid API key');
    }
    if (isCreate) return this.create(req, res);
    req.resume();
    if (req.method !== 'GET') return this.error(res, 405, 'method_not_allowed', `${req.method} not allowed`);
    if (url.pathname === '/v1/letters') {
      const reference = url.searchParams.get('reference');
      const data = [...this.letters.values()]
        .filter((l) => reference === null || l.reference === reference)
        .map((l) => this.resource(l));
      return this.json(res, 200, { data });
    }
    const m = /^\/v1\/letters\/([A-Za-z0-9_]+)$/.exec(url.pathname);
    const letter = m ? this.letters.get(m[1] as string) : undefined;
    if (!letter) return this.error(res, 404, 'not_found', 'no such letter');
    return this.json(res, 200, this.resource(letter));
  }

  private async create(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const failStatus = this.failQueue.shift();
    if (failStatus !== undefined) {
      req.resume();
      if (failStatus === 429) res.setHeader('Retry-After', '1');
      return this.error(
        res,
        failStatus,
        failStatus === 429 ? 'rate_limited' : 'unavailable',
        'injected failure',
      );
    }
    let raw: Buffer;
    try {
      raw = await this.readBody(req);
    } catch {
      return this.error(res, 413, 'payload_too_large', 'body too large');
    }
    const key = req.headers['idempotency-key'];
    const idemKey = typeof key === 'string' && key.length > 0 ? key : null;
    if (idemKey !== null) {
      const existing = this.byKey.get(idemKey);
      const letter = existing ? this.letters.get(existing) : undefined;
      if (letter) {
        this.replays += 1;
        res.setHeader('Idempotent-Replayed', 'true');
        return this.json(res, 200, this.resource(letter));
      }
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return this.error(res, 400, 'invalid_json', 'body must be a JSON object');
    }
    const problem = this.validate(body);
    if (problem) return this.error(res, 422, problem.code, problem.message);
    const pdf = Buffer.from(body.pdf as string, 'base64');
    const recipient = body.recipient as EmulatedRecipient;
    const nowIso = new Date(this.now()).toISOString();
    const letter: StoredLetter = {
      id: `ltr_${randomBytes(12).toString('hex')}`,
      reference: body.reference as string,
      documentId: body.documentId as string,
      service: body.service as 'registered' | 'ordinary',
      status: 'accepted',
      recipient: {
        name: recipient.name,
        addressLines: [...recipient.addressLines],
        postcode: recipient.postcode,
        country: recipient.country,
      },
      pdfSha256: (body.pdfSha256 as string).toLowerCase(),
      pdfBytes: pdf.length,
      callbackUrl: typeof body.callbackUrl === 'string' ? body.callbackUrl : null,
      idempotencyKey: idemKey,
      createdAt: nowIso,
      updatedAt: nowIso,
      trackingNumber: s10TrackingNumber(++this.serial),
      livemode: this.opts.livemode ?? true,
      events: [],
      pdf,
    };
    this.letters.set(letter.id, letter);
    if (idemKey !== null) this.byKey.set(idemKey, letter.id);
    if (this.opts.autoEvents ?? true) this.runScript(letter);
    if (this.hangCount > 0) {
      this.hangCount -= 1;
      this.hung.add(res);
      return;
    }
    return this.json(res, 201, this.resource(letter));
  }

  private validate(b: Record<string, unknown>): { code: string; message: string } | null {
    const str = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;
    if (!str(b.reference)) return { code: 'invalid_request', message: 'reference is required' };
    if (!str(b.documentId)) return { code: 'invalid_request', message: 'documentId is required' };
    if (!SERVICES.has(b.service as string)) return { code: 'invalid_request', message: 'service is invalid' };
    const r = b.recipient as Partial<EmulatedRecipient> | undefined;
    if (
      !r ||
      !str(r.name) ||
      !Array.isArray(r.addressLines) ||
      r.addressLines.length === 0 ||
      !r.addressLines.every(str) ||
      typeof r.postcode !== 'string' ||
      !/^[A-Z]{2}$/.test(r.country ?? '')
    ) {
      return { code: 'invalid_address', message: 'recipient needs name, addressLines, postcode, country' };
    }
    if (!str(b.pdf) || !str(b.pdfSha256))
      return { code: 'invalid_request', message: 'pdf and pdfSha256 required' };
    const pdf = Buffer.from(b.pdf, 'base64');
    if (pdf.subarray(0, 5).toString('latin1') !== '%PDF-')
      return { code: 'not_pdf', message: 'pdf is not a PDF' };
    if (createHash('sha256').update(pdf).digest('hex') !== b.pdfSha256.toLowerCase()) {
      return { code: 'pdf_hash_mismatch', message: 'pdfSha256 does not match pdf' };
    }
    return null;
  }

  private readBody(req: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy();
          reject(new Error('too large'));
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private error(res: http.ServerResponse, status: number, code: string, message: string): void {
    this.json(res, status, { error: { code, message } });
  }
}
