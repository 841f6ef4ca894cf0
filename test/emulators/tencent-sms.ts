/**
 * A local emulator of the Tencent Cloud SMS API 3.0 (version 2021-01-11, the part the service
 * uses), for tests. The unmodified `tencentcloud-sdk-nodejs-sms` client talks to it with
 * `httpProfile: { endpoint: emulator.endpoint, protocol: 'http://' }`.
 *
 * - Wire protocol as the SDK speaks it: `POST /` with a JSON body, `X-TC-Action`, `X-TC-Version`,
 *   `X-TC-Timestamp` and a TC3-HMAC-SHA256 `Authorization`, verified exactly like Tencent
 *   (canonical request over the signed headers and the body hash, key derived from the date, the
 *   service and `tc3_request`). Two local allowances, both forced by the SDK: the `host` header
 *   is signed without its port (the SDK signs `URL.hostname`), and the credential scope's service
 *   must equal the host's first label (the SDK derives it so: `127` for `127.0.0.1:port`, `sms`
 *   for `sms.tencentcloudapi.com`).
 * - Every answer is HTTP 200 with `{"Response": {...}}`; errors in `Response.Error`.
 * - Actions: `SendSms`, `PullSmsSendStatusByPhoneNumber` (by number and time window) and
 *   `PullSmsSendStatus` (queue mode: each report is pulled once).
 * - After a send, each accepted number gets a report after `reportDelayMs`: SUCCESS, or FAIL for
 *   `failNumbers`. Reports are kept for the pulls and, unless `dropReports`, POSTed in batches
 *   (a JSON array, the status report callback format) to `reportUrl`, retried on non-2xx.
 * - Per-number errors as Tencent reports them in `SendStatusSet` (unknown sign or template,
 *   parameter count, length, URL, bad number, throttling); request-level throttling as
 *   `RequestLimitExceeded`.
 */
import { createHash, createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TencentFailSpec {
  /** Carrier error, e.g. `MK:0001` (empty number) or `UNDELIV`. */
  errmsg: string;
  description?: string;
}

export interface TencentSmsEmulatorOptions {
  secretId: string;
  secretKey: string;
  sdkAppId: string;
  /** Approved sign names (签名). */
  signs: string[];
  /** Approved templates: id -> text with `{1}`, `{2}`, ... */
  templates: Record<string, string>;
  /** E.164 numbers whose reports are FAIL with this error (a string = errmsg). */
  failNumbers?: Record<string, string | TencentFailSpec>;
  /** Where status reports are POSTed (the console's callback URL, `?token=` included). */
  reportUrl?: string;
  /** Delay between the send and the report (ms). Default 0. */
  reportDelayMs?: number;
  /** Keep reports for the pulls but never POST them (lost callbacks). */
  dropReports?: boolean;
  /** Retries of a report POST after a non-2xx or a connection error. Default 3. */
  reportRetries?: number;
  /** First retry delay (doubles each time), ms. Default 20. */
  reportRetryBaseMs?: number;
  /** Longest template variable (Tencent: 12 for personal accounts). Default 12. */
  maxParamLength?: number;
  /** Whether pulled statuses echo SessionContext (an account feature at Tencent). Default true. */
  echoSessionContext?: boolean;
  /** Accepted clock skew of X-TC-Timestamp, seconds. Default 300 (Tencent's). */
  maxSkewSeconds?: number;
}

export interface EmulatedTencentSms {
  serialNo: string;
  phoneNumber: string;
  sdkAppId: string;
  signName: string;
  templateId: string;
  params: string[];
  sessionContext: string;
  /** What the handset shows: `【sign】` + the template with the values filled in. */
  text: string;
  fee: number;
  submittedAt: Date;
  report: null | {
    status: 'SUCCESS' | 'FAIL';
    errmsg: string;
    description: string;
    receivedAt: Date;
  };
  /** Report POSTs: attempts made and the last HTTP status (undefined = no answer). */
  pushes: { attempts: number; httpStatus?: number; ok: boolean }[];
}

export interface TencentEmulatorRequest {
  action: string;
  /** Error code answered (`Response.Error.Code`), or null when the call succeeded. */
  error: string | null;
  /** Per-number codes of a SendSms. */
  codes: string[];
}

export type ThrottleKind = 'number' | 'request';

export interface TencentSmsEmulator {
  /** `http://127.0.0.1:port` */
  url: string;
  /** `127.0.0.1:port`, for `httpProfile.endpoint` (with `protocol: 'http://'`). */
  endpoint: string;
  stop(): Promise<void>;
  messages(phoneNumber?: string): EmulatedTencentSms[];
  requests(): TencentEmulatorRequest[];
  /** Resolves once every due report has been made and pushed (or given up). */
  idle(timeoutMs?: number): Promise<void>;
  /**
   * The next `n` SendSms calls are throttled: `number` answers the per-number
   * `LimitExceeded.PhoneNumberThirtySecondLimit`, `request` the whole-call `RequestLimitExceeded`.
   */
  throttleNext(n: number, kind?: ThrottleKind): void;
  /** The next `n` SendSms calls are taken (stored, reported) but never answered. */
  hangNext(n: number, opts?: { store: boolean }): void;
  /** The next `n` calls are answered with this HTTP status and no body (a broken gateway). */
  httpErrorNext(n: number, status: number): void;
  setReportUrl(url: string | undefined): void;
}

const VERSION = '2021-01-11';
const MAX_BODY_BYTES = 1024 * 1024;
const AUTH =
  /^TC3-HMAC-SHA256 Credential=([^/\s]+)\/(\d{4}-\d{2}-\d{2})\/([^/\s]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;
const URL_IN_VALUE = /(https?:\/\/|www\.|\b[a-z0-9-]+\.(com|cn|net|org|io|cc|top|xyz|me)\b)/i;

const sha256hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const hmac = (key: string | Buffer, msg: string): Buffer => createHmac('sha256', key).update(msg).digest();

/** The TC3-HMAC-SHA256 signature over a canonical request (Tencent's algorithm). */
export function tc3Signature(
  secretKey: string,
  date: string,
  service: string,
  timestamp: string,
  canonicalRequest: string,
): string {
  const stringToSign = `TC3-HMAC-SHA256\n${timestamp}\n${date}/${service}/tc3_request\n${sha256hex(canonicalRequest)}`;
  const kDate = hmac(`TC3${secretKey}`, date);
  const kService = hmac(kDate, service);
  const kSigning = hmac(kService, 'tc3_request');
  return createHmac('sha256', kSigning).update(stringToSign).digest('hex');
}

/** `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai (UTC+8). */
export function shanghaiTime(d: Date): string {
  return new Date(d.getTime() + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** E.164 (or a bare 11-digit mainland number) -> [nation code, subscriber number], or undefined. */
export function splitNumber(n: string): [string, string] | undefined {
  if (/^1\d{10}$/.test(n)) return ['86', n];
  if (/^\+861\d{10}$/.test(n)) return ['86', n.slice(3)];
  if (/^\+86/.test(n)) return undefined;
  if (/^\+1\d{10}$/.test(n)) return ['1', n.slice(2)];
  const m = /^\+([1-9]\d)(\d{6,12})$/.exec(n);
  return m ? [m[1], m[2]] : undefined;
}

interface StoredSms extends EmulatedTencentSms {
  pulledFromQueue: boolean;
}

interface PushItem {
  sms: StoredSms;
  body: Record<string, string>;
}

class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startTencentSmsEmulator(opts: TencentSmsEmulatorOptions): Promise<TencentSmsEmulator> {
  const maxParam = opts.maxParamLength ?? 12;
  const retries = Math.max(0, opts.reportRetries ?? 3);
  const retryBase = Math.max(0, opts.reportRetryBaseMs ?? 20);
  const skew = opts.maxSkewSeconds ?? 300;
  const echo = opts.echoSessionContext ?? true;
  let reportUrl = opts.reportUrl;

  const all: StoredSms[] = [];
  const log: TencentEmulatorRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const hung = new Set<http.ServerResponse>();
  let throttle: { n: number; kind: ThrottleKind } = { n: 0, kind: 'number' };
  let hang = { n: 0, store: true };
  let httpError = { n: 0, status: 500 };
  let pendingReports = 0;
  let batch: PushItem[] = [];
  let batchScheduled = false;
  let idleWaiters: (() => void)[] = [];
  let stopped = false;

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const settleIdle = (): void => {
    if (pendingReports > 0) return;
    const w = idleWaiters;
    idleWaiters = [];
    for (const f of w) f();
  };

  // ------------------------------------------------------------------ reports

  const makeReport = (sms: StoredSms): void => {
    if (stopped) return;
    const fail = opts.failNumbers?.[sms.phoneNumber];
    const spec: TencentFailSpec | undefined = typeof fail === 'string' ? { errmsg: fail } : fail;
    const receivedAt = new Date();
    sms.report = spec
      ? {
          status: 'FAIL',
          errmsg: spec.errmsg,
          description: spec.description ?? '用户短信送达失败',
          receivedAt,
        }
      : { status: 'SUCCESS', errmsg: 'DELIVRD', description: '用户短信送达成功', receivedAt };
    if (opts.dropReports || !reportUrl) {
      pendingReports--;
      settleIdle();
      return;
    }
    const [nationcode, mobile] = splitNumber(sms.phoneNumber) ?? ['', sms.phoneNumber];
    batch.push({
      sms,
      body: {
        user_receive_time: shanghaiTime(receivedAt),
        nationcode,
        mobile,
        report_status: sms.report.status,
        errmsg: sms.report.errmsg,
        description: sms.report.description,
        sid: sms.serialNo,
      },
    });
    if (!batchScheduled) {
      batchScheduled = true;
      // Reports due in the same tick go out as one array, as Tencent batches them.
      later(0, () => {
        batchScheduled = false;
        const items = batch;
        batch = [];
        push(items, 0);
      });
    }
  };

  const push = (items: PushItem[], attempt: number): void => {
    if (stopped) return;
    const target = reportUrl;
    const done = (httpStatus: number | undefined): void => {
      const ok = httpStatus !== undefined && httpStatus >= 200 && httpStatus < 300;
      if (!ok && attempt < retries && !stopped) {
        later(retryBase * 2 ** attempt, () => push(items, attempt + 1));
        return;
      }
      for (const it of items) {
        it.sms.pushes.push({
          attempts: attempt + 1,
          ...(httpStatus === undefined ? {} : { httpStatus }),
          ok,
        });
        pendingReports--;
      }
      settleIdle();
    };
    if (!target) {
      done(undefined);
      return;
    }
    const payload = JSON.stringify(items.map((i) => i.body));
    let settled = false;
    const once = (s: number | undefined): void => {
      if (settled) return;
      settled = true;
      done(s);
    };
    try {
      const req = http.request(target, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
      });
      req.setTimeout(5000, () => req.destroy(new Error('report timeout')));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => once(res.statusCode));
        res.on('error', () => once(undefined));
      });
      req.on('error', () => once(undefined));
      req.end(payload);
    } catch {
      once(undefined);
    }
  };

  // ------------------------------------------------------------------ signature

  const verify = (req: http.IncomingMessage, body: Buffer): void => {
    const auth = String(req.headers.authorization ?? '');
    const m = AUTH.exec(auth);
    if (!m) throw new ApiError('AuthFailure.InvalidAuthorization', 'Authorization is malformed.');
    const [, secretId, date, service, signedHeaders, signature] = m;
    if (secretId !== opts.secretId)
      throw new ApiError('AuthFailure.SecretIdNotFound', 'The SecretId is not found.');
    const timestamp = String(req.headers['x-tc-timestamp'] ?? '');
    const ts = Number.parseInt(timestamp, 10);
    if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - ts) > skew) {
      throw new ApiError('AuthFailure.SignatureExpire', 'Signature expired.');
    }
    if (new Date(ts * 1000).toISOString().slice(0, 10) !== date) {
      throw new ApiError(
        'AuthFailure.SignatureFailure',
        'The credential date does not match X-TC-Timestamp.',
      );
    }
    const hostname = String(req.headers.host ?? '').replace(/:\d+$/, '');
    if (service !== hostname.split('.')[0]) {
      throw new ApiError('AuthFailure.SignatureFailure', 'The credential service does not match the host.');
    }
    const names = signedHeaders.split(';');
    if (!names.includes('content-type') || !names.includes('host')) {
      throw new ApiError('AuthFailure.SignatureFailure', 'SignedHeaders must include content-type and host.');
    }
    const canonicalHeaders = names
      .map((n) => {
        const v = n === 'host' ? hostname : String(req.headers[n] ?? '');
        return `${n}:${v.trim().toLowerCase()}\n`;
      })
      .join('');
    const query = (req.url ?? '/').split('?')[1] ?? '';
    const canonical = `POST\n/\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${sha256hex(body)}`;
    const expected = tc3Signature(opts.secretKey, date, service, timestamp, canonical);
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
      throw new ApiError(
        'AuthFailure.SignatureFailure',
        'The provided credentials could not be validated. Please check your signature is correct.',
      );
    }
  };

  // ------------------------------------------------------------------ actions

  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const strArray = (v: unknown): string[] | undefined =>
    Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);

  const checkApp = (p: Record<string, unknown>): void => {
    const app = str(p.SmsSdkAppId);
    if (app === undefined) throw new ApiError('MissingParameter', 'The parameter `SmsSdkAppId` is missing.');
    if (app !== opts.sdkAppId) {
      throw new ApiError('InvalidParameterValue.SdkAppIdNotExist', 'The SdkAppId does not exist.');
    }
  };

  const sendSms = (
    p: Record<string, unknown>,
  ): { result: Record<string, unknown>; codes: string[]; hang: boolean } => {
    const numbers = strArray(p.PhoneNumberSet);
    const templateId = str(p.TemplateId);
    if (!numbers) throw new ApiError('MissingParameter', 'The parameter `PhoneNumberSet` is missing.');
    if (templateId === undefined)
      throw new ApiError('MissingParameter', 'The parameter `TemplateId` is missing.');
    checkApp(p);
    if (numbers.length === 0 || numbers.length > 200) {
      throw new ApiError('LimitExceeded.PhoneNumberCountLimit', 'The number of phone numbers exceeds 200.');
    }
    const params = p.TemplateParamSet === undefined ? [] : strArray(p.TemplateParamSet);
    if (!params) throw new ApiError('InvalidParameter', 'The parameter `TemplateParamSet` has a wrong type.');
    const signName = str(p.SignName) ?? '';
    const sessionContext = str(p.SessionContext) ?? '';
    if (Buffer.byteLength(sessionContext) >= 512) {
      throw new ApiError('InvalidParameterValue.SessionContextLengthLimit', 'SessionContext is too long.');
    }
    if (throttle.n > 0 && throttle.kind === 'request') {
      throttle.n--;
      throw new ApiError('RequestLimitExceeded', 'Your current request count exceeds the frequency limit.');
    }
    const numberThrottled = throttle.n > 0;
    if (numberThrottled) throttle.n--;
    const hangThis = hang.n > 0;
    if (hangThis) hang.n--;

    const template = opts.templates[templateId];
    const slots = template === undefined ? 0 : new Set(template.match(/\{\d+\}/g) ?? []).size;
    const statuses: Record<string, unknown>[] = [];
    const codes: string[] = [];
    for (const phone of numbers) {
      const base = {
        PhoneNumber: phone,
        SessionContext: sessionContext,
        IsoCode: phone.startsWith('+86') ? 'CN' : 'DEF',
      };
      const refuse = (code: string, message: string): void => {
        statuses.push({ ...base, SerialNo: '', Fee: 0, Code: code, Message: message });
        codes.push(code);
      };
      const split = splitNumber(phone);
      if (numberThrottled) {
        refuse(
          'LimitExceeded.PhoneNumberThirtySecondLimit',
          'the number of sms messages sent from a single mobile number within 30 seconds exceeds the upper limit',
        );
      } else if (!split) {
        refuse('InvalidParameterValue.IncorrectPhoneNumber', 'incorrect phone number format');
      } else if (!opts.signs.includes(signName)) {
        refuse(
          'FailedOperation.SignatureIncorrectOrUnapproved',
          'signature is not approved or signature format is incorrect',
        );
      } else if (template === undefined || params.length !== slots) {
        // Tencent answers a parameter count that does not fit the template like an unknown template.
        refuse(
          'FailedOperation.TemplateIncorrectOrUnapproved',
          'template is not approved or request content does not match the approved template content',
        );
      } else if (params.some((v) => v.length > maxParam)) {
        refuse(
          'InvalidParameterValue.TemplateParameterLengthLimit',
          `single template variable exceeds ${maxParam} characters`,
        );
      } else if (params.some((v) => URL_IN_VALUE.test(v))) {
        refuse(
          'InvalidParameterValue.ProhibitedUseUrlInTemplateParameter',
          'urls are prohibited in template parameters',
        );
      } else {
        const text = `【${signName}】${template.replace(/\{(\d+)\}/g, (_, i: string) => params[Number(i) - 1] ?? '')}`;
        const fee = text.length <= 70 ? 1 : Math.ceil(text.length / 67);
        const serialNo = `2028:${String(randomInt(1e9)).padStart(9, '0')}${String(randomInt(1e9)).padStart(9, '0')}${all.length}`;
        const stored = !hangThis || hang.store;
        if (stored) {
          const sms: StoredSms = {
            serialNo,
            phoneNumber: phone,
            sdkAppId: opts.sdkAppId,
            signName,
            templateId,
            params: [...params],
            sessionContext,
            text,
            fee,
            submittedAt: new Date(),
            report: null,
            pushes: [],
            pulledFromQueue: false,
          };
          all.push(sms);
          pendingReports++;
          later(Math.max(0, opts.reportDelayMs ?? 0), () => makeReport(sms));
        }
        statuses.push({ ...base, SerialNo: serialNo, Fee: fee, Code: 'Ok', Message: 'send success' });
        codes.push('Ok');
      }
    }
    return { result: { SendStatusSet: statuses }, codes, hang: hangThis };
  };

  const pulled = (s: StoredSms): Record<string, unknown> => {
    const [cc, sub] = splitNumber(s.phoneNumber) ?? ['', s.phoneNumber];
    return {
      UserReceiveTime: Math.floor((s.report?.receivedAt.getTime() ?? 0) / 1000),
      CountryCode: cc,
      SubscriberNumber: sub,
      PhoneNumber: s.phoneNumber,
      SerialNo: s.serialNo,
      ReportStatus: s.report?.status ?? '',
      Description: s.report?.description ?? '',
      SessionContext: echo ? s.sessionContext : '',
    };
  };

  const pullByNumber = (p: Record<string, unknown>): Record<string, unknown> => {
    const phone = str(p.PhoneNumber);
    const begin = int(p.BeginTime);
    const limit = int(p.Limit);
    const offset = int(p.Offset);
    if (phone === undefined || begin === undefined || limit === undefined || offset === undefined) {
      throw new ApiError('MissingParameter', 'PhoneNumber, BeginTime, Offset and Limit are required.');
    }
    checkApp(p);
    if (limit < 1 || limit > 100) throw new ApiError('InvalidParameterValue', 'Limit must be 1..100.');
    if (offset !== 0) throw new ApiError('InvalidParameterValue', 'Offset must be 0.');
    const end = int(p.EndTime);
    const nowS = Date.now() / 1000;
    if (begin < nowS - 7 * 86_400)
      throw new ApiError('InvalidParameterValue', 'BeginTime is more than 7 days ago.');
    const list = all.filter((s) => {
      if (s.phoneNumber !== phone || !s.report) return false;
      const t = s.report.receivedAt.getTime() / 1000;
      return t >= begin && (end === undefined || t <= end);
    });
    return { PullSmsSendStatusSet: list.slice(0, limit).map(pulled) };
  };

  const pullQueue = (p: Record<string, unknown>): Record<string, unknown> => {
    const limit = int(p.Limit);
    if (limit === undefined) throw new ApiError('MissingParameter', 'The parameter `Limit` is missing.');
    checkApp(p);
    if (limit < 1 || limit > 100) throw new ApiError('InvalidParameterValue', 'Limit must be 1..100.');
    const list = all.filter((s) => s.report && !s.pulledFromQueue).slice(0, limit);
    for (const s of list) s.pulledFromQueue = true;
    return { PullSmsSendStatusSet: list.map(pulled) };
  };

  // ------------------------------------------------------------------ HTTP

  const answer = (res: http.ServerResponse, response: Record<string, unknown>): void => {
    const requestId = randomUUID();
    const payload = JSON.stringify({ Response: { ...response, RequestId: requestId } });
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(payload),
      'X-TC-RequestId': requestId,
    });
    res.end(payload);
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void => {
    const action = String(req.headers['x-tc-action'] ?? '');
    const entry: TencentEmulatorRequest = { action, error: null, codes: [] };
    log.push(entry);
    if (httpError.n > 0) {
      httpError.n--;
      res.writeHead(httpError.status).end();
      entry.error = `HTTP ${httpError.status}`;
      return;
    }
    try {
      if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
        throw new ApiError('UnsupportedProtocol', 'Only POST / is served.');
      }
      const ct = String(req.headers['content-type'] ?? '').toLowerCase();
      if (!ct.startsWith('application/json')) {
        throw new ApiError('InvalidParameter', 'Content-Type must be application/json.');
      }
      verify(req, body);
      if (req.headers['x-tc-version'] !== VERSION) {
        throw new ApiError(
          'NoSuchVersion',
          `The API version ${String(req.headers['x-tc-version'])} does not exist.`,
        );
      }
      let p: unknown;
      try {
        p = JSON.parse(body.toString('utf8'));
      } catch {
        throw new ApiError('InvalidParameter', 'The body is not JSON.');
      }
      if (typeof p !== 'object' || p === null || Array.isArray(p)) {
        throw new ApiError('InvalidParameter', 'The body is not a JSON object.');
      }
      const params = p as Record<string, unknown>;
      switch (action) {
        case 'SendSms': {
          const r = sendSms(params);
          entry.codes = r.codes;
          if (r.hang) {
            hung.add(res);
            return;
          }
          answer(res, r.result);
          return;
        }
        case 'PullSmsSendStatusByPhoneNumber':
          answer(res, pullByNumber(params));
          return;
        case 'PullSmsSendStatus':
          answer(res, pullQueue(params));
          return;
        default:
          throw new ApiError('InvalidAction', `The action ${action} does not exist.`);
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      entry.error = e.code;
      answer(res, { Error: { Code: e.code, Message: e.message } });
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413).end();
        return;
      }
      handle(req, res, Buffer.concat(chunks));
    });
    req.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `127.0.0.1:${port}`;

  const snapshot = (s: StoredSms): EmulatedTencentSms => ({
    serialNo: s.serialNo,
    phoneNumber: s.phoneNumber,
    sdkAppId: s.sdkAppId,
    signName: s.signName,
    templateId: s.templateId,
    params: [...s.params],
    sessionContext: s.sessionContext,
    text: s.text,
    fee: s.fee,
    submittedAt: new Date(s.submittedAt),
    report: s.report ? { ...s.report, receivedAt: new Date(s.report.receivedAt) } : null,
    pushes: s.pushes.map((x) => ({ ...x })),
  });

  return {
    url: `http://${endpoint}`,
    endpoint,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const r of hung) r.destroy();
      hung.clear();
      pendingReports = 0;
      settleIdle();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    messages(phoneNumber) {
      return all.filter((s) => phoneNumber === undefined || s.phoneNumber === phoneNumber).map(snapshot);
    },
    requests() {
      return log.map((e) => ({ ...e, codes: [...e.codes] }));
    },
    idle(timeoutMs = 10_000) {
      if (pendingReports === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`tencent emulator not idle after ${timeoutMs} ms`)),
          timeoutMs,
        );
        idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
    throttleNext(n, kind = 'number') {
      throttle = { n, kind };
    },
    hangNext(n, o = { store: true }) {
      hang = { n, store: o.store };
    },
    httpErrorNext(n, status) {
      httpError = { n, status };
    },
    setReportUrl(url) {
      reportUrl = url;
    },
  };
}
