/**
 * A real SMTP server for tests (the `smtp-server` package) on 127.0.0.1 with a random port.
 * It keeps every accepted message (raw bytes and the mailparser result) and can be told to
 * answer RCPT TO with a 4xx/5xx, to answer the end of DATA with an error, or to drop the
 * connection after the whole message arrived without replying (the ambiguous case).
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerSession,
} from 'smtp-server';

export interface SmtpFailure {
  code: number;
  message: string;
}

export interface StartSmtpServerOptions {
  /** Answer RCPT TO for `rcpt` with this reply; `attempt` counts RCPT TO for that address, from 1. */
  failWith?: (rcpt: string, attempt: number) => SmtpFailure | undefined;
  /** Close the connection without replying to RCPT TO for `rcpt` (a drop before any data). */
  dropAtRcpt?: (rcpt: string, attempt: number) => boolean;
  /**
   * Decide on a received message before replying to the end of DATA: a failure reply, `'drop'`
   * to close the connection without any reply, or undefined to accept. `attempt` counts the
   * messages received for the first recipient, from 1; `raw` is the DATA as received (also of
   * the messages then refused or dropped).
   */
  afterData?: (rcpts: string[], attempt: number, raw: Buffer) => SmtpFailure | 'drop' | undefined;
  /** Require AUTH PLAIN/LOGIN with these credentials; without it AUTH is optional (and any login passes). */
  auth?: { user: string; pass: string };
  /** Wait this long before replying to the end of DATA (to test socket timeouts). */
  replyDelayMs?: number;
}

export interface ReceivedMessage {
  envelope: { mailFrom: string | null; rcptTo: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  /** smtp-server session id, one per connection. */
  sessionId: string;
}

export interface TestSmtpServer {
  host: string;
  port: number;
  messages: ReceivedMessage[];
  /** Number of TCP connections the server accepted so far. */
  connections: number;
  /** Waits until at least `count` messages were stored. */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  close(): Promise<void>;
}

function smtpError(f: SmtpFailure): Error & { responseCode: number } {
  return Object.assign(new Error(f.message), { responseCode: f.code });
}

function address(a: SMTPServerAddress | false): string | null {
  return a ? a.address : null;
}

export async function startSmtpServer(opts: StartSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const rcptAttempts = new Map<string, number>();
  const dataAttempts = new Map<string, number>();
  const messages: ReceivedMessage[] = [];
  const waiters: Array<() => void> = [];
  const state = { connections: 0 };

  const server = new SMTPServer({
    secure: false,
    // No certificate in tests: do not offer STARTTLS.
    disabledCommands: ['STARTTLS'],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    logger: false,
    banner: 'test-smtp ready',
    onConnect(_session: SMTPServerSession, callback: (err?: Error | null) => void) {
      state.connections += 1;
      callback();
    },
    onAuth(auth, _session, callback) {
      if (!opts.auth || (auth.username === opts.auth.user && auth.password === opts.auth.pass)) {
        callback(null, { user: auth.username ?? 'anonymous' });
        return;
      }
      callback(smtpError({ code: 535, message: '5.7.8 Authentication credentials invalid' }));
    },
    onRcptTo(addr: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      const rcpt = addr.address.toLowerCase();
      const attempt = (rcptAttempts.get(rcpt) ?? 0) + 1;
      rcptAttempts.set(rcpt, attempt);
      if (opts.dropAtRcpt?.(rcpt, attempt)) {
        destroySession(session.id);
        return;
      }
      const failure = opts.failWith?.(rcpt, attempt);
      callback(failure ? smtpError(failure) : null);
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        void (async () => {
          const raw = Buffer.concat(chunks);
          const rcpts = session.envelope.rcptTo.map((a) => a.address.toLowerCase());
          const key = rcpts[0] ?? '';
          const attempt = (dataAttempts.get(key) ?? 0) + 1;
          dataAttempts.set(key, attempt);
          const decision = opts.afterData?.(rcpts, attempt, raw);
          if (decision === 'drop') {
            destroySession(session.id);
            return;
          }
          if (decision) {
            callback(smtpError(decision));
            return;
          }
          const parsed = await simpleParser(raw);
          messages.push({
            envelope: { mailFrom: address(session.envelope.mailFrom), rcptTo: rcpts },
            raw,
            parsed,
            sessionId: session.id,
          });
          for (const w of waiters.splice(0)) w();
          const reply = (): void => callback(null, `2.0.0 Ok: queued as T${messages.length}`);
          if (opts.replyDelayMs) setTimeout(reply, opts.replyDelayMs);
          else reply();
        })().catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
      });
    },
  });
  server.on('error', () => undefined);
  function destroySession(id: string): void {
    for (const c of server.connections) if (c.id === id) c._socket.destroy();
  }

  const port = await new Promise<number>((resolve) => {
    const listener = server.listen(0, '127.0.0.1', () => resolve((listener.address() as AddressInfo).port));
  });

  return {
    host: '127.0.0.1',
    port,
    messages,
    get connections() {
      return state.connections;
    },
    async waitForMessages(count: number, timeoutMs = 5000): Promise<ReceivedMessage[]> {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} messages, got ${messages.length}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return messages;
    },
    close(): Promise<void> {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
