import { z } from 'zod';

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
  DATABASE_POOL_SIZE: int(10, 1),
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

  SWEEP_INTERVAL_MS: int(15_000, 100),
  /** A notification left `accepted`/`scheduled` this long without progress is re-enqueued. */
  STUCK_AFTER_MS: int(30_000, 100),
  /** A notification left `sending` this long is reconciled with its provider. */
  SENDING_GRACE_MS: int(60_000, 100),
  DISPATCH_MAX_ATTEMPTS: int(5, 1),

  TEMPLATES_DIR: z.string().default('./templates'),

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

  SANDBOX_RECEIPT_DELAY_MS: int(200, 0),

  BANK_NAME: z.string().default('示例银行信用卡中心'),
  BANK_NAME_EN: z.string().default('Example Bank Credit Card Center'),
  BANK_ADDRESS: z.string().default('上海市浦东新区示例路 100 号'),
  BANK_PHONE: z.string().default('400-000-0000'),
  BANK_COMPLAINT_CHANNEL: z.string().default('客服热线 400-000-0000 转 9 / complaints@bank.example'),
  BANK_WEBSITE: z.string().optional(),
});

/** Cross-field rules, checked on the raw environment so they are reported with the rest. */
function crossFieldProblems(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
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

export type RunMode = 'standalone' | 'queue';

export interface AppConfig {
  env: 'development' | 'production' | 'test';
  mode: RunMode;
  http: { host: string; port: number; publicBaseUrl: string; maxBodyBytes: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  database:
    { type: 'sqlite'; path: string } | { type: 'postgres'; url: string; schema?: string; poolSize: number };
  queue: { redisUrl?: string; prefix: string; apiRunsWorkers: boolean; concurrency: number };
  pipeline: { sweepIntervalMs: number; stuckAfterMs: number; sendingGraceMs: number; maxAttempts: number };
  templatesDir: string;
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
      };
  sandbox: { receiptDelayMs: number };
  bank: {
    name: string;
    nameEn: string;
    address: string;
    phone: string;
    complaintChannel: string;
    website?: string;
  };
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
      publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://127.0.0.1:${port}`).replace(/\/$/, ''),
      maxBodyBytes: e.MAX_BODY_BYTES,
    },
    logLevel: e.LOG_LEVEL,
    database: e.DATABASE_URL
      ? { type: 'postgres', url: e.DATABASE_URL, schema: e.DATABASE_SCHEMA, poolSize: e.DATABASE_POOL_SIZE }
      : { type: 'sqlite', path: e.SQLITE_PATH },
    queue: {
      redisUrl: e.REDIS_URL,
      prefix: e.QUEUE_PREFIX,
      apiRunsWorkers: mode === 'standalone' ? true : (e.API_RUN_WORKERS ?? false),
      concurrency: e.WORKER_CONCURRENCY,
    },
    pipeline: {
      sweepIntervalMs: e.SWEEP_INTERVAL_MS,
      stuckAfterMs: e.STUCK_AFTER_MS,
      sendingGraceMs: e.SENDING_GRACE_MS,
      maxAttempts: e.DISPATCH_MAX_ATTEMPTS,
    },
    templatesDir: e.TEMPLATES_DIR,
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
          }
        : { provider: 'sandbox', receiptDelayMs: e.SANDBOX_RECEIPT_DELAY_MS },
    sandbox: { receiptDelayMs: e.SANDBOX_RECEIPT_DELAY_MS },
    bank: {
      name: e.BANK_NAME,
      nameEn: e.BANK_NAME_EN,
      address: e.BANK_ADDRESS,
      phone: e.BANK_PHONE,
      complaintChannel: e.BANK_COMPLAINT_CHANNEL,
      website: e.BANK_WEBSITE,
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
