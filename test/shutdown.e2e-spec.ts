import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from '@jest/globals';
import { AUTH_HEADER, phoneFor, smsBody, type Stack, startStack, statusCounts } from './support/fixtures.js';
import { pool, type ServiceProcess, spawnApp, waitFor, waitHttpOk } from './support/infra.js';

/**
 * Acceptance (4): SIGTERM to the api and a worker under load. Both exit 0 within the shutdown
 * timeout; the clients retry with their idempotency keys against a restarted api; in the end
 * every notice is delivered exactly once at the (Twilio emulator) provider.
 */

const N = Number(process.env.E2E_SHUTDOWN_COUNT ?? 150);
const TIMEOUT_MS = 15_000;

async function postUntilAccepted(
  stack: Stack,
  body: unknown,
  key: string,
  ids: Map<string, string>,
): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      const res = await fetch(`${stack.baseUrl}/v1/notifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key, ...AUTH_HEADER },
        body: JSON.stringify(body),
      });
      if (res.status === 202) {
        ids.set(key, ((await res.json()) as { id: string }).id);
        return;
      }
      await res.body?.cancel();
    } catch {
      /* the api is down or going down: try again with the same key */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${key} was never accepted`);
}

describe.each(['queue', 'standalone'] as const)('graceful shutdown under load (%s mode)', (mode) => {
  let stack: Stack | undefined;
  let restarted: ServiceProcess | undefined;

  afterEach(async () => {
    await restarted?.kill('SIGTERM');
    await stack?.stop();
  }, 60_000);

  it('SIGTERM: exit 0 quickly, nothing lost, nothing sent twice', async () => {
    stack = await startStack({
      mode,
      workers: 2,
      emulator: { createResponseDelayMs: 150 },
      env: { SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS) },
    });
    const s = stack;
    const ids = new Map<string, string>();
    // Warm-up: the consumers are up and sending before the load starts.
    await postUntilAccepted(
      s,
      smsBody(`C-stop-${mode}-warm`, phoneFor(299_999)),
      `stop-${mode}-warm`,
      new Map(),
    );
    await waitFor('consumers ready', async () => s.emulator.createCount === 1, 30_000, 20);
    const items = Array.from({ length: N }, (_, i) => i);
    const posting = pool(items, 4, (i) =>
      postUntilAccepted(s, smsBody(`C-stop-${mode}-${i}`, phoneFor(300_000 + i)), `stop-${mode}-${i}`, ids),
    );

    await waitFor('load', async () => ids.size >= N / 3 && s.emulator.createCount > 1, 60_000, 5);
    // Under load: requests still arriving and sends still going out.
    const acceptedAtStop = ids.size;
    const sentAtStop = s.emulator.createCount;
    expect(acceptedAtStop).toBeLessThan(N);
    expect(sentAtStop).toBeLessThan(N);
    const started = Date.now();
    const victims = [s.api, ...(mode === 'queue' ? [s.workers[0]] : [])];
    const codes = await Promise.all(victims.map((p) => p.kill('SIGTERM')));
    const tookMs = Date.now() - started;
    expect(codes).toEqual(victims.map(() => 0));
    expect(tookMs).toBeLessThan(TIMEOUT_MS);

    restarted = spawnApp('api', `${victims[0].name}-restarted`, s.env);
    await waitHttpOk(`${s.baseUrl}/health/live`);
    await posting;
    expect(ids.size).toBe(N);
    expect(new Set(ids.values()).size).toBe(N);

    const counts = await waitFor(
      'all delivered',
      async () => {
        const c = await statusCounts(s);
        return (c.delivered ?? 0) === N + 1 ? c : undefined;
      },
      120_000,
      250,
    );
    expect(counts).toEqual({ delivered: N + 1 });
    expect(s.emulator.createCount).toBe(N + 1);
    for (let i = 0; i < N; i++) expect(s.emulator.createsByTo(phoneFor(300_000 + i))).toBe(1);
    expect(await restarted.kill('SIGTERM')).toBe(0);
    // Requests in flight at the signal were answered, not failed: the render pool and the rate
    // limiter stay up until the HTTP server has drained.
    const answered500 = readFileSync(victims[0].logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"statusCode":500'));
    expect(answered500).toEqual([]);
    console.log(
      `${mode}: SIGTERM exit 0 in ${tookMs} ms (${acceptedAtStop}/${N} accepted, ${sentAtStop} sent at the signal); all ${N} delivered once`,
    );
  }, 240_000);
});
