import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoggerService } from '@nestjs/common';
import { pino, type Logger as Pino } from 'pino';
import { pinoHttp } from 'pino-http';
import type { AppConfig } from '#libs/config';
import { redactDeep, redactUrl, scrub } from './redact.js';

/** The request id of the request being served (for log lines written while serving it). */
export const requestContext = new AsyncLocalStorage<{ reqId: string }>();

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The process logger: JSON lines on stdout (or `destination`), personal data redacted from
 * every field and message, the current request id added to each line.
 */
export function createLogger(
  level: AppConfig['logLevel'],
  opts: { name?: string; destination?: NodeJS.WritableStream } = {},
): Pino {
  return pino(
    {
      name: opts.name ?? 'collection-notices',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redactDeep(obj) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>,
          );
        },
      },
      mixin: () => {
        const ctx = requestContext.getStore();
        return ctx ? { reqId: ctx.reqId } : {};
      },
    },
    (opts.destination as pino.DestinationStream | undefined) ?? pino.destination({ sync: false }),
  );
}

/** Nest's logger interface on top of pino (so framework and library logs are JSON and redacted). */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  private write(
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace',
    message: unknown,
    rest: unknown[],
  ) {
    const ctx = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const fields: Record<string, unknown> = ctx ? { context: ctx } : {};
    if (level === 'error' && typeof rest[0] === 'string') fields.stack = rest[0];
    if (message instanceof Error) this.pino[level]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.pino[level]({ ...fields, data: message });
    else this.pino[level](fields, String(message));
  }

  log(message: unknown, ...rest: unknown[]) {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.write('fatal', message, rest);
  }
}

/**
 * Access log + request ids: honours a sane incoming `X-Request-Id`, else makes one, echoes it
 * in the response and makes it available to every log line written while serving the request.
 */
export function httpLogging(logger: Pino) {
  const http = pinoHttp({
    logger,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/health/live' || req.url === '/metrics' },
  });
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    http(req, res);
    const id = (req as IncomingMessage & { id?: string | number }).id;
    requestContext.run({ reqId: String(id) }, next);
  };
}
