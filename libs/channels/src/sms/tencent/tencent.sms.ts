/**
 * SMS through Tencent Cloud (腾讯云短信), API 2021-01-11, with the official
 * `tencentcloud-sdk-nodejs-sms` client (TC3-HMAC-SHA256 signing is the SDK's).
 *
 * Mainland gateways take no free text: a message is a registered template (模板) id, a registered
 * sign name (签名) and the template's `{1}`, `{2}`, ... values, so `send` needs
 * `message.sms.registered.tencent`.
 *
 * SDK behaviour this adapter depends on (read in node_modules, version 4.1.x):
 * - The SDK never retries by itself: one call is one HTTP request (node-fetch, `reqTimeout` in
 *   seconds covering the whole exchange).
 * - Every failure is a `TencentCloudSDKHttpException`: an answered API error carries `code`
 *   (`Response.Error.Code`, HTTP 200); a non-200 answer carries `httpCode` and no code; a
 *   transport failure carries only node-fetch's message (`connect ECONNREFUSED ...`,
 *   `network timeout at ...`), so the failure kind is read from that text.
 * - Per-number failures of `SendSms` are not exceptions: the call succeeds and the number's
 *   `SendStatusSet` entry has a `Code` other than `Ok`.
 * - The signature's credential scope names the service as the endpoint's first label
 *   (`sms.tencentcloudapi.com` -> `sms`; an emulator at `127.0.0.1:port` -> `127`).
 */
import http from 'node:http';
import https from 'node:https';
import tencentcloud from 'tencentcloud-sdk-nodejs-sms';
import type { ReceiptOutcome } from '#libs/core';
import { ProviderError } from '#libs/core';
import type { InboundRequest, InboundResult, WebhookOwner } from '../../inbound.js';
import type {
  ChannelProvider,
  Json,
  NormalisedReceipt,
  OutboundMessage,
  RegisteredSms,
  SendResult,
} from '../../provider.js';
import { parseShanghaiTime, reportDedupKey, tokenMatches } from '../mainland-report.js';

const SmsClient = tencentcloud.sms.v20210111.Client;
type SmsClient = InstanceType<typeof SmsClient>;
type SendSmsResponse = Awaited<ReturnType<SmsClient['SendSms']>>;
type SendStatus = NonNullable<SendSmsResponse['SendStatusSet']>[number];
type PullResponse = Awaited<ReturnType<SmsClient['PullSmsSendStatusByPhoneNumber']>>;
export type TencentPulledStatus = NonNullable<PullResponse['PullSmsSendStatusSet']>[number];

export interface TencentSmsSettings {
  secretId: string;
  secretKey: string;
  /** The SMS application (短信应用) id, e.g. `1400006666`. */
  sdkAppId: string;
  /** Default `ap-guangzhou` (SMS is not regional; the SDK sends it as X-TC-Region). */
  region?: string;
  /** `host[:port]`, default `sms.tencentcloudapi.com` (a local emulator in tests). */
  endpoint?: string;
  /** Default `https://`; `http://` only for a local emulator. */
  protocol?: 'http://' | 'https://';
  /**
   * Secret carried as the `token` query parameter of the status-report URL configured in the
   * console: Tencent does not sign its callbacks, this token is their only authentication.
   */
  callbackToken: string;
  timeoutMs: number;
}

/** One item of the status report (状态回执) callback body, a JSON array of these. */
export interface TencentStatusReport {
  user_receive_time?: string;
  nationcode?: string;
  mobile?: string;
  report_status?: string;
  errmsg?: string;
  description?: string;
  sid: string;
  [key: string]: Json | undefined;
}

/** Tencent's report status -> normalised outcome. Anything undocumented is `unknown`, never success. */
export function tencentOutcome(reportStatus: string | undefined): ReceiptOutcome {
  switch (reportStatus) {
    case 'SUCCESS':
      return 'delivered';
    case 'FAIL':
      return 'undelivered';
    default:
      return 'unknown';
  }
}

/**
 * Whether an error code Tencent answered may succeed on a later try (or at the other provider):
 * throttling, quota and internal errors. Template, sign, parameter, number and credential errors
 * are the request's fault and fail the same way every time; unknown codes are treated likewise.
 * An empty balance (`FailedOperation.InsufficientBalanceInSmsPackage`) is retryable: the message
 * was refused unsent, and another account or a top-up can take it.
 */
export function tencentCodeRetryable(code: string): boolean {
  return (
    code.startsWith('RequestLimitExceeded') ||
    code.startsWith('LimitExceeded') ||
    code.startsWith('InternalError') ||
    code.startsWith('ResourceUnavailable') ||
    code === 'FailedOperation.InsufficientBalanceInSmsPackage'
  );
}

/** Transport failures that happen before the request leaves: the message surely was not sent. */
const NOT_SENT_ERRNO = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];

interface SdkErrorLike {
  message?: string;
  code?: string;
  httpCode?: number;
  requestId?: string;
}

/**
 * Maps whatever the SDK threw to a ProviderError. `httpStatus` is the HTTP status seen (200 when
 * the error came in the `Response.Error` body); 0 for a connection refused or a failed DNS lookup
 * (nothing was sent, so FailoverProvider may move on); null when the request may have arrived (a
 * timeout or a reset after sending): the pipeline must reconcile with `findSent` first.
 */
export function tencentError(err: unknown, request: Json): ProviderError {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SdkErrorLike;
  const message = e.message ?? String(err);
  if (typeof e.code === 'string' && e.code !== '') {
    return new ProviderError(`tencent: ${e.code}: ${message}`, tencentCodeRetryable(e.code), {
      httpStatus: typeof e.httpCode === 'number' ? e.httpCode : 200,
      providerCode: e.code,
      requestId: e.requestId ?? null,
      request,
    });
  }
  if (typeof e.httpCode === 'number') {
    const s = e.httpCode;
    return new ProviderError(`tencent: HTTP ${s} ${message}`, s === 408 || s === 429 || s >= 500, {
      httpStatus: s,
      providerCode: null,
      request,
    });
  }
  const errno = NOT_SENT_ERRNO.find((c) => message.includes(c));
  if (errno) {
    return new ProviderError(`tencent: not sent: ${message}`, true, {
      httpStatus: 0,
      providerCode: errno,
      request,
    });
  }
  return new ProviderError(`tencent: no answer: ${message}`, true, {
    httpStatus: null,
    providerCode: /timeout/i.test(message) ? 'timeout' : null,
    request,
  });
}

/** A per-number `SendStatusSet` entry other than `Ok`, as a ProviderError (the HTTP call got 200). */
export function tencentStatusError(status: SendStatus, request: Json): ProviderError {
  const code = status.Code ?? 'missing';
  return new ProviderError(`tencent: ${code}: ${status.Message ?? ''}`, tencentCodeRetryable(code), {
    httpStatus: 200,
    providerCode: code,
    request,
  });
}

/** Parses a status report body: a JSON array of objects each with a string `sid`. */
export function parseStatusReport(
  body: Buffer,
): { ok: true; items: TencentStatusReport[] } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (!Array.isArray(parsed)) return { ok: false, reason: 'body is not a JSON array' };
  for (const [i, item] of parsed.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return { ok: false, reason: `item ${i} is not an object` };
    }
    const sid = (item as Record<string, unknown>).sid;
    if (typeof sid !== 'string' || sid === '') return { ok: false, reason: `item ${i} has no sid` };
  }
  return { ok: true, items: parsed as TencentStatusReport[] };
}

function pulledJson(s: TencentPulledStatus): Json {
  return {
    SerialNo: s.SerialNo ?? null,
    PhoneNumber: s.PhoneNumber ?? null,
    ReportStatus: s.ReportStatus ?? null,
    Description: s.Description ?? null,
    UserReceiveTime: s.UserReceiveTime ?? null,
    SessionContext: s.SessionContext ?? null,
  };
}

function sendStatusJson(s: SendStatus): Json {
  return {
    SerialNo: s.SerialNo ?? null,
    PhoneNumber: s.PhoneNumber ?? null,
    Code: s.Code ?? null,
    Message: s.Message ?? null,
    Fee: s.Fee ?? null,
    IsoCode: s.IsoCode ?? null,
    SessionContext: s.SessionContext ?? null,
  };
}

/** How far back `poll` looks for a message's report. */
const POLL_WINDOW_MS = 3 * 86_400_000;
/** The pull refuses a BeginTime more than 7 days back; keep a margin for clock skew. */
const PULL_MAX_AGE_MS = 7 * 86_400_000 - 10 * 60_000;
/** Slack before `since` in `findSent` (a clock skew between us and Tencent). */
const FIND_SLACK_MS = 15 * 60_000;

export class TencentSmsProvider implements ChannelProvider, WebhookOwner {
  readonly channel = 'sms' as const;
  readonly sandbox = false;
  readonly webhookName: string;
  private readonly client: SmsClient;

  constructor(
    private readonly settings: TencentSmsSettings,
    /** `tencent`, or e.g. `tencent-secondary` for a second account (receipts are matched by name). */
    readonly name = 'tencent',
  ) {
    this.webhookName = name;
    const protocol = settings.protocol ?? 'https://';
    // node-fetch opens a connection per request without an agent; keep-alive saves the TLS
    // handshake. A reused socket closed by the peer fails as a reset: ambiguous, hence safe.
    const agent =
      protocol === 'https://' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.client = new SmsClient({
      credential: { secretId: settings.secretId, secretKey: settings.secretKey },
      region: settings.region ?? 'ap-guangzhou',
      profile: {
        httpProfile: {
          endpoint: settings.endpoint ?? 'sms.tencentcloudapi.com',
          protocol,
          reqMethod: 'POST',
          agent,
          // The SDK takes seconds and multiplies by 1000; fractions are fine.
          reqTimeout: settings.timeoutMs / 1000,
        },
      },
    });
  }

  private registration(message: OutboundMessage): RegisteredSms {
    const reg = message.sms?.registered?.tencent;
    if (!reg || reg.kind !== 'tencent') {
      throw new ProviderError(
        `${this.name}: notification ${message.notificationId} has no Tencent SMS registration (template id, sign name, parameters); Tencent sends registered templates only`,
        false,
        { httpStatus: null, providerCode: 'registration_missing', request: { to: message.to } },
      );
    }
    return reg;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const reg = this.registration(message);
    const params = reg.params.map((p) => p.value);
    const request: Json = {
      action: 'SendSms',
      phoneNumber: message.to,
      smsSdkAppId: this.settings.sdkAppId,
      templateId: reg.templateCode,
      signName: reg.signName,
      params: reg.params.map((p) => ({ name: p.name, value: p.value })),
      sessionContext: message.notificationId,
    };
    let res: SendSmsResponse;
    try {
      res = await this.client.SendSms({
        PhoneNumberSet: [message.to],
        SmsSdkAppId: this.settings.sdkAppId,
        SignName: reg.signName,
        TemplateId: reg.templateCode,
        TemplateParamSet: params,
        SessionContext: message.notificationId,
      });
    } catch (err) {
      throw tencentError(err, request);
    }
    const status = res.SendStatusSet?.[0];
    if (!status) {
      // Answered without a per-number status: nothing says it was taken, nothing says it was not.
      throw new ProviderError(`${this.name}: SendSms answered without a SendStatusSet`, true, {
        httpStatus: null,
        providerCode: 'no_status',
        request,
      });
    }
    if (status.Code !== 'Ok' || !status.SerialNo) throw tencentStatusError(status, request);
    return {
      providerMessageId: status.SerialNo,
      acceptedAt: new Date(),
      request,
      raw: { RequestId: res.RequestId ?? null, ...(sendStatusJson(status) as Record<string, Json>) },
    };
  }

  private async pull(phoneNumber: string, begin: Date, request: Json): Promise<TencentPulledStatus[]> {
    const from = Math.max(begin.getTime(), Date.now() - PULL_MAX_AGE_MS);
    try {
      const res = await this.client.PullSmsSendStatusByPhoneNumber({
        BeginTime: Math.floor(from / 1000),
        Offset: 0,
        Limit: 100,
        PhoneNumber: phoneNumber,
        SmsSdkAppId: this.settings.sdkAppId,
      });
      return res.PullSmsSendStatusSet ?? [];
    } catch (err) {
      throw tencentError(err, request);
    }
  }

  /**
   * The report of one message by its serial number. Tencent lists only messages whose carrier
   * report has arrived, so "not listed" means "no report yet" (null), not "never sent".
   */
  async poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null> {
    const begin = new Date(Date.now() - POLL_WINDOW_MS);
    const list = await this.pull(message.to, begin, { poll: providerMessageId });
    const s = list.find((x) => x.SerialNo === providerMessageId);
    if (!s) return null;
    const outcome = tencentOutcome(s.ReportStatus);
    return {
      provider: this.name,
      providerMessageId,
      notificationId: s.SessionContext || null,
      outcome,
      providerStatus: s.ReportStatus ?? 'missing',
      errorCode: outcome === 'delivered' ? undefined : s.Description || undefined,
      occurredAt: s.UserReceiveTime ? new Date(s.UserReceiveTime * 1000) : new Date(),
      sandbox: false,
      raw: { polled: true, ...(pulledJson(s) as Record<string, Json>) },
    };
  }

  /**
   * A message sent before a crash, found by its SessionContext (our notification id, echoed in
   * the pulled status). Two limits of Tencent's API: the pull lists only messages whose report
   * has arrived, and echoing SessionContext in pulled statuses must be enabled for the account
   * (the SDK's model says so); without either, this returns null for a message that was sent.
   */
  async findSent(message: OutboundMessage, since: Date): Promise<SendResult | null> {
    const begin = new Date(since.getTime() - FIND_SLACK_MS);
    const list = await this.pull(message.to, begin, { reconcile: message.notificationId });
    const s = list.find((x) => x.SessionContext === message.notificationId && x.SerialNo);
    if (!s?.SerialNo) return null;
    return {
      providerMessageId: s.SerialNo,
      acceptedAt: s.UserReceiveTime ? new Date(s.UserReceiveTime * 1000) : new Date(),
      request: { reconciledBy: 'PullSmsSendStatusByPhoneNumber', to: message.to },
      raw: pulledJson(s),
    };
  }

  /** Normalises one report item (see `receive`). */
  receiptFromReport(item: TencentStatusReport, now: Date): NormalisedReceipt {
    const status = item.report_status ?? '';
    const outcome = tencentOutcome(status);
    return {
      dedupKey: reportDedupKey(this.name, item.sid, item),
      provider: this.name,
      providerMessageId: item.sid,
      // The report carries no SessionContext: the receipt is matched by serial number (sid).
      notificationId: null,
      outcome,
      providerStatus: [status || 'missing', item.errmsg].filter(Boolean).join(' '),
      errorCode: outcome === 'delivered' ? undefined : item.errmsg || undefined,
      occurredAt: parseShanghaiTime(item.user_receive_time) ?? now,
      sandbox: false,
      raw: item as Json,
    };
  }

  /**
   * The status report callback (短信下发状态回调). Tencent does not sign it; the URL configured
   * in the console carries `?token=<callbackToken>`, checked here in constant time.
   */
  async receive(req: InboundRequest): Promise<InboundResult> {
    if (!tokenMatches(req.query.token, this.settings.callbackToken)) {
      return { ok: false, status: 401, reason: 'missing or wrong callback token' };
    }
    const parsed = parseStatusReport(req.body);
    if (!parsed.ok) return { ok: false, status: 400, reason: parsed.reason };
    return {
      ok: true,
      receipts: parsed.items.map((item) => this.receiptFromReport(item, req.now)),
      verification: { verified: true, via: 'webhook', check: 'callback-token' },
      reply: { status: 200, body: { result: 0, errmsg: 'OK' } },
    };
  }
}
