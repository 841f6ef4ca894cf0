/**
 * A local emulator of Aliyun's Dysmsapi (2017-05-25), the part the service uses, for tests. The
 * unmodified `@alicloud/dysmsapi20170525` v4 client talks to it with `endpoint` = the emulator's
 * `host:port` and `protocol` = `http`.
 *
 * Wire protocol as the SDK speaks it (see `@alicloud/openapi-core` `doRequest`): `POST /?<params>`
 * (every API parameter in the query string, empty body), `x-acs-action` / `x-acs-version` headers,
 * and an `Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=...,Signature=...`
 * header over the canonical request (method, path, sorted RFC 3986 query, the signed headers, the
 * body's SHA-256). The emulator recomputes the signature from what arrived, as Aliyun does, and
 * answers Aliyun's errors: `InvalidAccessKeyId.NotFound` (404), `SignatureDoesNotMatch` (400),
 * `InvalidTimeStamp.Expired`, `SignatureNonceUsed`, `Missing<Param>` (400).
 *
 * - `SendSms`: registered signs and templates only (`isv.SMS_SIGNATURE_ILLEGAL`,
 *   `isv.SMS_TEMPLATE_ILLEGAL`), every `${var}` filled (`isv.TEMPLATE_MISSING_PARAMETERS`), values
 *   of 35 characters at most (`isv.PARAM_LENGTH_LIMIT`), numbers mainland 11-digit or `00`+cc
 *   (`isv.MOBILE_NUMBER_ILLEGAL`). Business errors come with HTTP 200 and `Code` != `OK`, like Aliyun.
 * - `QuerySendDetails`: by PhoneNumber and SendDate (yyyyMMdd, Asia/Shanghai), optional BizId, paged.
 * - After `reportDelayMs` each message gets its handset report (delivered, or failed for
 *   `failNumbers`) and, unless `dropReports`, the SmsReport batch is POSTed as a JSON array to
 *   `reportUrl`; a push is retried until it gets a 2xx answer with `{"code":0}`.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface AliyunSmsEmulatorOptions {
  accessKeyId: string;
  accessKeySecret: string;
  /** Approved sign names (签名). */
  signs: string[];
  /** Approved templates: code -> text with `${name}` variables. */
  templates: Record<string, string>;
  /** Numbers (as sent: `138...` or `00...`) whose report is a failure, with its err_code. */
  failNumbers?: Record<string, string | { errCode: string; errMsg?: string }>;
  /** Where SmsReport batches are POSTed (the console's report URL, `?token=` included). */
  reportUrl?: string;
  /** Delay between a send and its handset report (ms). Default 0. */
  reportDelayMs?: number;
  /** Reports change the message's status (QuerySendDetails sees it) but are never pushed. */
  dropReports?: boolean;
  /** Retries of a push after a non-2xx, a body other than `{code:0}`, or no answer. Default 3. */
  reportRetries?: number;
  /** First retry delay (doubles each time), ms. Default 20. */
  reportRetryBaseMs?: number;
  /** Allowed clock skew of `x-acs-date` (ms). Default 15 minutes, like Aliyun. */
  maxSkewMs?: number;
  port?: number;
  host?: string;
}

export interface EmulatedAliyunSms {
  bizId: string;
  phoneNumber: string;
  signName: string;
  templateCode: string;
  params: Record<string, string>;
  /** What the handset shows: `【sign】` + the filled template. */
  text: string;
  outId: string;
  /** 1 waiting for the report, 2 failed, 3 delivered (QuerySendDetails' SendStatus). */
  sendStatus: 1 | 2 | 3;
  errCode: string;
  errMsg: string;
  sendTime: Date;
  reportTime: Date | null;
}

export interface ReportPush {
  items: Json[];
  attempts: number;
  httpStatus?: number;
  /** The receiver answered 2xx with `{code: 0}`. */
  ok: boolean;
  error?: string;
}

export interface ApiRejection {
  httpStatus: number;
  code: string;
  message?: string;
}

/** One API call as the emulator saw it (answered or not). */
export interface ApiCall {
  action: string;
  httpStatus: number | null;
  code: string;
}

export interface AliyunSmsEmulator {
  /** `http://host:port`. */
  readonly url: string;
  /** `host:port`, the SDK's `endpoint` (with `protocol: 'http'`). */
  readonly endpoint: string;
  stop(): Promise<void>;
  messages(filter?: { phoneNumber?: string; outId?: string }): EmulatedAliyunSms[];
  /** Every push made so far (finished ones), in order. */
  reports(): ReportPush[];
  calls(): ApiCall[];
  /** Resolves once every scheduled report and push (with retries) is done. */
  idle(timeoutMs?: number): Promise<void>;
  /** The next `n` SendSms calls are answered `isv.BUSINESS_LIMIT_CONTROL` (HTTP 200), nothing stored. */
  throttleNext(n: number): void;
  /** The next `n` SendSms calls are answered with this error, nothing stored. */
  rejectNext(n: number, rejection: ApiRejection): void;
  /** The next `n` SendSms calls are never answered (`stored`: the message is kept and reported). */
  hangNext(n: number, mode?: 'lost' | 'stored'): void;
  setReportUrl(url: string | undefined): void;
  setDropReports(drop: boolean): void;
}

const API_VERSION = '2017-05-25';
const ALGORITHM = 'ACS3-HMAC-SHA256';
const PARAM_MAX = 35;
const SHANGHAI_MS = 8 * 3600_000;
const MAINLAND = /^1\d{10}$/;
const INTERNATIONAL = /^00[1-9]\d{6,16}$/;
const REQUIRED_SIGNED = [
  'host',
  'x-acs-action',
  'x-acs-content-sha256',
  'x-acs-date',
  'x-acs-signature-nonce',
  'x-acs-version',
];

/** RFC 3986 encoding as Aliyun's canonical query uses it. */
function percent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai. */
function shanghaiTime(d: Date): string {
  return new Date(d.getTime() + SHANGHAI_MS).toISOString().slice(0, 19).replace('T', ' ');
}

function shanghaiDay(d: Date): string {
  return shanghaiTime(d).slice(0, 10).replace(/-/g, '');
}

function bizId(): string {
  const n = BigInt(`0x${randomBytes(8).toString('hex')}`) % 10n ** 18n;
  return `${n.toString().padStart(18, '1')}^0`;
}

class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Stored extends EmulatedAliyunSms {
  failSpec: { errCode: string; errMsg: string } | null;
}

export async function startAliyunSmsEmulator(opts: AliyunSmsEmulatorOptions): Promise<AliyunSmsEmulator> {
  const templates = new Map(Object.entries(opts.templates));
  const signs = new Set(opts.signs);
  const maxSkew = opts.maxSkewMs ?? 15 * 60_000;
  const retries = Math.max(0, opts.reportRetries ?? 3);
  const retryBase = Math.max(0, opts.reportRetryBaseMs ?? 20);
  let reportUrl = opts.reportUrl;
  let dropReports = opts.dropReports ?? false;

  const all: Stored[] = [];
  const pushes: ReportPush[] = [];
  const calls: ApiCall[] = [];
  const nonces = new Set<string>();
  const rejections: ApiRejection[] = [];
  const hangs: Array<'lost' | 'stored'> = [];
  const timers = new Set<NodeJS.Timeout>();
  let pending = 0;
  let waiters: Array<() => void> = [];
  let stopped = false;
  let host = '';

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const done = (): void => {
    pending--;
    if (pending === 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };

  // ------------------------------------------------------------------ signature (ACS3)

  function verify(req: http.IncomingMessage, pathname: string, query: URLSearchParams, body: Buffer): void {
    const auth = req.headers.authorization;
    if (!auth) throw new ApiError(400, 'MissingAuthorization', 'Authorization is mandatory for this action.');
    const m = /^(\S+) Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)$/.exec(auth);
    if (!m)
      throw new ApiError(
        400,
        'IncompleteSignature',
        'The request signature does not conform to Aliyun standards.',
      );
    const [, algorithm, credential, signedList, signature] = m;
    if (algorithm !== ALGORITHM) {
      throw new ApiError(
        400,
        'InvalidSignatureMethod',
        `Specified signature method ${algorithm} is not supported.`,
      );
    }
    if (credential !== opts.accessKeyId) {
      throw new ApiError(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
    }
    const signed = signedList.split(';');
    const presentAcs = Object.keys(req.headers).filter((h) => h.startsWith('x-acs-'));
    for (const h of [...REQUIRED_SIGNED, ...presentAcs]) {
      if (!signed.includes(h)) {
        throw new ApiError(400, 'IncompleteSignature', `The header ${h} must be signed.`);
      }
    }
    const payloadHash = createHash('sha256').update(body).digest('hex');
    if (req.headers['x-acs-content-sha256'] !== payloadHash) {
      throw new ApiError(400, 'ContentSHA256NotMatch', 'The x-acs-content-sha256 does not match the body.');
    }
    const keys = [...new Set(query.keys())].sort();
    const canonicalQuery = keys.map((k) => `${k}=${percent(query.get(k) ?? '')}`).join('&');
    const canonicalHeaders = signed
      .map((h) => {
        const v = req.headers[h];
        return `${h}:${(Array.isArray(v) ? v.join(',') : (v ?? '')).trim()}\n`;
      })
      .join('');
    const canonicalUri = pathname.replace(/\+/g, '%20').replace(/\*/g, '%2A').replace(/%7E/g, '~');
    const canonicalRequest = [
      req.method ?? 'GET',
      canonicalUri,
      canonicalQuery,
      canonicalHeaders,
      signed.join(';'),
      payloadHash,
    ].join('\n');
    const stringToSign = `${ALGORITHM}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
    const expected = createHmac('sha256', opts.accessKeySecret).update(stringToSign).digest();
    const given = Buffer.from(signature, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ApiError(
        400,
        'SignatureDoesNotMatch',
        `Specified signature does not match our calculation. server string to sign is:${stringToSign}`,
      );
    }
    const date = String(req.headers['x-acs-date'] ?? '');
    const t = Date.parse(date);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(date) || Number.isNaN(t)) {
      throw new ApiError(
        400,
        'InvalidTimeStamp.Format',
        'Specified time stamp or date value is not well formatted.',
      );
    }
    if (Math.abs(Date.now() - t) > maxSkew) {
      throw new ApiError(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    }
    const nonce = String(req.headers['x-acs-signature-nonce'] ?? '');
    if (nonces.has(nonce)) {
      throw new ApiError(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    }
    nonces.add(nonce);
  }

  // ------------------------------------------------------------------ actions

  function required(params: URLSearchParams, name: string): string {
    const v = params.get(name);
    if (v === null || v === '')
      throw new ApiError(400, `Missing${name}`, `${name} is mandatory for this action.`);
    return v;
  }

  function sendSms(params: URLSearchParams): { answer: Record<string, Json>; hang?: 'lost' | 'stored' } {
    const phones = required(params, 'PhoneNumbers');
    const signName = required(params, 'SignName');
    const templateCode = required(params, 'TemplateCode');
    const rejection = rejections.shift();
    if (rejection) {
      throw new ApiError(rejection.httpStatus, rejection.code, rejection.message ?? rejection.code);
    }
    const numbers = phones.split(',');
    if (numbers.length > 1000 || numbers.some((n) => !MAINLAND.test(n) && !INTERNATIONAL.test(n))) {
      throw new ApiError(200, 'isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
    }
    if (!signs.has(signName)) throw new ApiError(200, 'isv.SMS_SIGNATURE_ILLEGAL', '该账号下找不到对应签名');
    const template = templates.get(templateCode);
    if (template === undefined) throw new ApiError(200, 'isv.SMS_TEMPLATE_ILLEGAL', '该账号下找不到对应模板');
    const vars = [...template.matchAll(/\$\{([^}]+)\}/g)].map((x) => x[1]);
    let values: Record<string, unknown> = {};
    const rawParam = params.get('TemplateParam');
    if (rawParam !== null && rawParam !== '') {
      try {
        const v: unknown = JSON.parse(rawParam);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        values = v as Record<string, unknown>;
      } catch {
        throw new ApiError(200, 'isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值');
      }
    }
    const filled: Record<string, string> = {};
    for (const name of vars) {
      const v = values[name];
      if (typeof v !== 'string' && typeof v !== 'number') {
        throw new ApiError(200, 'isv.TEMPLATE_MISSING_PARAMETERS', `模板缺少变量: ${name}`);
      }
      const s = String(v);
      if ([...s].length > PARAM_MAX) {
        throw new ApiError(200, 'isv.PARAM_LENGTH_LIMIT', `参数超出长度限制: ${name}`);
      }
      filled[name] = s;
    }
    const hang = hangs.shift();
    if (hang === 'lost') return { answer: {}, hang };
    const text = `【${signName}】${template.replace(/\$\{([^}]+)\}/g, (_, n: string) => filled[n] ?? '')}`;
    const id = bizId();
    const now = new Date();
    const batch: Stored[] = numbers.map((phoneNumber) => {
      const f = opts.failNumbers?.[phoneNumber];
      return {
        bizId: id,
        phoneNumber,
        signName,
        templateCode,
        params: filled,
        text,
        outId: params.get('OutId') ?? '',
        sendStatus: 1,
        errCode: '',
        errMsg: '',
        sendTime: now,
        reportTime: null,
        failSpec:
          f === undefined
            ? null
            : typeof f === 'string'
              ? { errCode: f, errMsg: '用户接收失败' }
              : { errCode: f.errCode, errMsg: f.errMsg ?? '用户接收失败' },
      };
    });
    all.push(...batch);
    pending++;
    later(Math.max(0, opts.reportDelayMs ?? 0), () => report(batch));
    return {
      answer: { Code: 'OK', Message: 'OK', BizId: id, RequestId: randomUUID().toUpperCase() },
      ...(hang ? { hang } : {}),
    };
  }

  function querySendDetails(params: URLSearchParams): Record<string, Json> {
    const phone = required(params, 'PhoneNumber');
    const day = required(params, 'SendDate');
    const pageSize = Number(required(params, 'PageSize'));
    const page = Number(required(params, 'CurrentPage'));
    if (!/^\d{8}$/.test(day)) throw new ApiError(200, 'isv.INVALID_PARAMETERS', 'SendDate 格式错误');
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 50 || !Number.isInteger(page) || page < 1) {
      throw new ApiError(200, 'isv.INVALID_PARAMETERS', 'PageSize 或 CurrentPage 不合法');
    }
    const biz = params.get('BizId');
    const rows = all
      .filter((m) => m.phoneNumber === phone && shanghaiDay(m.sendTime) === day && (!biz || m.bizId === biz))
      .reverse();
    const pageRows = rows.slice((page - 1) * pageSize, page * pageSize).map((m): Json => ({
      PhoneNum: m.phoneNumber,
      SendStatus: m.sendStatus,
      ErrCode: m.sendStatus === 3 ? 'DELIVERED' : m.errCode,
      TemplateCode: m.templateCode,
      Content: m.text,
      SendDate: shanghaiTime(m.sendTime),
      ReceiveDate: m.reportTime ? shanghaiTime(m.reportTime) : '',
      OutId: m.outId,
    }));
    return {
      Code: 'OK',
      Message: 'OK',
      RequestId: randomUUID().toUpperCase(),
      TotalCount: String(rows.length),
      SmsSendDetailDTOs: { SmsSendDetailDTO: pageRows },
    };
  }

  // ------------------------------------------------------------------ reports

  function report(batch: Stored[]): void {
    if (stopped) return;
    const now = new Date();
    const items: Json[] = [];
    for (const m of batch) {
      m.reportTime = now;
      m.sendStatus = m.failSpec ? 2 : 3;
      m.errCode = m.failSpec ? m.failSpec.errCode : 'DELIVERED';
      m.errMsg = m.failSpec ? m.failSpec.errMsg : '用户接收成功';
      items.push({
        phone_number: m.phoneNumber,
        send_time: shanghaiTime(m.sendTime),
        report_time: shanghaiTime(now),
        success: m.failSpec === null,
        err_code: m.errCode,
        err_msg: m.errMsg,
        sms_size: String(m.text.length <= 70 ? 1 : Math.ceil(m.text.length / 67)),
        biz_id: m.bizId,
        out_id: m.outId,
      });
    }
    if (!reportUrl || dropReports) {
      done();
      return;
    }
    push(reportUrl, JSON.stringify(items), items, 0);
  }

  function push(url: string, body: string, items: Json[], attempt: number): void {
    let settled = false;
    const settle = (httpStatus: number | undefined, ok: boolean, error?: string): void => {
      if (settled || stopped) return;
      settled = true;
      if (!ok && attempt < retries) {
        later(retryBase * 2 ** attempt, () => push(url, body, items, attempt + 1));
        return;
      }
      const r: ReportPush = { items, attempts: attempt + 1, ok };
      if (httpStatus !== undefined) r.httpStatus = httpStatus;
      if (error !== undefined) r.error = error;
      pushes.push(r);
      done();
    };
    let req: http.ClientRequest;
    try {
      req = http.request(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json;charset=utf-8',
          'Content-Length': Buffer.byteLength(body),
          'User-Agent': 'Aliyun-SmsReport',
        },
      });
    } catch (e) {
      settle(undefined, false, String(e));
      return;
    }
    req.setTimeout(5000, () => req.destroy(new Error('report push timeout')));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let acked: boolean;
        try {
          acked = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown }).code === 0;
        } catch {
          acked = false;
        }
        settle(
          status,
          status >= 200 && status < 300 && acked,
          acked ? undefined : 'no {code:0} in the answer',
        );
      });
      res.on('error', (e) => settle(res.statusCode, false, e.message));
    });
    req.on('error', (e) => settle(undefined, false, e.message));
    req.end(body);
  }

  // ------------------------------------------------------------------ HTTP

  function answer(res: http.ServerResponse, status: number, body: Record<string, Json>): void {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json;charset=utf-8',
      'Content-Length': Buffer.byteLength(payload),
      'x-acs-request-id': typeof body.RequestId === 'string' ? body.RequestId : randomUUID().toUpperCase(),
    });
    res.end(payload);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));
    const action = String(req.headers['x-acs-action'] ?? query.get('Action') ?? '');
    const call: ApiCall = { action, httpStatus: null, code: '' };
    calls.push(call);
    try {
      verify(req, pathname, query, body);
      const version = String(req.headers['x-acs-version'] ?? '');
      if (version !== API_VERSION) {
        throw new ApiError(400, 'InvalidVersion', `Specified parameter Version is not valid: ${version}`);
      }
      // A form body (other clients) carries parameters too; the v4 SDK sends them all in the query.
      const params = new URLSearchParams(query);
      if (String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.set(k, v);
      }
      let result: Record<string, Json>;
      if (action === 'SendSms') {
        const r = sendSms(params);
        if (r.hang) {
          call.code = `hang:${r.hang}`;
          return; // never answered; the client times out
        }
        result = r.answer;
      } else if (action === 'QuerySendDetails') {
        result = querySendDetails(params);
      } else {
        throw new ApiError(
          404,
          'InvalidAction.NotFound',
          `Specified api is not found, please check your url and method.`,
        );
      }
      call.httpStatus = 200;
      call.code = String(result.Code);
      answer(res, 200, result);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', String(err));
      call.httpStatus = e.httpStatus;
      call.code = e.code;
      answer(res, e.httpStatus, {
        RequestId: randomUUID().toUpperCase(),
        HostId: host,
        Code: e.code,
        Message: e.message,
        Recommend: `https://api.aliyun.com/troubleshoot?q=${e.code}`,
      });
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
    req.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  host = `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;

  const snapshot = (m: Stored): EmulatedAliyunSms => {
    const { failSpec: _f, ...rest } = m;
    void _f;
    return {
      ...rest,
      params: { ...m.params },
      sendTime: new Date(m.sendTime),
      reportTime: m.reportTime && new Date(m.reportTime),
    };
  };

  return {
    url: `http://${host}`,
    endpoint: host,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      pending = 0;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    messages(filter = {}) {
      return all
        .filter(
          (m) =>
            (filter.phoneNumber === undefined || m.phoneNumber === filter.phoneNumber) &&
            (filter.outId === undefined || m.outId === filter.outId),
        )
        .map(snapshot);
    },
    reports: () => pushes.map((p) => ({ ...p })),
    calls: () => calls.map((c) => ({ ...c })),
    idle(timeoutMs) {
      if (pending === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const w = (): void => {
          if (timer) clearTimeout(timer);
          resolve();
        };
        waiters.push(w);
        if (timeoutMs !== undefined) {
          timer = setTimeout(() => {
            waiters = waiters.filter((x) => x !== w);
            reject(new Error(`Aliyun SMS emulator not idle after ${timeoutMs} ms (${pending} pending)`));
          }, timeoutMs);
        }
      });
    },
    throttleNext(n) {
      for (let i = 0; i < n; i++) {
        rejections.push({
          httpStatus: 200,
          code: 'isv.BUSINESS_LIMIT_CONTROL',
          message: '触发分钟级流控Permits:1',
        });
      }
    },
    rejectNext(n, rejection) {
      for (let i = 0; i < n; i++) rejections.push({ ...rejection });
    },
    hangNext(n, mode = 'lost') {
      for (let i = 0; i < n; i++) hangs.push(mode);
    },
    setReportUrl(url) {
      reportUrl = url;
    },
    setDropReports(drop) {
      dropReports = drop;
    },
  };
}
