import http from 'node:http';
import https from 'node:https';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type ResponseModule from 'twilio/lib/http/response.js';

type Response<T> = ResponseModule.default<T>;

export interface TwilioHttpClientOptions {
  /** Per-request timeout (also the idle socket timeout), in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Max sockets per host of the keep-alive agent. Default 64. */
  maxSockets?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_SOCKETS = 64;

/** True for `twilio.com` and every `*.twilio.com` host (api, messaging, edge/region hosts...). */
export function isTwilioHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return host === 'twilio.com' || host.endsWith('.twilio.com');
}

/**
 * Rewrites a Twilio API URL onto `baseUrl`, keeping path and query string. A path prefix of the base URL
 * (e.g. `http://127.0.0.1:4010/twilio`) is prepended. URLs of other hosts are returned unchanged.
 */
export function rewriteTwilioUrl(uri: string, baseUrl: string | URL): string {
  let target: URL;
  try {
    target = new URL(uri);
  } catch {
    return uri;
  }
  if (!isTwilioHost(target.hostname)) return uri;
  const base = typeof baseUrl === 'string' ? new URL(baseUrl) : baseUrl;
  const prefix = base.pathname.replace(/\/+$/, '');
  return `${base.protocol}//${base.host}${prefix}${target.pathname}${target.search}`;
}

/**
 * A `RequestClient` of the official `twilio` package that sends every request meant for `*.twilio.com`
 * to `baseUrl` instead (a local emulator, a recording proxy...). Keep-alive agents for both http and
 * https, and a request timeout. Pass it as `twilio(accountSid, authToken, { httpClient })`.
 */
export class TwilioHttpClient extends twilio.RequestClient {
  readonly baseUrl: string;
  private readonly base: URL;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(baseUrl: string, opts: TwilioHttpClientOptions = {}) {
    const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxSockets = opts.maxSockets ?? DEFAULT_MAX_SOCKETS;
    super({
      timeout,
      keepAlive: true,
      maxSockets,
      maxTotalSockets: maxSockets * 4,
      maxFreeSockets: maxSockets,
    });
    const base = new URL(baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`Twilio base URL must be http(s), got ${base.protocol}`);
    }
    this.base = base;
    this.baseUrl = base.href.replace(/\/+$/, '');
    const agentOpts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout };
    this.httpAgent = new http.Agent(agentOpts);
    this.httpsAgent = new https.Agent(agentOpts);
    this.axios.defaults.httpAgent = this.httpAgent;
    // Our own https agent as well: the parent would use a proxy agent when HTTP_PROXY is set.
    this.axios.defaults.httpsAgent = this.httpsAgent;
    this.axios.defaults.proxy = false;
  }

  /** The URL a request for `uri` is actually sent to. */
  resolve(uri: string): string {
    return rewriteTwilioUrl(uri, this.base);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<Response<TData>> {
    return super.request<TData>({ ...opts, uri: this.resolve(opts.uri) });
  }

  /** Closes the pooled sockets (for clean shutdown in tests and workers). */
  destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** Creates the http client to pass as `twilio(accountSid, authToken, { httpClient })`. */
export function createTwilioHttpClient(baseUrl: string, opts?: TwilioHttpClientOptions): TwilioHttpClient {
  return new TwilioHttpClient(baseUrl, opts);
}
