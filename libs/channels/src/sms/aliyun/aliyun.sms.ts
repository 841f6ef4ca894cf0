/**
 * Aliyun (阿里云) SMS through the official `@alicloud/dysmsapi20170525` v4 client.
 *
 * Mainland gateways send registered templates only: the message carries the filled registration
 * (`message.sms.registered.aliyun`: template code, sign name, variables) and the SDK's `SendSms`
 * takes those, never free text. Delivery reports arrive as the SmsReport HTTP batch push (a JSON
 * array, see `parseSmsReport`); the poll path is `QuerySendDetails`.
 *
 * The SDK signs with ACS3-HMAC-SHA256 (header `Authorization`), sends every parameter in the
 * query string, and never retries on its own (no `retryOptions` in its config), so a
 * `ProviderError` here describes exactly one HTTP attempt.
 */
import Dysmsapi, { QuerySendDetailsRequest, SendSmsRequest } from '@alicloud/dysmsapi20170525';
import { $OpenApiUtil } from '@alicloud/openapi-core';
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
import { parseShanghaiTime, reportDedupKey, shanghaiDay, tokenMatches } from '../mainland-report.js';

export interface AliyunSmsSettings {
  accessKeyId: string;
  accessKeySecret: string;
  /** `host[:port]` of the API; default `dysmsapi.aliyuncs.com` (a local emulator in tests). */
  endpoint?: string;
  /** Default `https`; `http` only for a local emulator. */
  protocol?: 'http' | 'https';
  /** Default `cn-hangzhou` (the endpoint, when set, wins over the region's). */
  regionId?: string;
  /**
   * Secret carried as `?token=` in the SmsReport URL configured in the Aliyun console: Aliyun does
   * not sign its pushes, so this token is the only proof a report came from Aliyun.
   */
  callbackToken: string;
  /** Connect and read timeout of one API call (ms). */
  timeoutMs: number;
}

export const ALIYUN_DEFAULT_ENDPOINT = 'dysmsapi.aliyuncs.com';

/** The registration kind this provider sends (`message.sms.registered.aliyun`). */
export const ALIYUN_KIND = 'aliyun';

/**
 * Error codes after which the same request may succeed later (or through another account):
 * flow control, quotas, the account's balance or state, and Aliyun's own failures.
 */
const RETRYABLE_CODES = new Set([
  'isv.BUSINESS_LIMIT_CONTROL',
  'isv.DAY_LIMIT_CONTROL',
  'isv.MONTH_LIMIT_CONTROL',
  'isv.AMOUNT_NOT_ENOUGH',
  'isv.OUT_OF_SERVICE',
  'isp.SYSTEM_ERROR',
  'ServiceUnavailable',
  'InternalError',
  'SignatureNonceUsed',
]);

/**
 * Answered error codes that a retry cannot fix (the request itself is wrong). Listed for the
 * reader and the tests; any other answered code that is not retryable is treated the same way.
 */
export const ALIYUN_PERMANENT_CODES: readonly string[] = [
  'isv.SMS_TEMPLATE_ILLEGAL',
  'isv.SMS_SIGNATURE_ILLEGAL',
  'isv.TEMPLATE_MISSING_PARAMETERS',
  'isv.PARAM_LENGTH_LIMIT',
  'isv.MOBILE_NUMBER_ILLEGAL',
  'isv.INVALID_PARAMETERS',
  'isv.INVALID_JSON_PARAM',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId.NotFound',
  'InvalidAccessKeyId.Inactive',
];

/** May the same request succeed later? `httpStatus` is the status the SDK saw (200 for a body error). */
export function aliyunRetryable(code: string, httpStatus: number): boolean {
  if (RETRYABLE_CODES.has(code) || code.startsWith('Throttling')) return true;
  return httpStatus === 429 || httpStatus >= 500;
}

/** `QuerySendDetails` SendStatus -> outcome: 1 waiting for the handset report, 2 failed, 3 delivered. */
export function aliyunOutcome(sendStatus: number): ReceiptOutcome | null {
  switch (sendStatus) {
    case 1:
      return 'sent';
    case 2:
      return 'undelivered';
    case 3:
      return 'delivered';
    default:
      return null;
  }
}

/**
 * E.164 -> the number as Aliyun takes it: mainland (+86) mobile numbers as the 11-digit national
 * number, others as `00` + country code + number. Throws on anything that is not E.164.
 */
export function toAliyunPhone(e164: string): string {
  if (!/^\+[1-9]\d{6,14}$/.test(e164)) throw new Error(`not an E.164 number: ${e164}`);
  if (e164.startsWith('+86') && e164.length === 14) return e164.slice(3);
  return `00${e164.slice(1)}`;
}

/** One item of the SmsReport push (field names as Aliyun sends them). */
export interface AliyunSmsReportItem {
  phone_number: string;
  send_time: string;
  report_time: string;
  success: boolean;
  err_code: string;
  err_msg: string;
  sms_size: string;
  biz_id: string;
  out_id: string;
  [key: string]: Json;
}

/**
 * Parses an SmsReport push body: a JSON array of report objects, each with a non-empty `biz_id`.
 * Missing optional fields are filled with defaults (`''`, `false`) so normalisation is total;
 * `raw` holds the items exactly as pushed (for the evidence and the dedup key).
 */
export function parseSmsReport(
  body: Buffer | string,
): { ok: true; items: AliyunSmsReportItem[]; raw: Json[] } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'aliyun: report body is not JSON' };
  }
  if (!Array.isArray(parsed)) return { ok: false, reason: 'aliyun: report body is not a JSON array' };
  const items: AliyunSmsReportItem[] = [];
  for (const [i, raw] of parsed.entries()) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return { ok: false, reason: `aliyun: report item ${i} is not an object` };
    }
    const o = raw as Record<string, Json>;
    if (typeof o.biz_id !== 'string' || o.biz_id === '') {
      return { ok: false, reason: `aliyun: report item ${i} has no biz_id` };
    }
    const str = (k: string): string =>
      typeof o[k] === 'string' ? (o[k] as string) : o[k] == null ? '' : String(o[k]);
    items.push({
      ...o,
      phone_number: str('phone_number'),
      send_time: str('send_time'),
      report_time: str('report_time'),
      // Aliyun sends a boolean; a string "true" is accepted, anything else is a failure.
      success: o.success === true || o.success === 'true',
      err_code: str('err_code'),
      err_msg: str('err_msg'),
      sms_size: str('sms_size'),
      biz_id: o.biz_id,
      out_id: str('out_id'),
    });
  }
  return { ok: true, items, raw: parsed as Json[] };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One SmsReport item -> receipt. `raw` is the item exactly as pushed (before defaults), so the
 * evidence and the dedup key are over what Aliyun sent; a redelivered batch item gets the same key.
 */
export function normaliseSmsReport(
  item: AliyunSmsReportItem,
  raw: Json,
  provider: string,
  now: Date,
): NormalisedReceipt {
  return {
    dedupKey: reportDedupKey(provider, item.biz_id, raw),
    provider,
    providerMessageId: item.biz_id,
    notificationId: UUID.test(item.out_id) ? item.out_id.toLowerCase() : null,
    outcome: item.success ? 'delivered' : 'undelivered',
    providerStatus: item.err_code || (item.success ? 'DELIVERED' : 'missing'),
    ...(item.success ? {} : { errorCode: item.err_code || 'unknown' }),
    occurredAt: parseShanghaiTime(item.report_time) ?? now,
    sandbox: false,
    raw,
  };
}

/** Network error codes after which the request surely never reached Aliyun. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** An error Aliyun answered (HTTP error, or HTTP 200 with `Code` other than `OK`). */
export function aliyunAnsweredError(
  provider: string,
  code: string,
  text: string,
  httpStatus: number,
  request: Json,
  raw?: Json,
): ProviderError {
  return new ProviderError(
    `${provider}: ${code}${text ? ` (${text})` : ''}`,
    aliyunRetryable(code, httpStatus),
    { httpStatus, providerCode: code, request, ...(raw === undefined ? {} : { raw }) },
  );
}

/**
 * SDK exceptions -> ProviderError. An HTTP error answer (the SDK's ClientError, ServerError,
 * ThrottlingError: `statusCode` and `code` set) was refused by Aliyun; a refused connection or
 * unknown host surely never reached it (`httpStatus` 0, so failover may use the other account);
 * a timeout or a reset after the request went out is ambiguous (`httpStatus` null).
 */
export function aliyunSdkError(provider: string, err: unknown, request: Json): ProviderError {
  const e = (err ?? {}) as { statusCode?: unknown; code?: unknown; message?: unknown; name?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.statusCode === 'number' && e.statusCode > 0) {
    const code = typeof e.code === 'string' && e.code !== 'undefined' ? e.code : `http_${e.statusCode}`;
    return aliyunAnsweredError(provider, code, message, e.statusCode, request);
  }
  const netCode = typeof e.code === 'string' ? e.code : null;
  if (netCode && NOT_CONNECTED.has(netCode)) {
    return new ProviderError(`${provider}: ${message}`, true, {
      httpStatus: 0,
      providerCode: netCode,
      request,
    });
  }
  const timeout = typeof e.name === 'string' && e.name.includes('Timeout');
  return new ProviderError(`${provider}: ${message}`, true, {
    httpStatus: null,
    providerCode: timeout ? 'timeout' : (netCode ?? 'network'),
    request,
  });
}

/** A detail row of QuerySendDetails, as evidence. */
interface DetailRow {
  phoneNum: string;
  sendStatus: number;
  errCode: string;
  outId: string;
  templateCode: string;
  sendDate: string;
  receiveDate: string;
  content: string;
}

function describeRow(r: DetailRow): Json {
  return {
    phoneNum: r.phoneNum,
    sendStatus: r.sendStatus,
    errCode: r.errCode,
    outId: r.outId,
    templateCode: r.templateCode,
    sendDate: r.sendDate,
    receiveDate: r.receiveDate,
  };
}

/** Prefix of the provider id `findSent` hands back: QuerySendDetails rows carry OutId but no BizId. */
export const ALIYUN_OUTID_REF = 'outid:';

/** Days kept by QuerySendDetails (Aliyun answers only for the last 30). */
const QUERY_DAYS = 30;

type DysmsClient = InstanceType<typeof Dysmsapi.default>;

/** SMS through Aliyun's Dysmsapi (SendSms / QuerySendDetails) and its SmsReport push. */
export class AliyunSmsProvider implements ChannelProvider, WebhookOwner {
  readonly channel = 'sms' as const;
  readonly sandbox = false;
  readonly webhookName: string;
  private readonly client: DysmsClient;

  constructor(
    private readonly settings: AliyunSmsSettings,
    /** `aliyun`, or e.g. `aliyun-secondary` for a second account (receipts are matched by name). */
    readonly name = 'aliyun',
  ) {
    this.webhookName = name;
    const config = new $OpenApiUtil.Config({
      accessKeyId: settings.accessKeyId,
      accessKeySecret: settings.accessKeySecret,
      endpoint: settings.endpoint ?? ALIYUN_DEFAULT_ENDPOINT,
      protocol: settings.protocol ?? 'https',
      regionId: settings.regionId ?? 'cn-hangzhou',
      readTimeout: settings.timeoutMs,
      connectTimeout: settings.timeoutMs,
    });
    this.client = new Dysmsapi.default(config);
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const reg = message.sms?.registered?.[ALIYUN_KIND];
    if (!reg || reg.kind !== ALIYUN_KIND) {
      throw new ProviderError(
        `${this.name}: the message has no Aliyun template registration (sms.registered.aliyun); ` +
          'Aliyun sends registered templates only',
        false,
        { httpStatus: null, providerCode: 'registration_missing', request: null },
      );
    }
    const request = this.sendEvidence(message, reg);
    const phone = this.phone(message.to, request);
    const templateParam: Record<string, string> = {};
    for (const p of reg.params) templateParam[p.name] = p.value;
    const req = new SendSmsRequest({
      phoneNumbers: phone,
      signName: reg.signName,
      templateCode: reg.templateCode,
      templateParam: JSON.stringify(templateParam),
      outId: message.notificationId,
    });
    let res: Awaited<ReturnType<DysmsClient['sendSms']>>;
    try {
      res = await this.client.sendSms(req);
    } catch (err) {
      throw aliyunSdkError(this.name, err, request);
    }
    const body = res.body;
    const raw: Json = {
      code: body?.code ?? null,
      message: body?.message ?? null,
      bizId: body?.bizId ?? null,
      requestId: body?.requestId ?? null,
    };
    if (body?.code !== 'OK' || !body.bizId) {
      throw aliyunAnsweredError(
        this.name,
        body?.code ?? 'missing',
        body?.message ?? '',
        res.statusCode ?? 200,
        request,
        raw,
      );
    }
    return { providerMessageId: body.bizId, acceptedAt: new Date(), request, raw };
  }

  /** What the evidence keeps of a send: the registration and our reference, never credentials. */
  private sendEvidence(message: OutboundMessage, reg: RegisteredSms): Json {
    return {
      to: message.to,
      templateCode: reg.templateCode,
      signName: reg.signName,
      params: reg.params.map((p) => ({ name: p.name, value: p.value })),
      outId: message.notificationId,
      endpoint: this.settings.endpoint ?? ALIYUN_DEFAULT_ENDPOINT,
    };
  }

  private phone(to: string, request: Json): string {
    try {
      return toAliyunPhone(to);
    } catch (err) {
      throw new ProviderError(`${this.name}: ${(err as Error).message}`, false, {
        httpStatus: null,
        providerCode: 'invalid_number',
        request,
      });
    }
  }

  /** One QuerySendDetails page for a phone and a Shanghai day (optionally one BizId). */
  private async query(
    phone: string,
    day: string,
    bizId: string | undefined,
    page: number,
    pageSize: number,
  ): Promise<{ rows: DetailRow[]; total: number }> {
    const evidence: Json = { query: 'QuerySendDetails', sendDate: day, bizId: bizId ?? null, page };
    let res: Awaited<ReturnType<DysmsClient['querySendDetails']>>;
    try {
      res = await this.client.querySendDetails(
        new QuerySendDetailsRequest({
          phoneNumber: phone,
          sendDate: day,
          pageSize,
          currentPage: page,
          ...(bizId ? { bizId } : {}),
        }),
      );
    } catch (err) {
      throw aliyunSdkError(this.name, err, evidence);
    }
    const body = res.body;
    if (body?.code !== 'OK') {
      throw aliyunAnsweredError(
        this.name,
        body?.code ?? 'missing',
        body?.message ?? '',
        res.statusCode ?? 200,
        evidence,
      );
    }
    const rows = (body.smsSendDetailDTOs?.smsSendDetailDTO ?? []).map((d): DetailRow => ({
      phoneNum: d.phoneNum ?? '',
      sendStatus: typeof d.sendStatus === 'number' ? d.sendStatus : Number(d.sendStatus ?? NaN),
      errCode: d.errCode ?? '',
      outId: d.outId ?? '',
      templateCode: d.templateCode ?? '',
      sendDate: d.sendDate ?? '',
      receiveDate: d.receiveDate ?? '',
      content: d.content ?? '',
    }));
    const total = Number(body.totalCount ?? rows.length);
    return { rows, total: Number.isFinite(total) ? total : rows.length };
  }

  private receiptFromRow(
    providerMessageId: string,
    row: DetailRow,
    notificationId: string,
  ): NormalisedReceipt | null {
    const outcome = aliyunOutcome(row.sendStatus);
    if (outcome === null) return null;
    const at =
      (outcome !== 'sent' ? parseShanghaiTime(row.receiveDate) : null) ??
      parseShanghaiTime(row.sendDate) ??
      new Date();
    return {
      provider: this.name,
      providerMessageId,
      notificationId: row.outId === notificationId ? notificationId : null,
      outcome,
      providerStatus: row.errCode || `SendStatus=${row.sendStatus}`,
      ...(outcome === 'undelivered' ? { errorCode: row.errCode || 'unknown' } : {}),
      occurredAt: at,
      sandbox: false,
      raw: { polled: true, ...(describeRow(row) as Record<string, Json>) },
    };
  }

  /**
   * Current state via QuerySendDetails (today, then yesterday in Asia/Shanghai: a message sent
   * just before midnight is filed under the day it was sent). A `findSent` reference
   * (`outid:<notificationId>`) is looked up by OutId instead of BizId.
   */
  async poll(providerMessageId: string, message: OutboundMessage): Promise<NormalisedReceipt | null> {
    const phone = this.phone(message.to, { poll: providerMessageId });
    const now = Date.now();
    const byOutId = providerMessageId.startsWith(ALIYUN_OUTID_REF);
    for (const day of [shanghaiDay(new Date(now)), shanghaiDay(new Date(now - 86_400_000))]) {
      if (byOutId) {
        const outId = providerMessageId.slice(ALIYUN_OUTID_REF.length);
        const row = await this.findRow(phone, day, outId);
        if (row) return this.receiptFromRow(providerMessageId, row, message.notificationId);
        continue;
      }
      const { rows } = await this.query(phone, day, providerMessageId, 1, 10);
      const row = rows.find((r) => r.outId === message.notificationId) ?? rows[0];
      if (row) return this.receiptFromRow(providerMessageId, row, message.notificationId);
    }
    return null;
  }

  /** The row with this OutId among a phone's messages of one day (pages of 50, the maximum). */
  private async findRow(phone: string, day: string, outId: string): Promise<DetailRow | null> {
    const pageSize = 50;
    for (let page = 1; page <= 20; page++) {
      const { rows, total } = await this.query(phone, day, undefined, page, pageSize);
      const row = rows.find((r) => r.outId === outId);
      if (row) return row;
      if (rows.length < pageSize || page * pageSize >= total) break;
    }
    return null;
  }

  /**
   * Was this message sent before a crash? QuerySendDetails by phone for each Shanghai day from
   * `since` (15 minutes of clock slack) to today, newest day first, matching OutId (our
   * notification id). The rows carry no BizId, so the provider id returned is
   * `outid:<notificationId>`, which `poll` understands; the SmsReport push still matches the
   * notification by its out_id.
   */
  async findSent(message: OutboundMessage, since: Date): Promise<SendResult | null> {
    const phone = this.phone(message.to, { reconcile: message.notificationId });
    const now = Date.now();
    const from = Math.max(since.getTime() - 15 * 60_000, now - (QUERY_DAYS - 1) * 86_400_000);
    const days: string[] = [];
    for (let t = now; ; t -= 86_400_000) {
      const d = shanghaiDay(new Date(t));
      if (!days.includes(d)) days.push(d);
      if (d <= shanghaiDay(new Date(from))) break;
    }
    for (const day of days) {
      const row = await this.findRow(phone, day, message.notificationId);
      if (row) {
        return {
          providerMessageId: `${ALIYUN_OUTID_REF}${message.notificationId}`,
          acceptedAt: parseShanghaiTime(row.sendDate) ?? new Date(),
          request: {
            reconciledBy: 'QuerySendDetails',
            to: message.to,
            outId: message.notificationId,
            sendDate: day,
          },
          raw: describeRow(row),
        };
      }
    }
    return null;
  }

  /**
   * The SmsReport push. Aliyun does not sign it: the console's report URL carries `?token=`,
   * compared in constant time with `callbackToken`. Aliyun expects `{"code":0}` and pushes the
   * batch again otherwise; a replayed item has the same dedup key and is stored once.
   */
  async receive(req: InboundRequest): Promise<InboundResult> {
    if (!this.settings.callbackToken) {
      return { ok: false, status: 404, reason: `${this.name}: no callback token configured` };
    }
    const token = req.query.token;
    if (typeof token !== 'string' || token === '' || !tokenMatches(token, this.settings.callbackToken)) {
      return { ok: false, status: 401, reason: `${this.name}: missing or wrong report token` };
    }
    const parsed = parseSmsReport(req.body);
    if (!parsed.ok) return { ok: false, status: 400, reason: parsed.reason };
    const receipts = parsed.items.map((item, i) =>
      normaliseSmsReport(item, parsed.raw[i], this.name, req.now),
    );
    return {
      ok: true,
      receipts,
      verification: { verified: true, via: 'webhook', check: 'callback-token' },
      reply: { status: 200, body: { code: 0, msg: '接收成功' } },
    };
  }
}
