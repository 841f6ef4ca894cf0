import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EvidenceService, type NewEvidence } from '#libs/evidence';
import { type InProcessApp, startInProcess } from './support/app.js';
import { OUTPUT, ROOT } from './support/infra.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const run = promisify(execFile);

/**
 * Acceptance (5): the bundle of a case with 10,000 events streams from the database to the HTTP
 * response without holding the zip (or events.jsonl) in memory. The api runs in this process, so
 * the live heap measured here is the server's. Results: docs/performance.md, "Evidence bundle".
 */
const EVENTS = Number(process.env.E2E_BUNDLE_EVENTS ?? 10_000);
const CASE_ID = 'C-big-0001';

describe(`evidence bundle of a ${EVENTS}-event case`, () => {
  let api: InProcessApp;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legal-big-'));
    api = await startInProcess({ dialect: 'sqlite', env: { CHECKPOINT_INTERVAL_MS: '0' } });
    const evidence = api.app.get(EvidenceService);
    const filler = 'provider raw response '.repeat(100); // ~2.2 KB per event, like real provider payloads
    let made = 0;
    while (made < EVENTS) {
      const batch: NewEvidence[] = [];
      const artifacts: { sha: string; content: Buffer }[] = [];
      for (let i = 0; i < 500 && made < EVENTS; i++, made++) {
        const nid = made % 100 === 0 ? randomUUID() : null;
        if (nid) {
          const content = Buffer.from(`【示例银行】第 ${made} 条短信正文：请尽快还款。`, 'utf8');
          const sha = createHash('sha256').update(content).digest('hex');
          artifacts.push({ sha, content });
          batch.push({
            notificationId: nid,
            type: 'message.rendered',
            payload: { sha256: sha, mediaType: 'text/plain; charset=utf-8', size: content.length },
          });
        } else {
          batch.push({ notificationId: null, type: 'provider.response', payload: { n: made, raw: filler } });
        }
      }
      await api.db.transaction(async (tx) => {
        for (const a of artifacts) {
          await tx.exec(
            'INSERT INTO artifacts (sha256, media_type, size, content, created_at) VALUES (?, ?, ?, ?, ?)',
            [a.sha, 'text/plain; charset=utf-8', a.content.length, a.content, Date.now()],
          );
        }
        await evidence.append(tx, CASE_ID, batch);
      });
    }
  }, 120_000);

  afterAll(async () => {
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('streams with a live heap far below the bundle size, and the bundle verifies', async () => {
    const zipPath = join(dir, 'big.zip');
    gc();
    const baseline = process.memoryUsage().heapUsed;
    const rssBefore = process.memoryUsage().rss;
    let livePeak = baseline;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      gc();
      livePeak = Math.max(livePeak, process.memoryUsage().heapUsed);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 25);
    const t0 = performance.now();
    const res = await fetch(`${api.baseUrl}/v1/cases/${CASE_ID}/evidence.zip`);
    expect(res.status).toBe(200);
    const ttfb = performance.now() - t0;
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
      createWriteStream(zipPath),
    );
    const ms = performance.now() - t0;
    clearInterval(sampler);
    const size = (await stat(zipPath)).size;

    const { stdout } = await run(
      process.execPath,
      [join(ROOT, 'dist', 'scripts', 'evidence-verify.js'), zipPath, '--json'],
      {
        maxBuffer: 64 * 2 ** 20,
      },
    );
    const v = JSON.parse(stdout) as { ok: boolean; events: number };
    expect(v).toMatchObject({ ok: true, events: EVENTS });
    const { stdout: listing } = await run('unzip', ['-l', zipPath], { maxBuffer: 16 * 2 ** 20 });
    const eventsLine = listing.split('\n').find((l) => l.trim().endsWith(' events.jsonl')) ?? '';
    const eventsBytes = Number(eventsLine.trim().split(/\s+/)[0]);
    expect(listing).toMatch(/artifacts\/[0-9a-f-]{36}\.txt/);

    const liveGrowth = livePeak - baseline;
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    const result = {
      events: EVENTS,
      eventsJsonlMiB: Number(mib(eventsBytes)),
      zipMiB: Number(mib(size)),
      timeToFirstByteMs: Math.round(ttfb),
      totalMs: Math.round(ms),
      liveHeapGrowthMiB: Number(mib(liveGrowth)),
      rssGrowthMiB: Number(mib(rssPeak - rssBefore)),
      database: 'sqlite',
      measuredAt: new Date().toISOString(),
    };
    await mkdir(OUTPUT, { recursive: true });
    await writeFile(join(OUTPUT, 'evidence-bundle-perf.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`evidence bundle: ${JSON.stringify(result)}\n`);

    expect(eventsBytes).toBeGreaterThan(20 * 2 ** 20);
    // Holding events.jsonl or the zip would retain at least its size; streaming keeps a page or two.
    expect(liveGrowth).toBeLessThan(size / 2);
    expect(liveGrowth).toBeLessThan(eventsBytes / 4);
  }, 120_000);
});
