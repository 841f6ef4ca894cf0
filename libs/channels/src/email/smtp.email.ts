import { createHash, type Hash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import nodemailer from 'nodemailer';
import type { NodemailerError, SMTPPoolOptions, SMTPPoolSentMessageInfo, Transporter } from 'nodemailer';
import { maskEmail, ProviderError } from '#libs/core';
import type { ChannelProvider, Json, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';
import { composeEml, dkimSignatures, emlHeader, isWireForm } from './eml.js';
import { domainOfAddress, messageIdFor, normaliseMessageId } from './message-id.js';

export interface SmtpDkimSettings {
  domainName: string;
  keySelector: string;
  /** PEM RSA private key. */
  privateKey: string;
}

/** Plain settings for the SMTP adapter; the caller maps its configuration onto them. */
export interface SmtpEmailSettings {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465). With false, STARTTLS is used when offered. */
  secure: boolean;
  /** Refuse to send without STARTTLS (recommended on port 587). */
  requireTLS?: boolean;
  /** Never use STARTTLS, even when offered (local test servers only). */
  ignoreTLS?: boolean;
  /** Verify the server certificate; true unless set to false (private relays with own CAs). */
  tlsRejectUnauthorized?: boolean;
  auth?: { user: string; pass: string };
  /** Default From header, e.g. `"示例银行信用卡中心" <notices@notices.bank.example>`. */
  from: string;
  /** Envelope sender (MAIL FROM, where DSNs go); defaults to the From address. */
  returnPath?: string;
  /** Domain of our Message-IDs; defaults to the domain of `from`. */
  messageIdDomain?: string;
  /** Host name sent with EHLO. */
  clientName?: string;
  /** Pooled connections kept open to the relay (nodemailer `maxConnections`). */
  maxConnections: number;
  /** Messages per connection before it is replaced (nodemailer `maxMessages`, default 100). */
  maxMessagesPerConnection?: number;
  /** Close a pooled connection after this long idle (default 30 s). */
  idleTimeoutMs?: number;
  /**
   * DKIM key of the messages. A message given as `raw` must already carry a DKIM-Signature of
   * this domain and selector (it is never re-signed: the stored bytes are the bytes sent); a
   * message given as parts is composed and signed here.
   */
  dkim?: SmtpDkimSettings;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  /** Inactivity on an open connection, including the wait for the reply to the message. */
  socketTimeoutMs: number;
}

/** What the adapter knows about one send while it is in flight. */
interface SendTracker {
  /** The whole message (up to the end-of-data dot) was handed to the socket. */
  dataSent: boolean;
  /** SHA-256 and size of the message bytes as the SMTP client read them (before dot-stuffing). */
  written: { hash: Hash; size: number } | null;
}

/** Error codes nodemailer uses for failures of the connection rather than of the message. */
const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROTOCOL',
  'EMAXLIMIT',
  'EPROXY',
]);

const EMAIL_IN_TEXT = /[A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

function maskAddresses(text: string): string {
  return text.replace(EMAIL_IN_TEXT, (m) => maskEmail(m));
}

/** `5.1.1` from `550 5.1.1 <x@y>: user unknown`; undefined when the reply has no enhanced code. */
export function enhancedStatusCode(response: string | undefined): string | undefined {
  if (!response) return undefined;
  const m = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(response.trim());
  return m ? m[1] : undefined;
}

/**
 * Maps a nodemailer error onto a ProviderError.
 *
 * - A 4xx reply (and 503): retryable; `httpStatus` is the SMTP code: the server answered, so we
 *   know the message was not taken.
 * - A 5xx reply: not retryable.
 * - No reply (connection refused, dropped, timed out): retryable. `httpStatus` is 0 when the
 *   message was surely not transmitted, and `null` when the connection died after the whole
 *   message (end-of-data) had been sent but before the server's reply: the relay may have
 *   queued it, so the caller must reconcile before resending.
 * - Anything else (invalid address, bad attachment, configuration): not retryable.
 */
export function classifySmtpError(err: unknown, dataSent: boolean): ProviderError {
  const e = (err ?? {}) as NodemailerError;
  const rejected = e.rejectedErrors?.find((r) => typeof r.responseCode === 'number');
  const smtpCode = typeof e.responseCode === 'number' ? e.responseCode : rejected?.responseCode;
  const response = e.response ?? rejected?.response;
  const detail = `smtp: ${maskAddresses(e.message ?? String(err))}`;
  const base = {
    smtpCode: smtpCode ?? null,
    enhancedCode: enhancedStatusCode(response) ?? null,
    smtpResponse: response ? maskAddresses(response) : null,
    smtpCommand: e.command ?? null,
    errorCode: typeof e.code === 'string' ? e.code : null,
  };
  if (typeof smtpCode === 'number' && smtpCode >= 400) {
    const permanent = smtpCode >= 500 && smtpCode !== 503;
    return new ProviderError(detail, !permanent, { ...base, httpStatus: smtpCode });
  }
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) {
    return new ProviderError(detail, true, { ...base, httpStatus: dataSent ? null : 0, dataSent });
  }
  return new ProviderError(detail, false, { ...base, httpStatus: 0 });
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function toJsonStrings(list: unknown): string[] {
  return Array.isArray(list) ? list.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))) : [];
}

/**
 * Email over SMTP with nodemailer's pooled transport.
 *
 * The Message-ID is derived from our notification id (`<{id}@{domain}>`) and is the provider
 * message id: a retried send carries the same Message-ID, and bounces (DSNs) quote it.
 * The message goes out as the exact bytes of `EmailContent.raw` (the stored `.eml`, see
 * `composeEml`): nodemailer's `raw` option, with the envelope given separately, adds no header
 * and re-encodes nothing. `request.written` records the SHA-256 of the bytes the SMTP client
 * actually read from the message stream.
 * SMTP has no status API: `poll` and `findSent` return null; outcomes arrive as DSNs.
 */
export class SmtpEmailProvider implements ChannelProvider {
  readonly name = 'smtp';
  readonly channel = 'email' as const;
  readonly sandbox = false;
  private readonly transport: Transporter<SMTPPoolSentMessageInfo, SMTPPoolOptions>;
  private readonly domain: string;
  private readonly inFlight = new Map<string, SendTracker>();

  constructor(private readonly settings: SmtpEmailSettings) {
    const domain = settings.messageIdDomain ?? domainOfAddress(settings.from);
    if (!domain) throw new Error('smtp: cannot derive the Message-ID domain; set messageIdDomain');
    this.domain = domain;
    this.transport = nodemailer.createTransport({
      pool: true,
      host: settings.host,
      port: settings.port,
      secure: settings.secure,
      requireTLS: settings.requireTLS ?? false,
      ignoreTLS: settings.ignoreTLS ?? false,
      tls: { rejectUnauthorized: settings.tlsRejectUnauthorized ?? true },
      ...(settings.auth ? { auth: { user: settings.auth.user, pass: settings.auth.pass } } : {}),
      ...(settings.clientName ? { name: settings.clientName } : {}),
      maxConnections: settings.maxConnections,
      maxMessages: settings.maxMessagesPerConnection ?? 100,
      idleTimeout: settings.idleTimeoutMs ?? 30_000,
      // nodemailer requeues a message only when not a byte of it was sent; keep that, bounded.
      maxRequeues: 2,
      connectionTimeout: settings.connectionTimeoutMs,
      greetingTimeout: settings.greetingTimeoutMs,
      socketTimeout: settings.socketTimeoutMs,
      // Content comes as Buffers only: never let a message read files or fetch URLs.
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    });
    // Taps the outgoing stream: the bytes the SMTP client reads (hashed), and when it has read
    // the last one (the end-of-data dot follows), which tells an ambiguous failure from a clean one.
    this.transport.use('stream', (mail, done) => {
      const id = typeof mail.data.messageId === 'string' ? mail.data.messageId : undefined;
      const tracker = id ? this.inFlight.get(id) : undefined;
      if (tracker) {
        mail.message.processFunc((input: Readable) => {
          const written = { hash: createHash('sha256'), size: 0 };
          tracker.written = written;
          const tap = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              written.hash.update(chunk);
              written.size += chunk.length;
              cb(null, chunk);
            },
          });
          tap.once('end', () => {
            tracker.dataSent = true;
          });
          input.once('error', (err) => tap.destroy(err));
          return input.pipe(tap);
        });
      }
      done();
    });
  }

  /** The Message-ID (and provider id) a notification's email gets. */
  messageIdFor(notificationId: string): string {
    return messageIdFor(notificationId, this.domain);
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const email = message.email;
    if (!email) throw new ProviderError('smtp: message has no email part', false, { httpStatus: 0 });
    if (!message.to) throw new ProviderError('smtp: missing recipient', false, { httpStatus: 0 });
    const messageId = this.messageIdFor(message.notificationId);
    const from = email.from ?? this.settings.from;
    const returnPath = bareAddress(this.settings.returnPath ?? from);
    const refuse = (why: string) => new ProviderError(`smtp: ${why}`, false, { httpStatus: 0 });
    let raw: Buffer;
    try {
      raw =
        email.raw ??
        (await composeEml(
          {
            from,
            to: message.to,
            subject: email.subject,
            text: email.text,
            html: email.html,
            messageId,
            date: new Date(),
            headers: email.headers,
            attachments: email.attachments,
          },
          this.settings.dkim,
        ));
    } catch (err) {
      throw refuse(`cannot build the message: ${err instanceof Error ? err.message : String(err)}`);
    }
    // The bytes are sent as they are: refuse what would not arrive as stored, or not as ours.
    if (!isWireForm(raw))
      throw refuse('the message has a bare CR or LF or no final CRLF; it would not arrive byte for byte');
    const inMessage = normaliseMessageId(emlHeader(raw, 'Message-ID'));
    if (inMessage !== messageId)
      throw refuse(`the message's Message-ID ${String(inMessage)} is not ${messageId}`);
    const signatures = dkimSignatures(raw);
    const dkim = this.settings.dkim;
    if (
      dkim &&
      !signatures.some((s) => s.domain === dkim.domainName.toLowerCase() && s.selector === dkim.keySelector)
    ) {
      throw refuse(
        `DKIM is configured (${dkim.keySelector}._domainkey.${dkim.domainName}) but the message carries no such DKIM-Signature`,
      );
    }
    const request: Json = {
      messageId,
      to: message.to,
      from,
      returnPath,
      sha256: sha256(raw),
      size: raw.length,
      subjectLength: email.subject.length,
      htmlLength: email.html.length,
      textLength: email.text.length,
      headers: Object.keys(email.headers ?? {}),
      attachments: (email.attachments ?? []).map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        size: a.content.length,
        sha256: sha256(a.content),
      })),
      dkim: signatures.length ? signatures.map((s) => `${s.selector}._domainkey.${s.domain}`) : null,
    };
    if (this.inFlight.has(messageId)) {
      // The earlier attempt may still deliver: this is exactly the ambiguous case.
      throw new ProviderError('smtp: a send of this notification is already in flight', true, {
        smtpCode: null,
        httpStatus: null,
        request,
      });
    }
    const tracker: SendTracker = { dataSent: false, written: null };
    this.inFlight.set(messageId, tracker);
    try {
      const info = await this.transport.sendMail({
        // With `raw` nodemailer emits these bytes only (no header is added or changed); the
        // messageId here only names the message for the stream tap and nodemailer's own info.
        raw,
        envelope: { from: returnPath, to: [message.to] },
        messageId,
      });
      const written = tracker.written
        ? { sha256: tracker.written.hash.digest('hex'), size: tracker.written.size }
        : null;
      Object.assign(request as Record<string, Json>, { written });
      const accepted = toJsonStrings(info.accepted);
      const rejected = toJsonStrings(info.rejected);
      if (accepted.length === 0) {
        throw new ProviderError('smtp: the server accepted no recipient', false, {
          smtpCode: null,
          httpStatus: 0,
          request,
          response: info.response,
        });
      }
      return {
        providerMessageId: messageId,
        acceptedAt: new Date(),
        request,
        raw: {
          messageId,
          response: info.response,
          accepted,
          rejected,
          envelope: { from: returnPath, to: [message.to] },
          messageSize: typeof info.messageSize === 'number' ? info.messageSize : null,
        },
      };
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      const pe = classifySmtpError(err, tracker.dataSent);
      Object.assign(pe.extra, { request });
      throw pe;
    } finally {
      this.inFlight.delete(messageId);
    }
  }

  /** SMTP has no status API; outcomes arrive as DSNs (see `parseDsn`). */
  async poll(_providerMessageId: string, _message: OutboundMessage): Promise<NormalisedReceipt | null> {
    return null;
  }

  /** SMTP cannot be asked whether a message was taken; resending reuses the same Message-ID. */
  async findSent(_message: OutboundMessage, _since: Date): Promise<SendResult | null> {
    return null;
  }

  /** Opens a connection and checks the greeting and the login (readiness probe). */
  async verify(): Promise<void> {
    try {
      await this.transport.verify();
    } catch (err) {
      throw classifySmtpError(err, false);
    }
  }

  /** Closes the pool; messages in flight finish first. */
  stop(): void {
    this.transport.close();
  }
}

/** The bare address of `Name <a@b>` (the envelope takes addresses only). */
function bareAddress(address: string): string {
  const m = /<([^<>]+)>\s*$/.exec(address);
  return (m ? m[1] : address).trim();
}
