/**
 * A local emulator of the Twilio Programmable Messaging REST API (the part the service uses), for tests
 * and benchmarks. The official `twilio` client talks to it through `createTwilioHttpClient(baseUrl)`.
 *
 * - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` creates a message (basic auth checked).
 * - `GET  /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json` fetches one.
 * - `GET  /2010-04-01/Accounts/{AccountSid}/Messages.json` lists (To, From, DateSent, DateSent<, DateSent>,
 *   PageSize, Page, PageToken), newest first, paged like Twilio.
 * - After a create, status callbacks are POSTed to the message's StatusCallback, signed with
 *   X-Twilio-Signature exactly like Twilio: queued -> sent -> delivered, or queued -> sent -> undelivered
 *   (ErrorCode 30003) / queued -> failed (ErrorCode 30006) for numbers in `failNumbers`.
 * - Programmable Voice: `POST .../Calls.json` (To, From, Twiml or Url, StatusCallback, StatusCallbackEvent,
 *   StatusCallbackMethod POST, Timeout, MachineDetection), `GET .../Calls/{CallSid}.json`, `GET .../Calls.json`
 *   (To, From, Status, StartTime, StartTime<, StartTime>, paged like Messages). A call goes queued -> initiated
 *   -> ringing -> in-progress -> completed (with CallDuration) when answered, or ends no-answer / busy after
 *   ringing, or failed after initiated, per `callOutcomes`. Call progress callbacks are posted for the
 *   requested StatusCallbackEvent values (`completed` always), signed like the message callbacks, with
 *   SequenceNumber and Timestamp. The Twiml received is kept (`calls()`), as Twilio would say it.
 * - Control endpoints for other processes: `GET /__emulator/stats`, `GET /__emulator/idle` (answers once
 *   every callback is done), `GET /__emulator/messages[?To=...]`, `GET /__emulator/calls[?To=...]`,
 *   `POST /__emulator/reset`.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';

export type EmulatedStatus = 'accepted' | 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed';
export type FailStatus = 'undelivered' | 'failed';
export type FailSpec = FailStatus | { status: FailStatus; errorCode: number; errorMessage?: string };

export interface CreateRejection {
  status: number;
  code: number;
  message: string;
}

export interface TwilioEmulatorOptions {
  accountSid: string;
  authToken: string;
  /** E.164 `To` numbers whose messages end undelivered (30003) or failed (30006), or with a custom code. */
  failNumbers?: Record<string, FailSpec>;
  /** Delay before each status transition after `queued` (ms). Default 0. */
  callbackDelayMs?: number;
  /**
   * Delay between storing a created message and answering the create (ms). Default 0. Widens the
   * window in which a client can die after the provider has the message but before it learns its sid.
   */
  createResponseDelayMs?: number;
  /** Called for each authenticated, well-formed create; a result rejects it with that Twilio error. */
  rejectCreate?: (to: string) => CreateRejection | undefined;
  /**
   * Called for each create that passed validation and `rejectCreate`: `true` never answers and stores
   * nothing (the request is lost), `'stored'` stores the message (callbacks follow as usual) but never
   * answers. Either way the client only sees a timeout. Default: answer normally.
   */
  hangCreate?: (to: string) => boolean | 'stored' | undefined;
  /** Status callbacks in flight at most. Default 32. */
  callbackConcurrency?: number;
  /** Retries of a callback after a connection error, timeout, 429 or 5xx. Default 3. */
  callbackRetries?: number;
  /** First retry delay (doubles each time), ms. Default 50. */
  callbackRetryBaseMs?: number;
  /** Timeout of one callback request, ms. Default 10 000. */
  callbackTimeoutMs?: number;
  /**
   * Statuses that produce a status callback (default: all). The status still changes for the others, so
   * e.g. `['delivered', 'undelivered', 'failed']` cuts the callback load of a benchmark to one per message.
   */
  callbackStatuses?: readonly EmulatedStatus[];
  /** Sender used when a message is created with MessagingServiceSid only. Default +15005550006. */
  serviceFrom?: string;
  /**
   * How calls to an E.164 `To` end (default `answered`): `machine` is answered by a voicemail (with
   * `MachineDetection` on the create, callbacks carry `AnsweredBy=machine_end_beep`; without, it looks
   * answered, as at Twilio).
   */
  callOutcomes?: Record<string, CallOutcome>;
  /** CallDuration (seconds) of an answered call. Default 20. */
  callDurationSeconds?: number;
  /** Called for each authenticated, well-formed call create; a result rejects it with that Twilio error. */
  rejectCall?: (to: string) => CreateRejection | undefined;
  /** As `hangCreate`, for call creates: `true` loses the request, `'stored'` places the call unanswered. */
  hangCall?: (to: string) => boolean | 'stored' | undefined;
}

export type CallOutcome = 'answered' | 'machine' | 'no-answer' | 'busy' | 'failed';
export type EmulatedCallStatus =
  | 'queued'
  | 'initiated'
  | 'ringing'
  | 'in-progress'
  | 'completed'
  | 'no-answer'
  | 'busy'
  | 'failed'
  | 'canceled';

export interface CallCallbackResult extends Omit<CallbackAttemptResult, 'status'> {
  status: EmulatedCallStatus;
  /** The StatusCallbackEvent this callback reports (`initiated`, `ringing`, `answered`, `completed`). */
  event: string;
  sequenceNumber: number;
}

export interface EmulatedCall {
  sid: string;
  accountSid: string;
  to: string;
  from: string;
  /** The `Twiml` parameter exactly as received (what the callee hears), null when `Url` was given. */
  twiml: string | null;
  url: string | null;
  statusCallback: string | null;
  statusCallbackEvents: string[];
  statusCallbackMethod: string;
  /** Ring timeout asked for (seconds). */
  timeout: number;
  machineDetection: string | null;
  status: EmulatedCallStatus;
  answeredBy: string | null;
  /** Seconds, once ended. */
  duration: number | null;
  dateCreated: Date;
  dateUpdated: Date;
  startTime: Date | null;
  endTime: Date | null;
  callbacks: CallCallbackResult[];
}

interface CallStep {
  status: EmulatedCallStatus;
  event: string;
}

interface StoredCall extends EmulatedCall {
  plan: CallStep[];
  outcome: CallOutcome;
  sequence: number;
}

export interface CallbackAttemptResult {
  status: EmulatedStatus;
  /** Number of HTTP attempts made (1 = first try succeeded or failed for good). */
  attempts: number;
  /** HTTP status of the last attempt, undefined when it never got an answer. */
  httpStatus?: number;
  /** True when the last attempt got a 2xx/3xx/4xx answer (no retry wanted). */
  ok: boolean;
  error?: string;
}

export interface EmulatedMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  statusCallback: string | null;
  status: EmulatedStatus;
  errorCode: number | null;
  errorMessage: string | null;
  numSegments: number;
  dateCreated: Date;
  dateUpdated: Date;
  dateSent: Date | null;
  /** Results of the status callbacks posted so far, in order. */
  callbacks: CallbackAttemptResult[];
}

export interface TwilioEmulatorStats {
  createCount: number;
  acceptedCount: number;
  rejectedCount: number;
  callbacksPending: number;
  callbacksPosted: number;
  callbacksFailed: number;
  callbackRetries: number;
  /** TCP connections accepted by the API server (keep-alive clients open few). */
  connectionsAccepted: number;
  /** Every create request received on the Calls endpoint (accepted or rejected, including 401). */
  callCreateCount: number;
  callsAccepted: number;
}

interface Step {
  status: EmulatedStatus;
  errorCode?: number;
  errorMessage?: string;
}

interface StoredMessage extends EmulatedMessage {
  plan: Step[];
}

/** One callback attempt's result, without the status (the resource adds its own). */
type AttemptResult = Omit<CallbackAttemptResult, 'status'>;

/** A status callback to post (a message's or a call's): `done` records it and moves its resource on. */
interface CallbackJob {
  url: string;
  attempt: number;
  params: Record<string, string>;
  body: string;
  signature: string;
  idempotencyToken: string;
  done: (result: AttemptResult) => void;
}

interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
  detail?: string;
}

const API_VERSION = '2010-04-01';
const MAX_BODY_BYTES = 256 * 1024;
const E164 = /^\+[1-9]\d{1,14}$/;
const ROUTE = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/(SM[0-9a-f]{32}|[^/]+))?\.json$/;
const CALLS_ROUTE = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls(?:\/([^/]+))?\.json$/;
/** Twilio's limit on the `Twiml` parameter of a call. */
const MAX_TWIML_CHARS = 4000;
const TERMINAL_CALL: ReadonlySet<EmulatedCallStatus> = new Set([
  'completed',
  'no-answer',
  'busy',
  'failed',
  'canceled',
]);

const ERROR_TEXT: Record<number, string> = {
  30003: 'Unreachable destination handset',
  30006: 'Landline or unreachable carrier',
};

/** RFC 2822 date as Twilio writes it: `Thu, 30 Jul 2015 20:12:31 +0000`. */
export function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

// GSM 03.38 basic set and extension table (the extension characters count twice).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXT = new Set('^{}\\[~]|€\f');

/** Number of SMS segments Twilio would bill for `body` (GSM-7: 160/153, otherwise UCS-2: 70/67). */
export function smsSegments(body: string): number {
  let septets = 0;
  let gsm = true;
  for (const ch of body) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXT.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = body.length; // UTF-16 code units
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

function twilioError(status: number, code: number, message: string, detail?: string): TwilioErrorBody {
  const body: TwilioErrorBody = {
    code,
    message,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  };
  if (detail !== undefined) body.detail = detail;
  return body;
}

/** Parses a DateSent filter value: a day (`YYYY-MM-DD`) or an instant. Returns [start, endExclusive]. */
function parseDateFilter(value: string): [number, number] | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00Z`);
    if (Number.isNaN(start)) return undefined;
    return [start, start + 86_400_000];
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) return undefined;
  return [t, t + 1000];
}

const secondsOf = (d: Date): number => Math.floor(d.getTime() / 1000) * 1000;

export class TwilioEmulator {
  private readonly opts: TwilioEmulatorOptions;
  private readonly expectedAuth: string;
  private readonly concurrency: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly callbackTimeoutMs: number;
  private readonly delayMs: number;
  private readonly callbackStatuses: ReadonlySet<EmulatedStatus> | undefined;
  private server: http.Server | undefined;
  private baseUrl: string | undefined;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  private all: StoredMessage[] = [];
  private bySid = new Map<string, StoredMessage>();
  private byTo = new Map<string, StoredMessage[]>();
  private createsTo = new Map<string, number>();
  private _createCount = 0;
  private _rejectedCount = 0;
  private _hungCount = 0;
  private allCalls: StoredCall[] = [];
  private callsBySid = new Map<string, StoredCall>();
  private callsByToMap = new Map<string, StoredCall[]>();
  private callCreatesTo = new Map<string, number>();
  private _callCreateCount = 0;

  private queue: CallbackJob[] = [];
  private qHead = 0;
  private inFlight = 0;
  private pending = 0;
  private posted = 0;
  private failedCallbacks = 0;
  private retried = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private idleWaiters: Array<() => void> = [];
  private stopped = false;
  private connections = 0;
  private readonly urlCache = new Map<string, URL>();

  constructor(opts: TwilioEmulatorOptions) {
    if (!opts.accountSid.startsWith('AC')) throw new Error('accountSid must start with AC');
    this.opts = { ...opts, failNumbers: { ...opts.failNumbers }, callOutcomes: { ...opts.callOutcomes } };
    this.expectedAuth = `Basic ${Buffer.from(`${opts.accountSid}:${opts.authToken}`).toString('base64')}`;
    this.concurrency = Math.max(1, opts.callbackConcurrency ?? 32);
    this.retries = Math.max(0, opts.callbackRetries ?? 3);
    this.retryBaseMs = Math.max(0, opts.callbackRetryBaseMs ?? 50);
    this.callbackTimeoutMs = opts.callbackTimeoutMs ?? 10_000;
    this.delayMs = Math.max(0, opts.callbackDelayMs ?? 0);
    this.callbackStatuses = opts.callbackStatuses ? new Set(opts.callbackStatuses) : undefined;
    const agentOpts = { keepAlive: true, maxSockets: this.concurrency, maxFreeSockets: this.concurrency };
    this.httpAgent = new http.Agent(agentOpts);
    this.httpsAgent = new https.Agent(agentOpts);
  }

  /** Starts listening on 127.0.0.1 (port 0 = any free port) and returns the base URL. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error('TwilioEmulator already started');
    this.stopped = false;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', () => this.connections++);
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.baseUrl = `http://${h}:${addr.port}`;
    return this.baseUrl;
  }

  /** Stops the server and drops callbacks not yet posted (call `idle()` first to let them finish). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queue = [];
    this.qHead = 0;
    this.pending = 0;
    this.resolveIdle();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('TwilioEmulator not started');
    return this.baseUrl;
  }

  /** Every create request received on the Messages endpoint (accepted or rejected, including 401). */
  get createCount(): number {
    return this._createCount;
  }

  /** Create requests that were rejected (auth, validation, `rejectCreate`). */
  get rejectedCount(): number {
    return this._rejectedCount;
  }

  /** Create requests left unanswered by `hangCreate` or `hangCall` (stored or not). */
  get hungCount(): number {
    return this._hungCount;
  }

  /** Create requests that produced a message. */
  get acceptedCount(): number {
    return this.all.length;
  }

  /** Create requests received for this `To` (accepted or rejected, authenticated ones). */
  createsByTo(to: string): number {
    return this.createsTo.get(to) ?? 0;
  }

  /** Snapshot of the stored messages in creation order (optionally only those to `to`). */
  messages(filter: { to?: string } = {}): EmulatedMessage[] {
    const list = filter.to === undefined ? this.all : (this.byTo.get(filter.to) ?? []);
    return list.map((m) => this.snapshot(m));
  }

  message(sid: string): EmulatedMessage | undefined {
    const m = this.bySid.get(sid);
    return m ? this.snapshot(m) : undefined;
  }

  /** Sets or clears (undefined) the failure of a number at run time. */
  setFailNumber(to: string, spec: FailSpec | undefined): void {
    const fail = this.opts.failNumbers ?? (this.opts.failNumbers = {});
    if (spec === undefined) delete fail[to];
    else fail[to] = spec;
  }

  /** Every create request received on the Calls endpoint (accepted or rejected, including 401). */
  get callCreateCount(): number {
    return this._callCreateCount;
  }

  /** Call create requests received for this `To` (accepted or rejected, authenticated ones). */
  callCreatesByTo(to: string): number {
    return this.callCreatesTo.get(to) ?? 0;
  }

  /** Snapshot of the stored calls in creation order (optionally only those to `to`). */
  calls(filter: { to?: string } = {}): EmulatedCall[] {
    const list = filter.to === undefined ? this.allCalls : (this.callsByToMap.get(filter.to) ?? []);
    return list.map((c) => this.callSnapshot(c));
  }

  call(sid: string): EmulatedCall | undefined {
    const c = this.callsBySid.get(sid);
    return c ? this.callSnapshot(c) : undefined;
  }

  /** Sets or clears (undefined: answered) how calls to a number end, for calls created afterwards. */
  setCallOutcome(to: string, outcome: CallOutcome | undefined): void {
    const map = this.opts.callOutcomes ?? (this.opts.callOutcomes = {});
    if (outcome === undefined) delete map[to];
    else map[to] = outcome;
  }

  /** Status transitions (each with its callback) not finished yet. */
  callbacksPending(): number {
    return this.pending;
  }

  /** Resolves when every status transition and callback (with retries) is done. */
  idle(timeoutMs?: number): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.idleWaiters.push(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
          reject(new Error(`TwilioEmulator not idle after ${timeoutMs} ms (${this.pending} pending)`));
        }, timeoutMs);
      }
    });
  }

  stats(): TwilioEmulatorStats {
    return {
      createCount: this._createCount,
      acceptedCount: this.all.length,
      rejectedCount: this._rejectedCount,
      callbacksPending: this.pending,
      callbacksPosted: this.posted,
      callbacksFailed: this.failedCallbacks,
      callbackRetries: this.retried,
      connectionsAccepted: this.connections,
      callCreateCount: this._callCreateCount,
      callsAccepted: this.allCalls.length,
    };
  }

  /** Forgets messages and counters (pending callbacks are dropped). */
  reset(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queue = [];
    this.qHead = 0;
    this.pending = 0;
    this.all = [];
    this.bySid.clear();
    this.byTo.clear();
    this.createsTo.clear();
    this._createCount = 0;
    this._rejectedCount = 0;
    this._hungCount = 0;
    this.allCalls = [];
    this.callsBySid.clear();
    this.callsByToMap.clear();
    this.callCreatesTo.clear();
    this._callCreateCount = 0;
    this.posted = 0;
    this.failedCallbacks = 0;
    this.retried = 0;
    this.resolveIdle();
  }

  // ---------------------------------------------------------------- HTTP API

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));

    if (pathname.startsWith('/__emulator/')) {
      this.handleControl(req, res, pathname, query);
      return;
    }
    const callMatch = CALLS_ROUTE.exec(pathname);
    if (callMatch) {
      this.handleCalls(req, res, pathname, query, callMatch[1], callMatch[2]);
      return;
    }
    const match = ROUTE.exec(pathname);
    if (!match) {
      this.drain(req);
      this.sendJson(res, 404, twilioError(404, 20404, `The requested resource ${pathname} was not found`));
      return;
    }
    const [, accountSid, messageSid] = match;
    const method = req.method ?? 'GET';
    const isCreate = method === 'POST' && messageSid === undefined;
    if (isCreate) this._createCount++;

    if (!this.authorized(req.headers.authorization)) {
      this.drain(req);
      if (isCreate) this._rejectedCount++;
      res.setHeader('WWW-Authenticate', 'Basic realm="Twilio API"');
      this.sendJson(
        res,
        401,
        twilioError(401, 20003, 'Authenticate', 'Your AccountSid or AuthToken was incorrect.'),
      );
      return;
    }
    if (accountSid !== this.opts.accountSid) {
      this.drain(req);
      if (isCreate) this._rejectedCount++;
      this.sendJson(res, 404, twilioError(404, 20404, `The requested resource ${pathname} was not found`));
      return;
    }

    if (isCreate) {
      this.readBody(req, res, (form) => this.create(form, res));
      return;
    }
    this.drain(req);
    if (method === 'GET' && messageSid !== undefined) {
      const msg = this.bySid.get(messageSid);
      if (!msg) {
        this.sendJson(res, 404, twilioError(404, 20404, `The requested resource ${pathname} was not found`));
        return;
      }
      this.sendJson(res, 200, this.toResource(msg));
      return;
    }
    if (method === 'GET') {
      this.list(query, res);
      return;
    }
    this.sendJson(res, 405, twilioError(405, 20004, 'Method not allowed'));
  }

  private authorized(header: string | undefined): boolean {
    if (header === this.expectedAuth) return true;
    if (!header?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return (
      i > 0 && decoded.slice(0, i) === this.opts.accountSid && decoded.slice(i + 1) === this.opts.authToken
    );
  }

  private create(form: URLSearchParams, res: http.ServerResponse): void {
    const to = form.get('To') ?? '';
    const from = form.get('From');
    const serviceSid = form.get('MessagingServiceSid');
    const body = form.get('Body') ?? '';
    const callback = form.get('StatusCallback');
    if (to) this.createsTo.set(to, (this.createsTo.get(to) ?? 0) + 1);

    const reject = (e: TwilioErrorBody): void => {
      this._rejectedCount++;
      this.sendJson(res, e.status, e);
    };
    if (!to) return reject(twilioError(400, 21604, "A 'To' phone number is required."));
    if (!E164.test(to)) return reject(twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`));
    if (!from && !serviceSid) return reject(twilioError(400, 21603, "A 'From' phone number is required."));
    if (from && !E164.test(from) && !/^[A-Za-z0-9 ]{1,11}$/.test(from)) {
      return reject(twilioError(400, 21212, `Invalid From Number (caller ID): ${from}`));
    }
    if (serviceSid && !/^MG[0-9a-fA-F]{32}$/.test(serviceSid)) {
      return reject(twilioError(400, 21701, 'The Messaging Service Sid is invalid.'));
    }
    if (!body && !form.get('MediaUrl') && !form.get('ContentSid')) {
      return reject(twilioError(400, 21602, 'Message body is required.'));
    }
    if (body.length > 1600) {
      return reject(
        twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.'),
      );
    }
    if (callback !== null && !this.callbackUrl(callback)) {
      return reject(twilioError(400, 21609, `Invalid StatusCallback url: ${callback}`));
    }
    const custom = this.opts.rejectCreate?.(to);
    if (custom) return reject(twilioError(custom.status, custom.code, custom.message));
    const hang = this.opts.hangCreate?.(to);
    if (hang === true) {
      this._hungCount++;
      return; // never answered; stop() closes the connection
    }

    const now = new Date();
    const msg: StoredMessage = {
      sid: `SM${randomUUID().replace(/-/g, '')}`,
      accountSid: this.opts.accountSid,
      to,
      from: from ?? null,
      messagingServiceSid: serviceSid ?? null,
      body,
      statusCallback: callback,
      status: from ? 'queued' : 'accepted',
      errorCode: null,
      errorMessage: null,
      numSegments: smsSegments(body),
      dateCreated: now,
      dateUpdated: now,
      dateSent: null,
      callbacks: [],
      plan: this.planFor(to),
    };
    this.all.push(msg);
    this.bySid.set(msg.sid, msg);
    let list = this.byTo.get(to);
    if (!list) this.byTo.set(to, (list = []));
    list.push(msg);
    this.pending += msg.plan.length;

    const delay = this.opts.createResponseDelayMs ?? 0;
    if (hang === 'stored') {
      this._hungCount++;
    } else if (delay > 0) {
      setTimeout(() => {
        if (!res.destroyed) this.sendJson(res, 201, this.toResource(msg));
      }, delay);
    } else {
      this.sendJson(res, 201, this.toResource(msg));
    }
    // After the response has been handed to the socket (not on 'finish': a client that disconnects early
    // would otherwise leave the message pending forever).
    setImmediate(() => this.runStep(msg, 0));
  }

  private planFor(to: string): Step[] {
    const spec = this.opts.failNumbers?.[to];
    if (spec === undefined) return [{ status: 'queued' }, { status: 'sent' }, { status: 'delivered' }];
    const status = typeof spec === 'string' ? spec : spec.status;
    const errorCode = typeof spec === 'string' ? (status === 'failed' ? 30006 : 30003) : spec.errorCode;
    const errorMessage =
      (typeof spec === 'string' ? undefined : spec.errorMessage) ?? ERROR_TEXT[errorCode] ?? 'Unknown error';
    const last: Step = { status, errorCode, errorMessage };
    return status === 'failed'
      ? [{ status: 'queued' }, last]
      : [{ status: 'queued' }, { status: 'sent' }, last];
  }

  private list(query: URLSearchParams, res: http.ServerResponse): void {
    const to = query.get('To');
    const from = query.get('From');
    const filters: Array<(m: StoredMessage) => boolean> = [];
    if (from) filters.push((m) => m.from === from);
    for (const [key, kind] of [
      ['DateSent', 'eq'],
      ['DateSent>', 'ge'],
      ['DateSent<', 'le'],
    ] as const) {
      const raw = query.get(key);
      if (!raw) continue;
      const range = parseDateFilter(raw);
      if (!range) {
        this.sendJson(res, 400, twilioError(400, 20001, `Invalid value for ${key}: ${raw}`));
        return;
      }
      const [start, end] = range;
      filters.push((m) => {
        if (!m.dateSent) return false;
        const t = secondsOf(m.dateSent);
        return kind === 'eq' ? t >= start && t < end : kind === 'ge' ? t >= start : t < end;
      });
    }
    const pageSize = Math.min(1000, Math.max(1, Number.parseInt(query.get('PageSize') ?? '50', 10) || 50));
    const page = Math.max(0, Number.parseInt(query.get('Page') ?? '0', 10) || 0);
    const token = query.get('PageToken');
    const afterSid = token?.startsWith('PA') ? token.slice(2) : undefined;

    const source = to ? (this.byTo.get(to) ?? []) : this.all;
    const out: StoredMessage[] = [];
    let skip = afterSid ? 0 : page * pageSize;
    let seeking = afterSid !== undefined;
    let more = false;
    for (let i = source.length - 1; i >= 0; i--) {
      const m = source[i];
      if (seeking) {
        if (m.sid === afterSid) seeking = false;
        continue;
      }
      if (!filters.every((f) => f(m))) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      if (out.length === pageSize) {
        more = true;
        break;
      }
      out.push(m);
    }

    const path = `/${API_VERSION}/Accounts/${this.opts.accountSid}/Messages.json`;
    const uriFor = (p: number, extra?: Record<string, string>): string => {
      const qs = new URLSearchParams();
      for (const [k, v] of query) if (k !== 'Page' && k !== 'PageToken' && k !== 'PageSize') qs.append(k, v);
      qs.set('PageSize', String(pageSize));
      qs.set('Page', String(p));
      for (const [k, v] of Object.entries(extra ?? {})) qs.set(k, v);
      return `${path}?${qs.toString()}`;
    };
    const start = page * pageSize;
    const last = out[out.length - 1];
    this.sendJson(res, 200, {
      first_page_uri: uriFor(0),
      end: out.length === 0 ? start : start + out.length - 1,
      previous_page_uri: page > 0 ? uriFor(page - 1, { PageToken: `PB${out[0]?.sid ?? ''}` }) : null,
      messages: out.map((m) => this.toResource(m)),
      uri: `${path}?${query.toString()}`,
      page_size: pageSize,
      start,
      next_page_uri: more && last ? uriFor(page + 1, { PageToken: `PA${last.sid}` }) : null,
      page,
    });
  }

  private handleControl(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
    query: URLSearchParams,
  ): void {
    this.drain(req);
    switch (`${req.method} ${pathname}`) {
      case 'GET /__emulator/stats':
        this.sendJson(res, 200, this.stats());
        return;
      case 'GET /__emulator/idle': {
        const timeout = Number.parseInt(query.get('timeoutMs') ?? '30000', 10) || 30_000;
        this.idle(timeout).then(
          () => this.sendJson(res, 200, this.stats()),
          (e: unknown) => this.sendJson(res, 504, { error: String(e), ...this.stats() }),
        );
        return;
      }
      case 'GET /__emulator/messages': {
        const to = query.get('To') ?? undefined;
        this.sendJson(res, 200, { messages: this.messages({ to }) });
        return;
      }
      case 'GET /__emulator/calls': {
        const to = query.get('To') ?? undefined;
        this.sendJson(res, 200, { calls: this.calls({ to }) });
        return;
      }
      case 'POST /__emulator/reset':
        this.reset();
        this.sendJson(res, 200, this.stats());
        return;
      default:
        this.sendJson(res, 404, { error: 'not found' });
    }
  }

  private toResource(m: StoredMessage): Record<string, unknown> {
    const uri = `/${API_VERSION}/Accounts/${m.accountSid}/Messages/${m.sid}.json`;
    return {
      account_sid: m.accountSid,
      api_version: API_VERSION,
      body: m.body,
      date_created: rfc2822(m.dateCreated),
      date_sent: m.dateSent ? rfc2822(m.dateSent) : null,
      date_updated: rfc2822(m.dateUpdated),
      direction: 'outbound-api',
      error_code: m.errorCode,
      error_message: m.errorMessage,
      from: m.from,
      messaging_service_sid: m.messagingServiceSid,
      num_media: '0',
      num_segments: String(m.numSegments),
      price: null,
      price_unit: 'USD',
      sid: m.sid,
      status: m.status,
      subresource_uris: {
        media: `/${API_VERSION}/Accounts/${m.accountSid}/Messages/${m.sid}/Media.json`,
        feedback: `/${API_VERSION}/Accounts/${m.accountSid}/Messages/${m.sid}/Feedback.json`,
      },
      to: m.to,
      uri,
    };
  }

  private snapshot(m: StoredMessage): EmulatedMessage {
    return {
      sid: m.sid,
      accountSid: m.accountSid,
      to: m.to,
      from: m.from,
      messagingServiceSid: m.messagingServiceSid,
      body: m.body,
      statusCallback: m.statusCallback,
      status: m.status,
      errorCode: m.errorCode,
      errorMessage: m.errorMessage,
      numSegments: m.numSegments,
      dateCreated: new Date(m.dateCreated),
      dateUpdated: new Date(m.dateUpdated),
      dateSent: m.dateSent ? new Date(m.dateSent) : null,
      callbacks: m.callbacks.map((c) => ({ ...c })),
    };
  }

  private sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(payload),
      'Twilio-Request-Id': `RQ${randomUUID().replace(/-/g, '')}`,
    });
    res.end(payload);
  }

  private readBody(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    then: (form: URLSearchParams) => void,
  ): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooLarge) {
        this._rejectedCount++;
        this.sendJson(res, 413, twilioError(413, 20001, 'Request entity too large'));
        return;
      }
      then(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', () => res.destroy());
  }

  /** Parsed http(s) callback URL (cached: services use one or a few), undefined when invalid. */
  private callbackUrl(raw: string): URL | undefined {
    let u = this.urlCache.get(raw);
    if (u) return u;
    try {
      u = new URL(raw);
    } catch {
      return undefined;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    if (this.urlCache.size >= 1000) this.urlCache.clear();
    this.urlCache.set(raw, u);
    return u;
  }

  private drain(req: http.IncomingMessage): void {
    req.resume();
  }

  // ---------------------------------------------------------------- Programmable Voice (Calls)

  private handleCalls(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
    query: URLSearchParams,
    accountSid: string,
    callSid: string | undefined,
  ): void {
    const method = req.method ?? 'GET';
    const isCreate = method === 'POST' && callSid === undefined;
    if (isCreate) this._callCreateCount++;
    if (!this.authorized(req.headers.authorization)) {
      this.drain(req);
      res.setHeader('WWW-Authenticate', 'Basic realm="Twilio API"');
      this.sendJson(
        res,
        401,
        twilioError(401, 20003, 'Authenticate', 'Your AccountSid or AuthToken was incorrect.'),
      );
      return;
    }
    if (accountSid !== this.opts.accountSid) {
      this.drain(req);
      this.sendJson(res, 404, twilioError(404, 20404, `The requested resource ${pathname} was not found`));
      return;
    }
    if (isCreate) {
      this.readBody(req, res, (form) => this.createCall(form, res));
      return;
    }
    this.drain(req);
    if (method === 'GET' && callSid !== undefined) {
      const call = this.callsBySid.get(callSid);
      if (!call) {
        this.sendJson(res, 404, twilioError(404, 20404, `The requested resource ${pathname} was not found`));
        return;
      }
      this.sendJson(res, 200, this.toCallResource(call));
      return;
    }
    if (method === 'GET') {
      this.listCalls(query, res);
      return;
    }
    this.sendJson(res, 405, twilioError(405, 20004, 'Method not allowed'));
  }

  private createCall(form: URLSearchParams, res: http.ServerResponse): void {
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? '';
    const twiml = form.get('Twiml');
    const url = form.get('Url');
    const callback = form.get('StatusCallback');
    const callbackMethod = (form.get('StatusCallbackMethod') ?? 'POST').toUpperCase();
    const events = form
      .getAll('StatusCallbackEvent')
      .flatMap((v) => v.split(/\s+/))
      .filter((v) => v !== '');
    const timeout = Number.parseInt(form.get('Timeout') ?? '60', 10);
    if (to) this.callCreatesTo.set(to, (this.callCreatesTo.get(to) ?? 0) + 1);

    const reject = (e: TwilioErrorBody): void => this.sendJson(res, e.status, e);
    if (!to) return reject(twilioError(400, 21201, "No 'To' number is specified"));
    if (!E164.test(to)) return reject(twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`));
    if (!from) return reject(twilioError(400, 21213, "No 'From' number is specified"));
    if (!E164.test(from)) return reject(twilioError(400, 21212, `Invalid 'From' Phone Number: ${from}`));
    if (!twiml && !url && !form.get('ApplicationSid')) {
      return reject(twilioError(400, 21205, 'A Url, Twiml or ApplicationSid parameter is required.'));
    }
    // Twilio refuses a longer Twiml parameter; the emulator's code is a generic one.
    if (twiml && twiml.length > MAX_TWIML_CHARS) {
      return reject(twilioError(400, 20001, `Twiml exceeds ${MAX_TWIML_CHARS} characters`));
    }
    if (callback !== null && !this.callbackUrl(callback)) {
      return reject(twilioError(400, 21609, `Invalid StatusCallback url: ${callback}`));
    }
    if (callbackMethod !== 'POST') {
      // Twilio also supports GET (parameters in the query string); the emulator does not.
      return reject(twilioError(400, 20001, `StatusCallbackMethod ${callbackMethod} is not emulated`));
    }
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600) {
      return reject(twilioError(400, 20001, `Invalid Timeout: ${form.get('Timeout') ?? ''}`));
    }
    const custom = this.opts.rejectCall?.(to);
    if (custom) return reject(twilioError(custom.status, custom.code, custom.message));
    const hang = this.opts.hangCall?.(to);
    if (hang === true) {
      this._hungCount++;
      return; // never answered; stop() closes the connection
    }

    const now = new Date();
    const outcome = this.opts.callOutcomes?.[to] ?? 'answered';
    const call: StoredCall = {
      sid: `CA${randomUUID().replace(/-/g, '')}`,
      accountSid: this.opts.accountSid,
      to,
      from,
      twiml,
      url,
      statusCallback: callback,
      statusCallbackEvents: events,
      statusCallbackMethod: callbackMethod,
      timeout,
      machineDetection: form.get('MachineDetection'),
      status: 'queued',
      answeredBy: null,
      duration: null,
      dateCreated: now,
      dateUpdated: now,
      startTime: null,
      endTime: null,
      callbacks: [],
      plan: this.callPlanFor(outcome),
      outcome,
      sequence: 0,
    };
    this.allCalls.push(call);
    this.callsBySid.set(call.sid, call);
    let list = this.callsByToMap.get(to);
    if (!list) this.callsByToMap.set(to, (list = []));
    list.push(call);
    this.pending += call.plan.length;
    if (hang === 'stored') this._hungCount++;
    else this.sendJson(res, 201, this.toCallResource(call));
    setImmediate(() => this.runCallStep(call, 0));
  }

  private callPlanFor(outcome: CallOutcome): CallStep[] {
    const initiated: CallStep = { status: 'initiated', event: 'initiated' };
    const ringing: CallStep = { status: 'ringing', event: 'ringing' };
    switch (outcome) {
      case 'answered':
      case 'machine':
        return [
          initiated,
          ringing,
          { status: 'in-progress', event: 'answered' },
          { status: 'completed', event: 'completed' },
        ];
      case 'no-answer':
      case 'busy':
        return [initiated, ringing, { status: outcome, event: 'completed' }];
      case 'failed':
        // A call that cannot be placed (bad route, carrier refusal) never rings.
        return [initiated, { status: 'failed', event: 'completed' }];
    }
  }

  private runCallStep(call: StoredCall, step: number): void {
    if (this.stopped || this.callsBySid.get(call.sid) !== call) return;
    const s = call.plan[step];
    const now = new Date();
    call.status = s.status;
    call.dateUpdated = now;
    if (s.status === 'initiated') call.startTime = now;
    if (s.status === 'in-progress' && call.machineDetection) {
      call.answeredBy = call.outcome === 'machine' ? 'machine_end_beep' : 'human';
    }
    if (TERMINAL_CALL.has(s.status)) {
      call.endTime = now;
      call.duration = s.status === 'completed' ? (this.opts.callDurationSeconds ?? 20) : 0;
    }
    // Twilio posts the requested events, and `completed` whatever the list.
    const wanted = s.event === 'completed' || call.statusCallbackEvents.includes(s.event);
    if (!call.statusCallback || !wanted) {
      this.finishCallStep(call, step);
      return;
    }
    const sequenceNumber = call.sequence++;
    const params: Record<string, string> = {
      AccountSid: call.accountSid,
      ApiVersion: API_VERSION,
      CallSid: call.sid,
      CallStatus: s.status,
      CallbackSource: 'call-progress-events',
      Called: call.to,
      Caller: call.from,
      Direction: 'outbound-api',
      From: call.from,
      SequenceNumber: String(sequenceNumber),
      Timestamp: rfc2822(now),
      To: call.to,
    };
    if (call.answeredBy) params.AnsweredBy = call.answeredBy;
    if (call.duration !== null) params.CallDuration = String(call.duration);
    this.enqueueCallback(call.statusCallback, params, (r) => {
      call.callbacks.push({ status: s.status, event: s.event, sequenceNumber, ...r });
      this.finishCallStep(call, step);
    });
  }

  private finishCallStep(call: StoredCall, step: number): void {
    if (this.stopped || this.callsBySid.get(call.sid) !== call) return;
    this.pending--;
    const next = step + 1;
    if (next < call.plan.length) {
      if (this.delayMs > 0) this.later(this.delayMs, () => this.runCallStep(call, next));
      else this.runCallStep(call, next);
    }
    if (this.pending === 0) this.resolveIdle();
  }

  private listCalls(query: URLSearchParams, res: http.ServerResponse): void {
    const to = query.get('To');
    const from = query.get('From');
    const status = query.get('Status');
    const filters: Array<(c: StoredCall) => boolean> = [];
    if (from) filters.push((c) => c.from === from);
    if (status) filters.push((c) => c.status === status);
    for (const [key, kind] of [
      ['StartTime', 'eq'],
      ['StartTime>', 'ge'],
      ['StartTime<', 'le'],
    ] as const) {
      const raw = query.get(key);
      if (!raw) continue;
      const range = parseDateFilter(raw);
      if (!range) {
        this.sendJson(res, 400, twilioError(400, 20001, `Invalid value for ${key}: ${raw}`));
        return;
      }
      const [start, end] = range;
      filters.push((c) => {
        // As at Twilio: a call not dialed yet has no start time and matches no StartTime filter.
        if (!c.startTime) return false;
        const t = secondsOf(c.startTime);
        return kind === 'eq' ? t >= start && t < end : kind === 'ge' ? t >= start : t < end;
      });
    }
    const pageSize = Math.min(1000, Math.max(1, Number.parseInt(query.get('PageSize') ?? '50', 10) || 50));
    const page = Math.max(0, Number.parseInt(query.get('Page') ?? '0', 10) || 0);
    const token = query.get('PageToken');
    const afterSid = token?.startsWith('PA') ? token.slice(2) : undefined;

    const source = to ? (this.callsByToMap.get(to) ?? []) : this.allCalls;
    const out: StoredCall[] = [];
    let skip = afterSid ? 0 : page * pageSize;
    let seeking = afterSid !== undefined;
    let more = false;
    for (let i = source.length - 1; i >= 0; i--) {
      const c = source[i];
      if (seeking) {
        if (c.sid === afterSid) seeking = false;
        continue;
      }
      if (!filters.every((f) => f(c))) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      if (out.length === pageSize) {
        more = true;
        break;
      }
      out.push(c);
    }

    const path = `/${API_VERSION}/Accounts/${this.opts.accountSid}/Calls.json`;
    const uriFor = (p: number, extra?: Record<string, string>): string => {
      const qs = new URLSearchParams();
      for (const [k, v] of query) if (k !== 'Page' && k !== 'PageToken' && k !== 'PageSize') qs.append(k, v);
      qs.set('PageSize', String(pageSize));
      qs.set('Page', String(p));
      for (const [k, v] of Object.entries(extra ?? {})) qs.set(k, v);
      return `${path}?${qs.toString()}`;
    };
    const start = page * pageSize;
    const last = out[out.length - 1];
    this.sendJson(res, 200, {
      first_page_uri: uriFor(0),
      end: out.length === 0 ? start : start + out.length - 1,
      previous_page_uri: page > 0 ? uriFor(page - 1, { PageToken: `PB${out[0]?.sid ?? ''}` }) : null,
      calls: out.map((c) => this.toCallResource(c)),
      uri: `${path}?${query.toString()}`,
      page_size: pageSize,
      start,
      next_page_uri: more && last ? uriFor(page + 1, { PageToken: `PA${last.sid}` }) : null,
      page,
    });
  }

  /** The Call resource as Twilio returns it: no Twiml, Url or StatusCallback in it. */
  private toCallResource(c: StoredCall): Record<string, unknown> {
    const base = `/${API_VERSION}/Accounts/${c.accountSid}/Calls/${c.sid}`;
    return {
      account_sid: c.accountSid,
      annotation: null,
      answered_by: c.answeredBy,
      api_version: API_VERSION,
      caller_name: null,
      date_created: rfc2822(c.dateCreated),
      date_updated: rfc2822(c.dateUpdated),
      direction: 'outbound-api',
      duration: c.duration === null ? null : String(c.duration),
      end_time: c.endTime ? rfc2822(c.endTime) : null,
      forwarded_from: null,
      from: c.from,
      from_formatted: c.from,
      group_sid: null,
      parent_call_sid: null,
      phone_number_sid: null,
      price: null,
      price_unit: 'USD',
      queue_time: '0',
      sid: c.sid,
      start_time: c.startTime ? rfc2822(c.startTime) : null,
      status: c.status,
      subresource_uris: {
        notifications: `${base}/Notifications.json`,
        recordings: `${base}/Recordings.json`,
        events: `${base}/Events.json`,
      },
      to: c.to,
      to_formatted: c.to,
      trunk_sid: null,
      uri: `${base}.json`,
    };
  }

  private callSnapshot(c: StoredCall): EmulatedCall {
    return {
      sid: c.sid,
      accountSid: c.accountSid,
      to: c.to,
      from: c.from,
      twiml: c.twiml,
      url: c.url,
      statusCallback: c.statusCallback,
      statusCallbackEvents: [...c.statusCallbackEvents],
      statusCallbackMethod: c.statusCallbackMethod,
      timeout: c.timeout,
      machineDetection: c.machineDetection,
      status: c.status,
      answeredBy: c.answeredBy,
      duration: c.duration,
      dateCreated: new Date(c.dateCreated),
      dateUpdated: new Date(c.dateUpdated),
      startTime: c.startTime ? new Date(c.startTime) : null,
      endTime: c.endTime ? new Date(c.endTime) : null,
      callbacks: c.callbacks.map((cb) => ({ ...cb })),
    };
  }

  // ---------------------------------------------------------------- status callbacks

  private runStep(msg: StoredMessage, step: number): void {
    if (this.stopped || this.bySid.get(msg.sid) !== msg) return;
    const s = msg.plan[step];
    const now = new Date();
    msg.status = s.status;
    msg.dateUpdated = now;
    if (s.status !== 'queued' && s.status !== 'accepted' && !msg.dateSent) msg.dateSent = now;
    if (s.errorCode !== undefined) {
      msg.errorCode = s.errorCode;
      msg.errorMessage = s.errorMessage ?? null;
    }
    if (step === 0 && msg.from === null) msg.from = this.opts.serviceFrom ?? '+15005550006';
    if (!msg.statusCallback || (this.callbackStatuses && !this.callbackStatuses.has(s.status))) {
      this.finishStep(msg, step);
      return;
    }
    const params: Record<string, string> = {
      AccountSid: msg.accountSid,
      ApiVersion: API_VERSION,
      From: msg.from ?? '',
      MessageSid: msg.sid,
      MessageStatus: s.status,
      SmsSid: msg.sid,
      SmsStatus: s.status,
      To: msg.to,
    };
    if (msg.messagingServiceSid) params.MessagingServiceSid = msg.messagingServiceSid;
    if (s.errorCode !== undefined) params.ErrorCode = String(s.errorCode);
    this.enqueueCallback(msg.statusCallback, params, (r) => {
      msg.callbacks.push({ status: s.status, ...r });
      this.finishStep(msg, step);
    });
  }

  private finishStep(msg: StoredMessage, step: number): void {
    if (this.stopped || this.bySid.get(msg.sid) !== msg) return;
    this.pending--;
    const next = step + 1;
    if (next < msg.plan.length) {
      if (this.delayMs > 0) this.later(this.delayMs, () => this.runStep(msg, next));
      else this.runStep(msg, next);
    }
    if (this.pending === 0) this.resolveIdle();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Queues a status callback to `url`, form-encoded and signed as Twilio signs it. */
  private enqueueCallback(
    url: string,
    params: Record<string, string>,
    done: (result: AttemptResult) => void,
  ): void {
    this.enqueue({
      url,
      attempt: 0,
      params,
      body: new URLSearchParams(params).toString(),
      signature: twilio.getExpectedTwilioSignature(this.opts.authToken, url, params),
      idempotencyToken: randomUUID(),
      done,
    });
  }

  private enqueue(job: CallbackJob): void {
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.qHead < this.queue.length) {
      const job = this.queue[this.qHead++];
      this.inFlight++;
      this.post(job);
    }
    if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
  }

  private post(job: CallbackJob): void {
    let settled = false;
    const settle = (httpStatus: number | undefined, error: string | undefined): void => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      this.complete(job, httpStatus, error);
      this.pump();
    };
    const target = this.callbackUrl(job.url);
    if (!target) {
      settle(undefined, 'invalid callback url');
      return;
    }
    let req: http.ClientRequest;
    try {
      const isHttps = target.protocol === 'https:';
      req = (isHttps ? https : http).request(target, {
        method: 'POST',
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
          'Content-Length': Buffer.byteLength(job.body),
          'X-Twilio-Signature': job.signature,
          'I-Twilio-Idempotency-Token': job.idempotencyToken,
          'User-Agent': 'TwilioProxy/1.1',
          Accept: '*/*',
        },
      });
    } catch (e) {
      settle(undefined, String(e));
      return;
    }
    req.setTimeout(this.callbackTimeoutMs, () => req.destroy(new Error('callback timeout')));
    req.on('response', (res) => {
      res.on('error', () => settle(res.statusCode, 'response error'));
      res.on('end', () => settle(res.statusCode, undefined));
      res.resume();
    });
    req.on('error', (e) => settle(undefined, e.message));
    req.end(job.body);
  }

  private complete(job: CallbackJob, httpStatus: number | undefined, error: string | undefined): void {
    if (this.stopped) return;
    const retryable = httpStatus === undefined || httpStatus >= 500 || httpStatus === 429;
    const attempts = job.attempt + 1;
    if (retryable && job.attempt < this.retries) {
      this.retried++;
      const delay = this.retryBaseMs * 2 ** job.attempt;
      job.attempt++;
      this.later(delay, () => this.enqueue(job));
      return;
    }
    const ok = !retryable;
    if (ok) this.posted++;
    else this.failedCallbacks++;
    const result: AttemptResult = { attempts, ok };
    if (httpStatus !== undefined) result.httpStatus = httpStatus;
    if (error !== undefined) result.error = error;
    job.done(result);
  }

  private resolveIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
