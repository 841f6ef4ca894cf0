import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { writeEvidenceBundle } from './bundle.js';
import { verifyEvidenceBundle } from './bundle-verify.js';
import { eventHash, type ChainedEvent, GENESIS_HASH } from './chain.js';
import { generateSigningKeyPair, loadSigningKey } from './signing.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CASE = 'C-stream';
const EVENTS = 10_000;

/** Chains events one at a time, as a database cursor would hand them over. */
async function* eventSource(n: number, onEach: (i: number) => void): AsyncGenerator<ChainedEvent> {
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const body = {
      seq,
      caseId: CASE,
      notificationId: `N-${seq >> 2}`,
      type: 'provider.response',
      occurredAt: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
      recordedAt: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
      // ~2 KB of random hex per event, so the zip cannot shrink it to nothing.
      payload: { raw: randomBytes(1024).toString('hex'), status: 'delivered' },
    };
    const hash = eventHash(prev, body);
    yield { ...body, prevHash: prev, hash };
    prev = hash;
    onEach(seq);
    if (seq % 500 === 0) await new Promise((r) => setImmediate(r));
  }
}

describe('evidence bundle streaming', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bundle-stream-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`writes ${EVENTS} events from an async generator with heap far below the bundle size`, async () => {
    const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    const out = join(dir, 'big.zip');
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    let livePeak = baseline;
    const sample = (): void => {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    };
    // Live heap: collect garbage mid-stream (every 1,000 events) and read what is still retained.
    const sampleLive = (): void => {
      gc();
      livePeak = Math.max(livePeak, process.memoryUsage().heapUsed);
    };
    const timer = setInterval(sample, 5);
    const started = process.hrtime.bigint();
    const result = await writeEvidenceBundle(createWriteStream(out), {
      caseId: CASE,
      events: eventSource(EVENTS, (i) => {
        if (i % 50 === 0) sample();
        if (i % 1000 === 0) sampleLive();
      }),
      signingKey: key,
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    clearInterval(timer);
    sample();

    const size = (await stat(out)).size;
    const peakGrowth = peak - baseline;
    const liveGrowth = livePeak - baseline;
    const eventsBytes = result.manifest.files.find((f) => f.name === 'events.jsonl')!.size;
    console.log(
      `bundle: ${EVENTS} events, events.jsonl ${(eventsBytes / 2 ** 20).toFixed(1)} MiB, zip ${(size / 2 ** 20).toFixed(1)} MiB, ` +
        `written in ${ms.toFixed(0)} ms; heap baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, ` +
        `peak growth ${(peakGrowth / 2 ** 20).toFixed(1)} MiB (garbage included), ` +
        `live growth after GC ${(liveGrowth / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(result.head.seq).toBe(EVENTS);
    expect(result.bytes).toBe(size);
    expect(size).toBeGreaterThan(10 * 2 ** 20);
    // Buffering the events file or the zip would retain at least its size (11+ MiB) in heap; streaming
    // retains a few chunks. Even counting uncollected garbage the peak stays below the zip's size.
    // (size / 3 leaves room for write buffers in flight on a loaded machine.)
    expect(liveGrowth).toBeLessThan(size / 3);
    expect(peakGrowth).toBeLessThan(eventsBytes);

    const vStart = process.hrtime.bigint();
    const v = await verifyEvidenceBundle(out);
    console.log(`verify: ${(Number(process.hrtime.bigint() - vStart) / 1e6).toFixed(0)} ms`);
    expect(v.firstError).toBeUndefined();
    expect(v.events).toBe(EVENTS);
  }, 120_000);

  it('rejects, without hanging, when the output fails half way', async () => {
    const key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    let written = 0;
    const failing = new Writable({
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        cb(written > 256 * 1024 ? new Error('disk full') : null);
      },
    });
    failing.on('error', () => undefined);
    let pulled = 0;
    await expect(
      writeEvidenceBundle(failing, {
        caseId: CASE,
        events: eventSource(EVENTS, (i) => {
          pulled = i;
        }),
        signingKey: key,
      }),
    ).rejects.toThrow(/disk full/);
    // Back-pressure: the source stopped soon after the output failed.
    expect(pulled).toBeLessThan(EVENTS);
  }, 60_000);
});
