import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CHANNELS } from '#libs/core';

/**
 * The whole service configuration, validated once at boot from the environment.
 * Feature code receives the typed `AppConfig`; nothing else reads process.env.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(3000, 0),
  PUBLIC_BASE_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_BODY_BYTES: int(262_144, 1024),

  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL (leave unset for SQLite)')
    .optional(),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .optional(),
  DATABASE_POOL_SIZE: int(20, 1),
  /** The owner role's URL, used only by `npm run db:migrate` (docs/evidence.md, "Database roles"). */
  DATABASE_OWNER_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  /** auto: the service migrates at start (one role); check: it refuses to start while migrations are pending. */
  DATABASE_MIGRATIONS: z.enum(['auto', 'check']).default('auto'),
  SQLITE_PATH: z.string().default('./data/notices.db'),

  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL (leave unset for in-process jobs)')
    .optional(),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/)
    .default('cns'),
  /** In queue mode the api only accepts; set true to also consume jobs in the api process. */
  API_RUN_WORKERS: bool.optional(),
  WORKER_CONCURRENCY: int(16, 1),
  /** Queue mode: periodic work runs once per cluster from BullMQ queues named `<this>-<task>`. */
  SCHEDULER_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/)
    .default('periodic'),

  SWEEP_INTERVAL_MS: int(15_000, 100),
  /** A notification left `accepted`/`scheduled` this long without progress is re-enqueued. */
  STUCK_AFTER_MS: int(30_000, 100),
  /** A notification left `sending` this long is reconciled with its provider. */
  SENDING_GRACE_MS: int(60_000, 100),
  DISPATCH_MAX_ATTEMPTS: int(5, 1),
  /**
   * Days a receipt's dedup key is kept for webhooks whose signature covers a timestamp (email
   * events, DSNs, print vendor); at least their 3-day retry window. Other keys are never released.
   */
  RECEIPT_DEDUP_RETENTION_DAYS: int(7, 3),
  /** How often receipt dedup keys past their retention are released (once per cluster). */
  RECEIPT_DEDUP_PRUNE_INTERVAL_MS: int(3_600_000, 1_000),

  /** Status callbacks to callers (docs/api.md, "Callbacks"): one HTTP attempt's timeout. */
  CALLBACK_TIMEOUT_MS: int(5_000, 100),
  /** First retry delay after a failed callback; doubles per attempt up to CALLBACK_RETRY_MAX_MS. */
  CALLBACK_RETRY_BASE_MS: int(10_000, 10),
  CALLBACK_RETRY_MAX_MS: int(3_600_000, 10),
  /** A callback is retried for this long (at least 24 hours) before it goes to the dead letters. */
  CALLBACK_RETRY_FOR_MS: int(90_000_000, 1_000),
  /** How often a process looks for due callbacks, and how many it sends at once. */
  CALLBACK_POLL_MS: int(1_000, 10),
  CALLBACK_CONCURRENCY: int(8, 1),
  /** Allow plain-http callback URLs (default: only outside production). */
  CALLBACK_ALLOW_HTTP: bool.optional(),

  TEMPLATES_DIR: z.string().default('./templates'),
  /** Stage policy as JSON (`{"stages":[…]}`, replaces the default; see docs/templates.md). */
  STAGE_POLICY: z.string().optional(),
  /** Queue mode: how often a process picks up template versions published by another process. */
  TEMPLATE_REFRESH_MS: int(2_000, 100),

  /** gRPC listener (0 = disabled). */
  GRPC_PORT: int(50051, 0),
  GRPC_HOST: z.string().optional(),
  /** Where the first start writes the bootstrap admin key (default: next to the SQLite file). */
  ADMIN_KEY_FILE: z.string().optional(),
  /** An admin API key to install at start when absent (deployments and tests); >= 32 characters. */
  API_KEYS_BOOTSTRAP: z.string().min(32).max(200).optional(),
  /** How long a verified API key is cached in the process (revocation takes effect within this). */
  API_KEY_CACHE_MS: int(2_000, 0),
  /**
   * Per-key limit counted in notices (a batch line takes a token): RATE_LIMIT_BURST tokens per
   * window of BURST/RPS seconds (RPS 0 = unlimited); shared through Redis in queue mode.
   */
  RATE_LIMIT_RPS: int(50, 0),
  RATE_LIMIT_BURST: int(100, 1),
  /** SIGTERM: time allowed for in-flight requests and jobs before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: int(25_000, 100),
  /** Worker processes: serve /metrics on this port (0 = off). */
  METRICS_PORT: int(0, 0),
  /** /health/ready fails when the oldest due notification waits longer than this (0 = no check). */
  READY_MAX_QUEUE_LAG_MS: int(300_000, 0),
  /** /health/ready fails when the SQLite data folder's file system has less free space than this (MB). */
  READY_MIN_FREE_DISK_MB: int(100, 0),

  SMS_PROVIDER: z.enum(['sandbox', 'twilio']).default('sandbox'),
  TWILIO_ACCOUNT_SID: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/)
    .optional(),
  TWILIO_AUTH_TOKEN: z.string().min(16).optional(),
  TWILIO_FROM: z.string().optional(),
  TWILIO_MESSAGING_SERVICE_SID: z.string().optional(),
  TWILIO_API_BASE_URL: z.url().optional(),
  TWILIO_TIMEOUT_MS: int(10_000, 100),
  /** A second Twilio account, used when the primary's circuit breaker opens. */
  TWILIO_SECONDARY_ACCOUNT_SID: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/)
    .optional(),
  TWILIO_SECONDARY_AUTH_TOKEN: z.string().min(16).optional(),
  TWILIO_SECONDARY_FROM: z.string().optional(),
  TWILIO_SECONDARY_API_BASE_URL: z.url().optional(),
  /**
   * Mainland China numbers (+86) go through the mainland gateways listed here, in order (the
   * first takes them, the next one when its breaker opens); other numbers through SMS_PROVIDER.
   * Empty: every number through SMS_PROVIDER. Those gateways send registered templates only.
   */
  SMS_CN_PROVIDERS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(['aliyun', 'tencent'])).refine((a) => new Set(a).size === a.length, 'listed twice')),
  ALIYUN_SMS_ACCESS_KEY_ID: z.string().min(1).optional(),
  ALIYUN_SMS_ACCESS_KEY_SECRET: z.string().min(16).optional(),
  /** host[:port] of the API (an emulator in tests); default dysmsapi.aliyuncs.com. */
  ALIYUN_SMS_ENDPOINT: z.string().optional(),
  ALIYUN_SMS_PROTOCOL: z.enum(['https', 'http']).default('https'),
  /** Secret `token` query parameter of the SmsReport push URL set in the Aliyun console. */
  ALIYUN_SMS_CALLBACK_TOKEN: z.string().min(16).optional(),
  ALIYUN_SMS_TIMEOUT_MS: int(10_000, 100),
  /** Longest variable value the account may send (Aliyun: 35 characters for notices). */
  ALIYUN_SMS_VARIABLE_MAX_LENGTH: int(35, 1),
  TENCENT_SMS_SECRET_ID: z.string().min(1).optional(),
  TENCENT_SMS_SECRET_KEY: z.string().min(16).optional(),
  TENCENT_SMS_SDK_APP_ID: z.string().regex(/^\d+$/).optional(),
  TENCENT_SMS_REGION: z.string().default('ap-guangzhou'),
  /** host[:port] of the API (an emulator in tests); default sms.tencentcloudapi.com. */
  TENCENT_SMS_ENDPOINT: z.string().optional(),
  TENCENT_SMS_PROTOCOL: z.enum(['https', 'http']).default('https'),
  /** Secret `token` query parameter of the status callback URL set in the Tencent console. */
  TENCENT_SMS_CALLBACK_TOKEN: z.string().min(16).optional(),
  TENCENT_SMS_TIMEOUT_MS: int(10_000, 100),
  /**
   * Longest variable value the account may send: 12 characters for personally verified accounts;
   * an enterprise account sets what its contract allows (docs/templates.md, registrations).
   */
  TENCENT_SMS_VARIABLE_MAX_LENGTH: int(12, 1),
  /** Voice reminders: the sandbox, or Twilio Programmable Voice with the TWILIO_* account. */
  VOICE_PROVIDER: z.enum(['sandbox', 'twilio']).default('sandbox'),
  /** The caller id of voice reminders: a voice-capable number of the Twilio account, E.164. */
  TWILIO_VOICE_FROM: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/)
    .optional(),
  /** Seconds a voice reminder rings before it counts as not answered. */
  TWILIO_VOICE_RING_SECONDS: int(30, 5),
  /**
   * Answering-machine detection: a call a voicemail took is `undelivered` (not proof the
   * cardholder heard it). Costs per call and delays the message by a few seconds.
   */
  TWILIO_VOICE_MACHINE_DETECTION: bool.optional(),
  /** A second SMTP relay, used when the primary's circuit breaker opens. */
  SMTP_SECONDARY_HOST: z.string().optional(),
  SMTP_SECONDARY_PORT: int(587, 1),
  /** Circuit breaker of a channel's primary provider: consecutive failures to open, and cooldown. */
  BREAKER_THRESHOLD: int(5, 1),
  BREAKER_COOLDOWN_MS: int(30_000, 100),

  SANDBOX_RECEIPT_DELAY_MS: int(200, 0),

  EMAIL_PROVIDER: z.enum(['sandbox', 'smtp']).default('sandbox'),
  SMTP_HOST: z.string().optional(),
  SMTP_PORT: int(587, 1),
  SMTP_SECURE: bool.default(false),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
  SMTP_POOL_SIZE: int(5, 1),
  SMTP_TIMEOUT_MS: int(30_000, 100),
  EMAIL_FROM: z.string().default('"示例银行信用卡中心" <notices@bank.example>'),
  EMAIL_MESSAGE_ID_DOMAIN: z.string().default('notices.bank.example'),
  /**
   * DKIM signing of every email (both providers): all of domain, selector and one key source, or
   * none. The signature is made once when the .eml is rendered and is part of the stored bytes.
   */
  DKIM_DOMAIN: z
    .string()
    .regex(/^(?=.*\.)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'must be a domain name such as bank.example')
    .optional(),
  DKIM_SELECTOR: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be a DKIM selector such as notices2026')
    .optional(),
  /** PEM RSA private key inline (`\n` escapes allowed); or DKIM_PRIVATE_KEY_FILE. */
  DKIM_PRIVATE_KEY: z.string().optional(),
  /** Path of a PEM RSA private key file (kept out of the environment). */
  DKIM_PRIVATE_KEY_FILE: z.string().optional(),
  /** HMAC secret of the HTTP email provider's JSON events (unset: JSON events are refused). */
  EMAIL_WEBHOOK_SECRET: z.string().min(16).optional(),
  /** HMAC/encryption secret of one-click unsubscribe links (required in production). */
  UNSUBSCRIBE_SECRET: z.string().min(16).optional(),

  LETTER_PROVIDER: z.enum(['sandbox', 'print-vendor', 'print-room']).default('sandbox'),
  PRINT_VENDOR_URL: z.url().optional(),
  PRINT_VENDOR_API_KEY: z.string().optional(),
  PRINT_VENDOR_WEBHOOK_SECRET: z.string().min(16).optional(),
  PRINT_VENDOR_TIMEOUT_MS: int(15_000, 100),
  PRINT_ROOM_DIR: z.string().optional(),
  /** Base of the verification URL printed (as a QR code) on every letter. */
  LETTER_VERIFY_BASE_URL: z.url().optional(),
  SEAL_IMAGE_PATH: z.string().optional(),

  COMPLIANCE_PROFILE: z.enum(['cn', 'us-regf']).default('cn'),
  /** JSON object of profile parameter overrides (see docs/compliance.md). */
  COMPLIANCE_OVERRIDES: z
    .string()
    .transform((raw, ctx) => {
      try {
        const v: unknown = JSON.parse(raw);
        if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        /* reported below */
      }
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
      return z.NEVER;
    })
    .optional(),
  /** Tests only (NODE_ENV=test): the service clock starts at this instant and runs on from there. */
  CLOCK_START: z.iso.datetime().optional(),

  /** Evidence checkpoints: interval of the periodic signed Merkle checkpoint (0 = off). */
  CHECKPOINT_INTERVAL_MS: int(3_600_000, 0),
  /** Ed25519 signing key (PKCS#8 PEM) for checkpoints and bundles, or a file holding it. */
  EVIDENCE_SIGNING_KEY: z.string().optional(),
  EVIDENCE_SIGNING_KEY_FILE: z.string().optional(),
  /** Who holds the evidence key: a PEM (file/env, above) or a PKCS#11 token (docs/evidence.md, "Keys in an HSM"). */
  EVIDENCE_SIGNER: z.enum(['file', 'pkcs11']).default('file'),
  PKCS11_MODULE: z.string().min(1).default('/usr/lib/softhsm/libsofthsm2.so'),
  PKCS11_TOKEN_LABEL: z.string().min(1).max(32).optional(),
  /** User PIN of the token, or a file holding it (trailing newline ignored). */
  PKCS11_PIN: z.string().min(1).optional(),
  PKCS11_PIN_FILE: z.string().min(1).optional(),
  PKCS11_KEY_LABEL: z.string().min(1).optional(),
  /** RFC 3161 time-stamp authority for checkpoints (unset = no time stamps). */
  TSA_URL: z.url().optional(),
  /** PEM file with the CA certificate(s) the TSA's certificate must chain to (required with TSA_URL). */
  TSA_CA_CERT_FILE: z.string().optional(),
  TSA_TIMEOUT_MS: int(10_000, 100),
  /**
   * C2SP tlog-witness base URLs (comma-separated) each checkpoint of the evidence log is sent to;
   * their cosignatures are stored with it (docs/witness.md).
   */
  WITNESS_URLS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const urls = (v ?? '')
        .split(',')
        .map((u) => u.trim())
        .filter(Boolean);
      for (const u of urls) {
        if (!/^https?:\/\/[^\s]+$/.test(u))
          ctx.addIssue({ code: 'custom', message: `not an http(s) URL: ${u}` });
      }
      return urls.map((u) => u.replace(/\/+$/, ''));
    }),
  WITNESS_TIMEOUT_MS: int(10_000, 100),
  /** The evidence log's origin line (and note key name) in its C2SP checkpoints. */
  EVIDENCE_LOG_ORIGIN: z
    .string()
    .regex(/^[\x21-\x2a\x2c-\x7e]{1,200}$/, 'printable ASCII without spaces or +')
    .optional(),
  /** Evidence is kept at least this many years (never less than 5); legal holds keep it longer. */
  EVIDENCE_RETENTION_YEARS: int(5, 5),
  /** Legal-action eligibility thresholds (DESIGN.md section 2). */
  LEGAL_MIN_PRINCIPAL: z.coerce.number().min(0).default(10_000),
  LEGAL_MIN_DELIVERED: int(2, 1),
  LEGAL_MIN_MONTHS_NO_PAYMENT: int(6, 0),

  BANK_NAME: z.string().default('示例银行信用卡中心'),
  BANK_NAME_EN: z.string().default('Example Bank Credit Card Center'),
  BANK_ADDRESS: z.string().default('上海市浦东新区示例路 100 号'),
  BANK_PHONE: z.string().default('400-000-0000'),
  BANK_COMPLAINT_CHANNEL: z.string().default('客服热线 400-000-0000 转 9 / complaints@bank.example'),
  BANK_WEBSITE: z.string().optional(),
  /** English address and complaint channel, used by English templates (default: an English rendering of the defaults). */
  BANK_ADDRESS_EN: z.string().default('100 Shili Road, Pudong New Area, Shanghai'),
  BANK_COMPLAINT_CHANNEL_EN: z.string().default('hotline 400-000-0000 (option 9) / complaints@bank.example'),
  /** Neutral sender name on messages to contacts and guarantors: no 信用卡/card/debt wording. */
  THIRD_PARTY_SENDER_NAME: z.string().min(1).default('示例银行'),
  THIRD_PARTY_SENDER_NAME_EN: z.string().min(1).default('Example Bank'),

  /** Template safety (docs/templates.md): render pool size and time limit, loop and output budget. */
  TEMPLATE_RENDER_THREADS: int(2, 1),
  TEMPLATE_RENDER_TIMEOUT_MS: int(2_000, 50),
  TEMPLATE_MAX_ITERATIONS: int(10_000, 1),
  TEMPLATE_MAX_OUTPUT_CHARS: int(2_000_000, 1_000),
  /** Lint: an SMS over this many segments is an error (over 2 is a warning). */
  TEMPLATE_SMS_MAX_SEGMENTS: int(3, 1),
});

const STAGE_NAMES = ['reminder', 'early', 'mid', 'late', 'legal'] as const;
const CHANNEL_NAMES = CHANNELS;
const TEMPLATE_KEY = z
  .string()
  .regex(/^[a-z]+\.[a-z]+\.[a-z0-9_]+$/, 'must look like <stage>.<channel>.<name>');

export const StagePolicySchema = z.strictObject({
  stages: z
    .array(
      z.strictObject({
        stage: z.enum(STAGE_NAMES),
        /** Inclusive DPD range; null = open-ended. */
        minDpd: z.number().int().nullable(),
        maxDpd: z.number().int().nullable(),
        /** In order of preference; escalation follows the same order. */
        channels: z
          .array(
            z.strictObject({
              channel: z.enum(CHANNEL_NAMES),
              templateKey: TEMPLATE_KEY,
              /** Template for a third party (recipient role `contact`); without one the channel is skipped for them. */
              contactTemplateKey: TEMPLATE_KEY.optional(),
              /** Letters: send as registered mail. */
              registered: z.boolean().default(false),
            }),
          )
          .min(1),
        /** Minimum time between two notices of this stage to the same case. */
        minGapHours: z.number().min(0).default(0),
      }),
    )
    .min(1),
});

/** Stage policy: DPD ranges, channel order, template per channel, minimum gap (DESIGN.md section 2). */
export type StagePolicy = z.output<typeof StagePolicySchema>;
export type StagePolicyStage = StagePolicy['stages'][number];
export type StagePolicyChannel = StagePolicyStage['channels'][number];

/** The default stage policy (DESIGN.md section 2). */
export const DEFAULT_STAGE_POLICY: StagePolicy = {
  stages: [
    {
      stage: 'reminder',
      minDpd: -3,
      maxDpd: 0,
      channels: [{ channel: 'sms', templateKey: 'reminder.sms.due', registered: false }],
      minGapHours: 24,
    },
    {
      stage: 'early',
      minDpd: 1,
      maxDpd: 30,
      channels: [
        {
          channel: 'sms',
          templateKey: 'early.sms.reminder',
          contactTemplateKey: 'early.sms.third_party',
          registered: false,
        },
        { channel: 'email', templateKey: 'early.email.reminder', registered: false },
      ],
      minGapHours: 72,
    },
    {
      stage: 'mid',
      minDpd: 31,
      maxDpd: 90,
      channels: [
        { channel: 'email', templateKey: 'mid.email.notice', registered: false },
        { channel: 'sms', templateKey: 'mid.sms.notice', registered: false },
        { channel: 'letter', templateKey: 'mid.letter.notice', registered: false },
      ],
      minGapHours: 168,
    },
    {
      stage: 'late',
      minDpd: 91,
      maxDpd: 180,
      channels: [
        { channel: 'letter', templateKey: 'late.letter.demand', registered: true },
        { channel: 'email', templateKey: 'late.email.demand', registered: false },
      ],
      minGapHours: 336,
    },
    {
      stage: 'legal',
      minDpd: 181,
      maxDpd: null,
      channels: [{ channel: 'letter', templateKey: 'legal.letter.pre_litigation', registered: true }],
      minGapHours: 720,
    },
  ],
};

/** Parses and checks a STAGE_POLICY value; returns the policy or the list of problems. */
export function parseStagePolicy(raw: string | undefined): { policy?: StagePolicy; problems: string[] } {
  if (raw === undefined) return { policy: DEFAULT_STAGE_POLICY, problems: [] };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { problems: ['STAGE_POLICY: not valid JSON'] };
  }
  const res = StagePolicySchema.safeParse(json);
  if (!res.success) {
    return { problems: res.error.issues.map((i) => `STAGE_POLICY.${i.path.join('.')}: ${i.message}`) };
  }
  const problems: string[] = [];
  const stages = res.data.stages;
  const lo = (s: StagePolicyStage) => s.minDpd ?? -Infinity;
  const hi = (s: StagePolicyStage) => s.maxDpd ?? Infinity;
  stages.forEach((s, i) => {
    const at = `STAGE_POLICY.stages.${i}`;
    if (stages.findIndex((o) => o.stage === s.stage) !== i)
      problems.push(`${at}.stage: ${s.stage} appears twice`);
    if (lo(s) > hi(s)) problems.push(`${at}: minDpd ${s.minDpd} is above maxDpd ${s.maxDpd}`);
    stages.forEach((o, j) => {
      if (j > i && lo(s) <= hi(o) && lo(o) <= hi(s)) {
        problems.push(`${at}: the DPD range of ${s.stage} overlaps the one of ${o.stage}`);
      }
    });
    s.channels.forEach((c, k) => {
      if (s.channels.findIndex((o) => o.channel === c.channel) !== k) {
        problems.push(`${at}.channels.${k}.channel: ${c.channel} appears twice`);
      }
      for (const f of ['templateKey', 'contactTemplateKey'] as const) {
        const key = c[f];
        if (key !== undefined && key.split('.')[1] !== c.channel) {
          problems.push(`${at}.channels.${k}.${f}: ${key} is not a ${c.channel} template`);
        }
      }
      if (c.registered && c.channel !== 'letter') {
        problems.push(`${at}.channels.${k}.registered: only letters can be registered`);
      }
    });
  });
  return problems.length ? { problems } : { policy: res.data, problems };
}

/** Cross-field rules, checked on the raw environment so they are reported with the rest. */
function crossFieldProblems(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [...parseStagePolicy(env.STAGE_POLICY).problems];
  // A worker's provider call must end (answer or timeout) before the sweeper may reconcile its
  // row, or a slow but live call could be resent.
  const grace = Number(env.SENDING_GRACE_MS ?? 60_000);
  for (const [key, def, used] of [
    ['TWILIO_TIMEOUT_MS', 10_000, env.SMS_PROVIDER === 'twilio'],
    ['SMTP_TIMEOUT_MS', 30_000, env.EMAIL_PROVIDER === 'smtp'],
    ['PRINT_VENDOR_TIMEOUT_MS', 15_000, env.LETTER_PROVIDER === 'print-vendor'],
    ['ALIYUN_SMS_TIMEOUT_MS', 10_000, (env.SMS_CN_PROVIDERS ?? '').includes('aliyun')],
    ['TENCENT_SMS_TIMEOUT_MS', 10_000, (env.SMS_CN_PROVIDERS ?? '').includes('tencent')],
  ] as const) {
    if (!used) continue;
    const t = Number(env[key] ?? def);
    if (Number.isFinite(grace) && Number.isFinite(t) && grace <= t) {
      problems.push(`SENDING_GRACE_MS: must be longer than ${key} (${t} ms)`);
    }
  }
  if (env.EVIDENCE_SIGNING_KEY && env.EVIDENCE_SIGNING_KEY_FILE) {
    problems.push(
      'EVIDENCE_SIGNING_KEY_FILE: set EVIDENCE_SIGNING_KEY or EVIDENCE_SIGNING_KEY_FILE, not both',
    );
  }
  problems.push(...pkcs11Problems(env));
  if (env.EMAIL_PROVIDER === 'smtp' && !env.SMTP_HOST)
    problems.push('SMTP_HOST: required when EMAIL_PROVIDER=smtp');
  problems.push(...dkimProblems(env));
  problems.push(...tsaProblems(env));
  problems.push(...devSecretProblems(env));
  if (env.LETTER_PROVIDER === 'print-vendor') {
    for (const key of ['PRINT_VENDOR_URL', 'PRINT_VENDOR_API_KEY', 'PRINT_VENDOR_WEBHOOK_SECRET']) {
      if (!env[key]) problems.push(`${key}: required when LETTER_PROVIDER=print-vendor`);
    }
  }
  if (env.CLOCK_START && env.NODE_ENV !== 'test')
    problems.push('CLOCK_START: only allowed with NODE_ENV=test');
  if (env.NODE_ENV === 'production' && Number(env.CALLBACK_RETRY_FOR_MS ?? 90_000_000) < 86_400_000)
    problems.push('CALLBACK_RETRY_FOR_MS: callers are owed at least 24 hours (86400000) of retries');
  const cn = (env.SMS_CN_PROVIDERS ?? '').split(',').map((x) => x.trim());
  const needs: Record<string, string[]> = {
    aliyun: ['ALIYUN_SMS_ACCESS_KEY_ID', 'ALIYUN_SMS_ACCESS_KEY_SECRET', 'ALIYUN_SMS_CALLBACK_TOKEN'],
    tencent: [
      'TENCENT_SMS_SECRET_ID',
      'TENCENT_SMS_SECRET_KEY',
      'TENCENT_SMS_SDK_APP_ID',
      'TENCENT_SMS_CALLBACK_TOKEN',
    ],
  };
  for (const [kind, keys] of Object.entries(needs)) {
    if (!cn.includes(kind)) continue;
    for (const key of keys) {
      if (!env[key]) problems.push(`${key}: required when SMS_CN_PROVIDERS lists ${kind}`);
    }
  }
  if (env.VOICE_PROVIDER === 'twilio') {
    for (const key of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_VOICE_FROM']) {
      if (!env[key]) problems.push(`${key}: required when VOICE_PROVIDER=twilio`);
    }
  }
  if (env.SMS_PROVIDER === 'twilio') {
    for (const key of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN']) {
      if (!env[key]) problems.push(`${key}: required when SMS_PROVIDER=twilio`);
    }
    if (!env.TWILIO_FROM && !env.TWILIO_MESSAGING_SERVICE_SID) {
      problems.push(
        'TWILIO_FROM: TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is required when SMS_PROVIDER=twilio',
      );
    }
  }
  return problems;
}

/** The CERTIFICATE blocks of a PEM text. */
function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** TSA_URL needs TSA_CA_CERT_FILE: a readable PEM of X.509 certificates (the time stamps are verified against it). */
function tsaProblems(env: Record<string, string | undefined>): string[] {
  const file = env.TSA_CA_CERT_FILE;
  if (!file) {
    return env.TSA_URL
      ? ['TSA_CA_CERT_FILE: required with TSA_URL (the CA certificate the TSA certificate chains to, PEM)']
      : [];
  }
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    return [`TSA_CA_CERT_FILE: cannot read ${file}: ${(err as Error).message}`];
  }
  const blocks = pemCertificates(pem);
  if (blocks.length === 0) return [`TSA_CA_CERT_FILE: ${file} holds no PEM CERTIFICATE`];
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch {
      return [`TSA_CA_CERT_FILE: certificate ${i + 1} in ${file} is not a valid X.509 certificate`];
    }
  }
  return [];
}

/** The token PIN from PKCS11_PIN or PKCS11_PIN_FILE (one trailing newline dropped). */
function pkcs11Pin(env: { PKCS11_PIN?: string; PKCS11_PIN_FILE?: string }): string | undefined {
  if (env.PKCS11_PIN_FILE) return readFileSync(env.PKCS11_PIN_FILE, 'utf8').replace(/\r?\n$/, '');
  return env.PKCS11_PIN;
}

/** EVIDENCE_SIGNER=pkcs11: module, token, key and one PIN source; no PEM key beside it. Never echoes the PIN. */
function pkcs11Problems(env: Record<string, string | undefined>): string[] {
  if (env.EVIDENCE_SIGNER !== 'pkcs11') return [];
  const problems: string[] = [];
  for (const k of ['PKCS11_TOKEN_LABEL', 'PKCS11_KEY_LABEL'] as const) {
    if (!env[k]) problems.push(`${k}: required when EVIDENCE_SIGNER=pkcs11`);
  }
  for (const k of ['EVIDENCE_SIGNING_KEY', 'EVIDENCE_SIGNING_KEY_FILE'] as const) {
    if (env[k])
      problems.push(`${k}: not used with EVIDENCE_SIGNER=pkcs11 (the key is in the token): unset it`);
  }
  const module = env.PKCS11_MODULE || '/usr/lib/softhsm/libsofthsm2.so';
  if (!existsSync(module)) {
    problems.push(
      `PKCS11_MODULE: ${module} does not exist (Debian: apt-get install softhsm2, or the HSM vendor's library)`,
    );
  }
  if (env.PKCS11_PIN && env.PKCS11_PIN_FILE) {
    problems.push('PKCS11_PIN_FILE: set PKCS11_PIN or PKCS11_PIN_FILE, not both');
  } else if (!env.PKCS11_PIN && !env.PKCS11_PIN_FILE) {
    problems.push('PKCS11_PIN: PKCS11_PIN or PKCS11_PIN_FILE is required when EVIDENCE_SIGNER=pkcs11');
  } else {
    let pin: string | undefined;
    try {
      pin = pkcs11Pin(env);
    } catch (err) {
      problems.push(
        `PKCS11_PIN_FILE: cannot read ${env.PKCS11_PIN_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    if (pin === '') problems.push(`PKCS11_PIN_FILE: ${env.PKCS11_PIN_FILE} is empty`);
  }
  return problems;
}

/** The DKIM key PEM from DKIM_PRIVATE_KEY (with `\n` escapes undone) or DKIM_PRIVATE_KEY_FILE. */
function dkimKeyPem(env: Record<string, string | undefined>): string | undefined {
  if (env.DKIM_PRIVATE_KEY_FILE) return readFileSync(env.DKIM_PRIVATE_KEY_FILE, 'utf8');
  const inline = env.DKIM_PRIVATE_KEY;
  return inline && !inline.includes('\n') ? inline.replace(/\\n/g, '\n') : inline;
}

/** DKIM settings: all or none, one key source, an RSA key of 1024+ bits (RFC 8301) that loads. */
function dkimProblems(env: Record<string, string | undefined>): string[] {
  const keys = ['DKIM_DOMAIN', 'DKIM_SELECTOR', 'DKIM_PRIVATE_KEY', 'DKIM_PRIVATE_KEY_FILE'] as const;
  if (!keys.some((k) => env[k])) return [];
  const problems: string[] = [];
  for (const k of ['DKIM_DOMAIN', 'DKIM_SELECTOR'] as const) {
    if (!env[k]) problems.push(`${k}: required when DKIM signing is configured (or unset all DKIM_*)`);
  }
  if (env.DKIM_PRIVATE_KEY && env.DKIM_PRIVATE_KEY_FILE) {
    problems.push('DKIM_PRIVATE_KEY_FILE: set DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE, not both');
    return problems;
  }
  const source = env.DKIM_PRIVATE_KEY_FILE ? 'DKIM_PRIVATE_KEY_FILE' : 'DKIM_PRIVATE_KEY';
  if (!env.DKIM_PRIVATE_KEY && !env.DKIM_PRIVATE_KEY_FILE) {
    problems.push('DKIM_PRIVATE_KEY: DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE is required with DKIM_DOMAIN');
    return problems;
  }
  let pem: string | undefined;
  try {
    pem = dkimKeyPem(env);
  } catch (err) {
    problems.push(`${source}: cannot read ${env.DKIM_PRIVATE_KEY_FILE}: ${(err as Error).message}`);
    return problems;
  }
  try {
    const key = createPrivateKey(pem ?? '');
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa') {
      problems.push(`${source}: an RSA private key is required (rsa-sha256), not ${key.asymmetricKeyType}`);
    } else if (bits < 1024) {
      problems.push(`${source}: the RSA key has ${bits} bits; at least 1024 are required (2048 recommended)`);
    }
  } catch {
    problems.push(`${source}: not a PEM private key`);
  }
  return problems;
}

/** The public development unsubscribe secret (used only with NODE_ENV=development or test). */
export const DEV_UNSUBSCRIBE_SECRET = 'development-unsubscribe-secret';

/**
 * Secrets published in this repository (the development fallback, the test suites' and the
 * emulators' webhook secrets and keys): anyone can read them, so anyone could forge an
 * unsubscribe link or a signed receipt with them.
 */
export const KNOWN_DEV_SECRETS: ReadonlySet<string> = new Set([
  DEV_UNSUBSCRIBE_SECRET,
  'email-webhook-secret-for-tests',
  'print-vendor-webhook-secret-0001',
  'whsec_print_456',
  'test-auth-token-0123456789abcdef',
  'test-auth-token-123',
  'cns-test-admin-key-0123456789abcdef0123456789abcdef',
  'test-admin-key-0123456789abcdef0123456789',
]);

const SECRET_SETTINGS = [
  'UNSUBSCRIBE_SECRET',
  'EMAIL_WEBHOOK_SECRET',
  'PRINT_VENDOR_WEBHOOK_SECRET',
  'PRINT_VENDOR_API_KEY',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_SECONDARY_AUTH_TOKEN',
  'ALIYUN_SMS_ACCESS_KEY_SECRET',
  'ALIYUN_SMS_CALLBACK_TOKEN',
  'TENCENT_SMS_SECRET_KEY',
  'TENCENT_SMS_CALLBACK_TOKEN',
  'API_KEYS_BOOTSTRAP',
  'SMTP_PASS',
] as const;

/**
 * Known development secrets are refused unless NODE_ENV says development (or test) explicitly:
 * an unset NODE_ENV is how a production deployment forgets it, and the public fallback would
 * then sign every one-click unsubscribe link.
 */
function devSecretProblems(env: Record<string, string | undefined>): string[] {
  if (env.NODE_ENV === 'development' || env.NODE_ENV === 'test') return [];
  const problems: string[] = [];
  const why = `NODE_ENV is ${env.NODE_ENV ? `"${env.NODE_ENV}"` : 'not set'}`;
  // With PostgreSQL several processes append evidence and no key is generated for them: each
  // must be given the same key, or events written without it carry no signed entry timestamp.
  if (env.DATABASE_URL && !env.EVIDENCE_SIGNING_KEY && !env.EVIDENCE_SIGNING_KEY_FILE) {
    problems.push(
      `EVIDENCE_SIGNING_KEY_FILE: required with DATABASE_URL (${why}): every process that writes evidence (the api and each worker) signs it with the same key. Fix: set EVIDENCE_SIGNING_KEY_FILE (or EVIDENCE_SIGNING_KEY) to the same Ed25519 key in all of them (docs/evidence.md)`,
    );
  }
  if (!env.UNSUBSCRIBE_SECRET) {
    problems.push(
      `UNSUBSCRIBE_SECRET: required (${why}): the built-in development secret is public and would let anyone forge one-click unsubscribe links. Fix: set a random secret of 16+ characters (e.g. "openssl rand -hex 32"), or NODE_ENV=development on a development machine`,
    );
  }
  for (const key of SECRET_SETTINGS) {
    const v = env[key];
    if (v && KNOWN_DEV_SECRETS.has(v)) {
      problems.push(
        `${key}: is a development/test secret published in this repository (${why}). Fix: set a secret of your own`,
      );
    }
  }
  return problems;
}

export type RunMode = 'standalone' | 'queue';

/** A mainland SMS gateway's settings (SMS_CN_PROVIDERS; docs/channels.md). */
export type MainlandSmsSettings =
  | {
      kind: 'aliyun';
      accessKeyId: string;
      accessKeySecret: string;
      endpoint?: string;
      protocol: 'https' | 'http';
      callbackToken: string;
      timeoutMs: number;
      maxVariableLength: number;
    }
  | {
      kind: 'tencent';
      secretId: string;
      secretKey: string;
      sdkAppId: string;
      region: string;
      endpoint?: string;
      protocol: 'https://' | 'http://';
      callbackToken: string;
      timeoutMs: number;
      maxVariableLength: number;
    };

export interface AppConfig {
  env: 'development' | 'production' | 'test';
  mode: RunMode;
  http: {
    host: string;
    port: number;
    publicBaseUrl: string;
    /** `<publicBaseUrl>/webhooks`: providers given a per-message callback URL point it under here. */
    webhookBaseUrl: string;
    maxBodyBytes: number;
  };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  database:
    | { type: 'sqlite'; path: string }
    | {
        type: 'postgres';
        url: string;
        schema?: string;
        poolSize: number;
        /** Owner role for `npm run db:migrate`; the service itself never uses it. */
        ownerUrl?: string;
        migrations: 'auto' | 'check';
      };
  queue: {
    redisUrl?: string;
    prefix: string;
    apiRunsWorkers: boolean;
    concurrency: number;
    /** Queue mode: base name of the periodic tasks' queues (`<schedulerQueue>-<task>`). */
    schedulerQueue: string;
  };
  pipeline: {
    sweepIntervalMs: number;
    stuckAfterMs: number;
    sendingGraceMs: number;
    maxAttempts: number;
    /** How long a timestamp-signed webhook's receipt dedup key is kept (docs/evidence.md, "Replays"). */
    receiptDedupRetentionMs: number;
    /** Interval of the receipt dedup key pruning. */
    receiptDedupPruneIntervalMs: number;
  };
  /** Status callbacks to callers (docs/api.md, "Callbacks"). */
  callbacks: {
    timeoutMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    retryForMs: number;
    pollMs: number;
    concurrency: number;
    allowHttp: boolean;
  };
  templatesDir: string;
  /** Queue mode: interval at which template versions published elsewhere are picked up. */
  templateRefreshMs: number;
  stagePolicy: StagePolicy;
  grpc: { host: string; port: number };
  auth: {
    adminKeyFile: string;
    bootstrapKey?: string;
    cacheMs: number;
    rateLimit: { perSecond: number; burst: number };
  };
  shutdown: { timeoutMs: number };
  observability: {
    workerMetricsPort: number;
    readyMaxQueueLagMs: number;
    /** READY_MIN_FREE_DISK_MB in bytes. */
    readyMinFreeDiskBytes: number;
  };
  sms:
    | { provider: 'sandbox'; receiptDelayMs: number }
    | {
        provider: 'twilio';
        accountSid: string;
        authToken: string;
        from?: string;
        messagingServiceSid?: string;
        apiBaseUrl?: string;
        timeoutMs: number;
        secondary?: { accountSid: string; authToken: string; from: string; apiBaseUrl?: string };
      };
  /** Voice reminders through Twilio (VOICE_PROVIDER=twilio); absent: the sandbox places no calls. */
  voice?: {
    accountSid: string;
    authToken: string;
    from: string;
    apiBaseUrl?: string;
    timeoutMs: number;
    ringSeconds: number;
    machineDetection: boolean;
  };
  /** Gateways for mainland numbers (+86), in failover order; empty when SMS_CN_PROVIDERS is. */
  smsMainland: MainlandSmsSettings[];
  breaker: { threshold: number; cooldownMs: number };
  smtpSecondary?: { host: string; port: number };
  sandbox: { receiptDelayMs: number };
  email:
    | {
        provider: 'sandbox';
        from: string;
        messageIdDomain: string;
        webhookSecret?: string;
        unsubscribeSecret: string;
        /** Signs every rendered .eml (the signature is part of the stored, sent bytes). */
        dkim?: { domainName: string; keySelector: string; privateKey: string };
      }
    | {
        provider: 'smtp';
        from: string;
        messageIdDomain: string;
        webhookSecret?: string;
        unsubscribeSecret: string;
        host: string;
        port: number;
        secure: boolean;
        auth?: { user: string; pass: string };
        poolSize: number;
        timeoutMs: number;
        dkim?: { domainName: string; keySelector: string; privateKey: string };
      };
  letter: {
    provider: 'sandbox' | 'print-vendor' | 'print-room';
    vendor?: { url: string; apiKey: string; webhookSecret: string; timeoutMs: number };
    printRoomDir: string;
    verifyBaseUrl: string;
    sealImagePath?: string;
  };
  compliance: { profile: 'cn' | 'us-regf'; overrides: Record<string, unknown> };
  evidence: {
    checkpointIntervalMs: number;
    signingKeyPem?: string;
    signingKeyFile?: string;
    /** `pkcs11`: the key is in a token (pkcs11 below) and signingKeyPem/File/generatedKeyFile are unset. */
    signer: 'file' | 'pkcs11';
    pkcs11?: { module: string; tokenLabel: string; pin: string; keyLabel: string };
    /** Standalone mode without a configured key: generated here on first start (mode 0600). */
    generatedKeyFile?: string;
    tsaUrl?: string;
    /** PEM of the CA certificate(s) from TSA_CA_CERT_FILE: time stamps must chain to one of them. */
    tsaCaCertsPem?: string;
    tsaTimeoutMs: number;
    /** C2SP witnesses each checkpoint goes to. */
    witnessUrls: string[];
    witnessTimeoutMs: number;
    /** Origin line of the log's checkpoint notes (default: `<public host>/evidence-log`). */
    logOrigin: string;
    retentionYears: number;
  };
  legal: { minPrincipal: number; minDelivered: number; minMonthsNoPayment: number };
  /** Test clock start (NODE_ENV=test only). */
  clockStart?: string;
  bank: {
    name: string;
    nameEn: string;
    address: string;
    phone: string;
    complaintChannel: string;
    website?: string;
    addressEn: string;
    complaintChannelEn: string;
    /** Sender name on third-party (contact, guarantor) messages, per locale. */
    thirdPartyName: string;
    thirdPartyNameEn: string;
  };
  /** Template safety: render pool and limits, SMS segment budget. */
  templateSafety: {
    renderThreads: number;
    renderTimeoutMs: number;
    maxIterations: number;
    maxOutputChars: number;
    smsMaxSegments: number;
  };
}

/**
 * Where this service answers when `PUBLIC_BASE_URL` is unset: `http://<HOST>:<PORT>`, with a
 * wildcard bind address (`0.0.0.0`, `::`) read as loopback. The API and its workers read the same
 * HOST and PORT, so a worker given the API's environment builds callback URLs (Twilio status
 * callbacks, the print vendor's, unsubscribe links) that reach the API, whatever its port.
 */
export function defaultPublicBaseUrl(host: string, port: number): string {
  const h = host.trim().replace(/^\[|\]$/g, '');
  const name = h === '' || h === '0.0.0.0' || h === '::' || h === '*' ? '127.0.0.1' : h;
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}

/** `PUBLIC_BASE_URL` without its trailing slash, or the default above. */
export function publicBaseUrlOf(env: { PUBLIC_BASE_URL?: string; HOST: string; PORT: number }): string {
  return (env.PUBLIC_BASE_URL ?? defaultPublicBaseUrl(env.HOST, env.PORT)).replace(/\/+$/, '');
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment (all problems at once) and returns the typed configuration. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`)),
    ...crossFieldProblems(cleaned),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  const mode: RunMode = e.REDIS_URL ? 'queue' : 'standalone';
  const port = e.PORT;
  return {
    env: e.NODE_ENV,
    mode,
    http: {
      host: e.HOST,
      port,
      publicBaseUrl: publicBaseUrlOf(e),
      webhookBaseUrl: `${publicBaseUrlOf(e)}/webhooks`,
      maxBodyBytes: e.MAX_BODY_BYTES,
    },
    logLevel: e.LOG_LEVEL,
    database: e.DATABASE_URL
      ? {
          type: 'postgres',
          url: e.DATABASE_URL,
          schema: e.DATABASE_SCHEMA,
          poolSize: e.DATABASE_POOL_SIZE,
          ownerUrl: e.DATABASE_OWNER_URL,
          migrations: e.DATABASE_MIGRATIONS,
        }
      : { type: 'sqlite', path: e.SQLITE_PATH },
    queue: {
      redisUrl: e.REDIS_URL,
      prefix: e.QUEUE_PREFIX,
      apiRunsWorkers: mode === 'standalone' ? true : (e.API_RUN_WORKERS ?? false),
      concurrency: e.WORKER_CONCURRENCY,
      schedulerQueue: e.SCHEDULER_QUEUE,
    },
    pipeline: {
      sweepIntervalMs: e.SWEEP_INTERVAL_MS,
      stuckAfterMs: e.STUCK_AFTER_MS,
      sendingGraceMs: e.SENDING_GRACE_MS,
      maxAttempts: e.DISPATCH_MAX_ATTEMPTS,
      receiptDedupRetentionMs: e.RECEIPT_DEDUP_RETENTION_DAYS * 86_400_000,
      receiptDedupPruneIntervalMs: e.RECEIPT_DEDUP_PRUNE_INTERVAL_MS,
    },
    callbacks: {
      timeoutMs: e.CALLBACK_TIMEOUT_MS,
      retryBaseMs: e.CALLBACK_RETRY_BASE_MS,
      retryMaxMs: e.CALLBACK_RETRY_MAX_MS,
      retryForMs: e.CALLBACK_RETRY_FOR_MS,
      pollMs: e.CALLBACK_POLL_MS,
      concurrency: e.CALLBACK_CONCURRENCY,
      allowHttp: e.CALLBACK_ALLOW_HTTP ?? e.NODE_ENV !== 'production',
    },
    templatesDir: e.TEMPLATES_DIR,
    templateRefreshMs: e.TEMPLATE_REFRESH_MS,
    stagePolicy: parseStagePolicy(e.STAGE_POLICY).policy ?? DEFAULT_STAGE_POLICY,
    grpc: { host: e.GRPC_HOST ?? e.HOST, port: e.GRPC_PORT },
    auth: {
      adminKeyFile: e.ADMIN_KEY_FILE ?? join(dirname(e.SQLITE_PATH), 'admin.key'),
      bootstrapKey: e.API_KEYS_BOOTSTRAP,
      cacheMs: e.API_KEY_CACHE_MS,
      rateLimit: { perSecond: e.RATE_LIMIT_RPS, burst: e.RATE_LIMIT_BURST },
    },
    shutdown: { timeoutMs: e.SHUTDOWN_TIMEOUT_MS },
    observability: {
      workerMetricsPort: e.METRICS_PORT,
      readyMaxQueueLagMs: e.READY_MAX_QUEUE_LAG_MS,
      readyMinFreeDiskBytes: e.READY_MIN_FREE_DISK_MB * 1024 * 1024,
    },
    sms:
      e.SMS_PROVIDER === 'twilio'
        ? {
            provider: 'twilio',
            accountSid: e.TWILIO_ACCOUNT_SID as string,
            authToken: e.TWILIO_AUTH_TOKEN as string,
            from: e.TWILIO_FROM,
            messagingServiceSid: e.TWILIO_MESSAGING_SERVICE_SID,
            apiBaseUrl: e.TWILIO_API_BASE_URL,
            timeoutMs: e.TWILIO_TIMEOUT_MS,
            secondary:
              e.TWILIO_SECONDARY_ACCOUNT_SID && e.TWILIO_SECONDARY_AUTH_TOKEN && e.TWILIO_SECONDARY_FROM
                ? {
                    accountSid: e.TWILIO_SECONDARY_ACCOUNT_SID,
                    authToken: e.TWILIO_SECONDARY_AUTH_TOKEN,
                    from: e.TWILIO_SECONDARY_FROM,
                    apiBaseUrl: e.TWILIO_SECONDARY_API_BASE_URL,
                  }
                : undefined,
          }
        : { provider: 'sandbox', receiptDelayMs: e.SANDBOX_RECEIPT_DELAY_MS },
    sandbox: { receiptDelayMs: e.SANDBOX_RECEIPT_DELAY_MS },
    voice:
      e.VOICE_PROVIDER === 'twilio'
        ? {
            accountSid: e.TWILIO_ACCOUNT_SID as string,
            authToken: e.TWILIO_AUTH_TOKEN as string,
            from: e.TWILIO_VOICE_FROM as string,
            apiBaseUrl: e.TWILIO_API_BASE_URL,
            timeoutMs: e.TWILIO_TIMEOUT_MS,
            ringSeconds: e.TWILIO_VOICE_RING_SECONDS,
            machineDetection: e.TWILIO_VOICE_MACHINE_DETECTION ?? true,
          }
        : undefined,
    smsMainland: e.SMS_CN_PROVIDERS.map((kind): MainlandSmsSettings =>
      kind === 'aliyun'
        ? {
            kind,
            accessKeyId: e.ALIYUN_SMS_ACCESS_KEY_ID as string,
            accessKeySecret: e.ALIYUN_SMS_ACCESS_KEY_SECRET as string,
            endpoint: e.ALIYUN_SMS_ENDPOINT,
            protocol: e.ALIYUN_SMS_PROTOCOL,
            callbackToken: e.ALIYUN_SMS_CALLBACK_TOKEN as string,
            timeoutMs: e.ALIYUN_SMS_TIMEOUT_MS,
            maxVariableLength: e.ALIYUN_SMS_VARIABLE_MAX_LENGTH,
          }
        : {
            kind,
            secretId: e.TENCENT_SMS_SECRET_ID as string,
            secretKey: e.TENCENT_SMS_SECRET_KEY as string,
            sdkAppId: e.TENCENT_SMS_SDK_APP_ID as string,
            region: e.TENCENT_SMS_REGION,
            endpoint: e.TENCENT_SMS_ENDPOINT,
            protocol: `${e.TENCENT_SMS_PROTOCOL}://`,
            callbackToken: e.TENCENT_SMS_CALLBACK_TOKEN as string,
            timeoutMs: e.TENCENT_SMS_TIMEOUT_MS,
            maxVariableLength: e.TENCENT_SMS_VARIABLE_MAX_LENGTH,
          },
    ),
    breaker: { threshold: e.BREAKER_THRESHOLD, cooldownMs: e.BREAKER_COOLDOWN_MS },
    smtpSecondary: e.SMTP_SECONDARY_HOST
      ? { host: e.SMTP_SECONDARY_HOST, port: e.SMTP_SECONDARY_PORT }
      : undefined,
    email: (() => {
      const common = {
        from: e.EMAIL_FROM,
        messageIdDomain: e.EMAIL_MESSAGE_ID_DOMAIN,
        webhookSecret: e.EMAIL_WEBHOOK_SECRET,
        // Only with NODE_ENV=development or test (devSecretProblems refuses the rest).
        unsubscribeSecret: e.UNSUBSCRIBE_SECRET ?? DEV_UNSUBSCRIBE_SECRET,
        dkim:
          e.DKIM_DOMAIN && e.DKIM_SELECTOR
            ? {
                domainName: e.DKIM_DOMAIN.toLowerCase(),
                keySelector: e.DKIM_SELECTOR,
                privateKey: dkimKeyPem(cleaned) as string,
              }
            : undefined,
      };
      if (e.EMAIL_PROVIDER === 'sandbox') return { provider: 'sandbox' as const, ...common };
      return {
        provider: 'smtp' as const,
        ...common,
        host: e.SMTP_HOST as string,
        port: e.SMTP_PORT,
        secure: e.SMTP_SECURE,
        auth: e.SMTP_USER ? { user: e.SMTP_USER, pass: e.SMTP_PASS ?? '' } : undefined,
        poolSize: e.SMTP_POOL_SIZE,
        timeoutMs: e.SMTP_TIMEOUT_MS,
      };
    })(),
    letter: {
      provider: e.LETTER_PROVIDER,
      vendor:
        e.PRINT_VENDOR_URL && e.PRINT_VENDOR_API_KEY && e.PRINT_VENDOR_WEBHOOK_SECRET
          ? {
              url: e.PRINT_VENDOR_URL,
              apiKey: e.PRINT_VENDOR_API_KEY,
              webhookSecret: e.PRINT_VENDOR_WEBHOOK_SECRET,
              timeoutMs: e.PRINT_VENDOR_TIMEOUT_MS,
            }
          : undefined,
      printRoomDir: e.PRINT_ROOM_DIR ?? join(dirname(e.SQLITE_PATH), 'print-room'),
      verifyBaseUrl: (e.LETTER_VERIFY_BASE_URL ?? `${publicBaseUrlOf(e)}/verify`).replace(/\/$/, ''),
      sealImagePath: e.SEAL_IMAGE_PATH,
    },
    compliance: { profile: e.COMPLIANCE_PROFILE, overrides: e.COMPLIANCE_OVERRIDES ?? {} },
    evidence: {
      checkpointIntervalMs: e.CHECKPOINT_INTERVAL_MS,
      signingKeyPem: e.EVIDENCE_SIGNING_KEY,
      signingKeyFile: e.EVIDENCE_SIGNING_KEY_FILE,
      signer: e.EVIDENCE_SIGNER,
      pkcs11:
        e.EVIDENCE_SIGNER === 'pkcs11'
          ? {
              module: e.PKCS11_MODULE,
              tokenLabel: e.PKCS11_TOKEN_LABEL ?? '',
              pin: pkcs11Pin(e) ?? '',
              keyLabel: e.PKCS11_KEY_LABEL ?? '',
            }
          : undefined,
      generatedKeyFile:
        e.EVIDENCE_SIGNER === 'file' &&
        mode === 'standalone' &&
        !e.DATABASE_URL &&
        e.SQLITE_PATH !== ':memory:'
          ? join(dirname(e.SQLITE_PATH), 'evidence-signing-key.pem')
          : undefined,
      tsaUrl: e.TSA_URL,
      tsaCaCertsPem: e.TSA_CA_CERT_FILE ? readFileSync(e.TSA_CA_CERT_FILE, 'utf8') : undefined,
      tsaTimeoutMs: e.TSA_TIMEOUT_MS,
      witnessUrls: e.WITNESS_URLS,
      witnessTimeoutMs: e.WITNESS_TIMEOUT_MS,
      logOrigin: e.EVIDENCE_LOG_ORIGIN ?? `${new URL(publicBaseUrlOf(e)).host}/evidence-log`,
      retentionYears: e.EVIDENCE_RETENTION_YEARS,
    },
    legal: {
      minPrincipal: e.LEGAL_MIN_PRINCIPAL,
      minDelivered: e.LEGAL_MIN_DELIVERED,
      minMonthsNoPayment: e.LEGAL_MIN_MONTHS_NO_PAYMENT,
    },
    clockStart: e.CLOCK_START,
    bank: {
      name: e.BANK_NAME,
      nameEn: e.BANK_NAME_EN,
      address: e.BANK_ADDRESS,
      phone: e.BANK_PHONE,
      complaintChannel: e.BANK_COMPLAINT_CHANNEL,
      website: e.BANK_WEBSITE,
      addressEn: e.BANK_ADDRESS_EN,
      complaintChannelEn: e.BANK_COMPLAINT_CHANNEL_EN,
      thirdPartyName: e.THIRD_PARTY_SENDER_NAME,
      thirdPartyNameEn: e.THIRD_PARTY_SENDER_NAME_EN,
    },
    templateSafety: {
      renderThreads: e.TEMPLATE_RENDER_THREADS,
      renderTimeoutMs: e.TEMPLATE_RENDER_TIMEOUT_MS,
      maxIterations: e.TEMPLATE_MAX_ITERATIONS,
      maxOutputChars: e.TEMPLATE_MAX_OUTPUT_CHARS,
      smsMaxSegments: e.TEMPLATE_SMS_MAX_SEGMENTS,
    },
  };
}

type NestLevel = 'fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose';

/** Nest logger levels for a configured LOG_LEVEL. */
export function nestLogLevels(level: AppConfig['logLevel']): NestLevel[] {
  const order: NestLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
  const upto: Record<AppConfig['logLevel'], number> = {
    silent: -1,
    fatal: 0,
    error: 1,
    warn: 2,
    info: 3,
    debug: 4,
    trace: 5,
  };
  return order.slice(0, upto[level] + 1);
}

/** The process environment, validated: the only place the service reads process.env. */
export function loadConfigFromEnv(): AppConfig {
  return loadConfig(process.env);
}
