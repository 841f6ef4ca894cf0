/**
 * Runs the Twilio emulator as its own process:
 *
 *   node dist/test/emulators/twilio-main.js --port 4010 --account-sid AC... --auth-token secret \
 *     [--host 127.0.0.1] [--callback-delay-ms 0] [--callback-concurrency 32] [--callback-retries 3] \
 *     [--callback-statuses delivered,undelivered,failed] [--fail +15550000001=undelivered] [--fail +15550000002=failed] [--fail +15550000003=undelivered:30005]
 *
 * Each option may also come from the environment: TWILIO_EMULATOR_PORT (or PORT), TWILIO_EMULATOR_HOST,
 * TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_EMULATOR_CALLBACK_DELAY_MS, TWILIO_EMULATOR_CALLBACK_CONCURRENCY,
 * TWILIO_EMULATOR_CALLBACK_RETRIES, TWILIO_EMULATOR_CALLBACK_STATUSES, TWILIO_EMULATOR_FAIL (comma separated `number=status[:code]`).
 * Prints one JSON line `{"url": "http://127.0.0.1:4010"}` on stdout once listening; exits 0 on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
import { TwilioEmulator, type EmulatedStatus, type FailSpec } from './twilio.js';

const DEFAULT_ACCOUNT_SID = `AC${'0'.repeat(32)}`;
const DEFAULT_AUTH_TOKEN = 'emulator-auth-token';

function parseFail(entries: string[]): Record<string, FailSpec> {
  const out: Record<string, FailSpec> = {};
  for (const entry of entries) {
    const m = /^\s*(\+\d+)\s*=\s*(undelivered|failed)(?::(\d+))?\s*$/.exec(entry);
    if (!m) throw new Error(`bad --fail entry "${entry}" (expected +E164=undelivered|failed[:code])`);
    const [, number, status, code] = m;
    const s = status as 'undelivered' | 'failed';
    out[number] = code ? { status: s, errorCode: Number(code) } : s;
  }
  return out;
}

const STATUSES: readonly EmulatedStatus[] = ['queued', 'sent', 'delivered', 'undelivered', 'failed'];

function parseStatuses(value: string | undefined): EmulatedStatus[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const list = value.split(',').map((s) => s.trim());
  for (const s of list) {
    if (!(STATUSES as readonly string[]).includes(s)) throw new Error(`unknown callback status "${s}"`);
  }
  return list as EmulatedStatus[];
}

function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a non-negative integer, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'account-sid': { type: 'string' },
      'auth-token': { type: 'string' },
      'callback-delay-ms': { type: 'string' },
      'callback-concurrency': { type: 'string' },
      'callback-retries': { type: 'string' },
      'callback-statuses': { type: 'string' },
      fail: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const failEntries = [
    ...(env.TWILIO_EMULATOR_FAIL ?? '').split(',').filter((s) => s.trim() !== ''),
    ...(values.fail ?? []),
  ];
  const emulator = new TwilioEmulator({
    accountSid: values['account-sid'] ?? env.TWILIO_ACCOUNT_SID ?? DEFAULT_ACCOUNT_SID,
    authToken: values['auth-token'] ?? env.TWILIO_AUTH_TOKEN ?? DEFAULT_AUTH_TOKEN,
    failNumbers: parseFail(failEntries),
    callbackDelayMs: int(
      values['callback-delay-ms'] ?? env.TWILIO_EMULATOR_CALLBACK_DELAY_MS,
      'callback-delay-ms',
    ),
    callbackConcurrency: int(
      values['callback-concurrency'] ?? env.TWILIO_EMULATOR_CALLBACK_CONCURRENCY,
      'callback-concurrency',
    ),
    callbackStatuses: parseStatuses(values['callback-statuses'] ?? env.TWILIO_EMULATOR_CALLBACK_STATUSES),
    callbackRetries: int(
      values['callback-retries'] ?? env.TWILIO_EMULATOR_CALLBACK_RETRIES,
      'callback-retries',
    ),
  });
  const port = int(values.port ?? env.TWILIO_EMULATOR_PORT ?? env.PORT, 'port') ?? 0;
  const host = values.host ?? env.TWILIO_EMULATOR_HOST ?? '127.0.0.1';
  const url = await emulator.start(port, host);
  process.stdout.write(`${JSON.stringify({ url })}\n`);

  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    emulator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((e: unknown) => {
  process.stderr.write(`twilio emulator: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
