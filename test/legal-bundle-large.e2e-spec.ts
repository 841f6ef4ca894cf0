import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EvidenceService, generateSigningKeyPair, type NewEvidence } from '#libs/evidence';
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
const KEY_PEM = generateSigningKeyPair().privateKeyPem;

describe.each(['sqlite', 'postgres'] as const)(
  `evidence bundle of a ${EVENTS}-event case (%s)`,
  (dialect) => {
    let api: InProcessApp;
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'legal-big-'));
      api = await startInProcess({
        dialect,
        env: {
          CHECKPOINT_INTERVAL_MS: '0',
          ...(dialect === 'postgres' ? { EVIDENCE_SIGNING_KEY: KEY_PEM } : {}),
        },
      });
      const evidence = api.app.get(EvidenceService);
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
            batch.push({
              notificationId: null,
              type: 'provider.response',
              payload: { n: made, raw: randomBytes(1100).toString('hex') },
            });
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

    async function download(zipPath: string): Promise<{ ttfb: number; ms: number }> {
      const t0 = performance.now();
      const res = await fetch(`${api.baseUrl}/v1/cases/${CASE_ID}/evidence.zip`);
      expect(res.status).toBe(200);
      const ttfb = performance.now() - t0;
      await pipeline(
        Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
        createWriteStream(zipPath),
      );
      return { ttfb, ms: performance.now() - t0 };
    }

    it('streams with a live heap far below the bundle size, and the bundle verifies', async () => {
      const zipPath = join(dir, 'big.zip');
      // Run 1: time and resident memory, undisturbed.
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const rssSampler = setInterval(() => {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      }, 10);
      const timed = await download(zipPath);
      clearInterval(rssSampler);
      const size = (await stat(zipPath)).size;

      // Run 2: live heap (garbage collected every second while the bundle streams; slower).
      gc();
      const baseline = process.memoryUsage().heapUsed;
      let livePeak = baseline;
      const sampler = setInterval(() => {
        gc();
        livePeak = Math.max(livePeak, process.memoryUsage().heapUsed);
      }, 1000);
      await download(join(dir, 'big2.zip'));
      clearInterval(sampler);
      const liveGrowth = livePeak - baseline;

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

      const mib = (n: number) => (n / 2 ** 20).toFixed(1);
      const result = {
        events: EVENTS,
        eventsJsonlMiB: Number(mib(eventsBytes)),
        zipMiB: Number(mib(size)),
        timeToFirstByteMs: Math.round(timed.ttfb),
        totalMs: Math.round(timed.ms),
        liveHeapGrowthMiB: Number(mib(liveGrowth)),
        rssGrowthMiB: Number(mib(rssPeak - rssBefore)),
        database: dialect,
        measuredAt: new Date().toISOString(),
      };
      await mkdir(OUTPUT, { recursive: true });
      await writeFile(
        join(OUTPUT, `evidence-bundle-perf-${dialect}.json`),
        `${JSON.stringify(result, null, 2)}\n`,
      );
      process.stdout.write(`evidence bundle: ${JSON.stringify(result)}\n`);

      expect(eventsBytes).toBeGreaterThan(20 * 2 ** 20);
      // Holding events.jsonl or the zip would retain at least its size; streaming keeps a page or two.
      expect(liveGrowth).toBeLessThan(size / 2);
      expect(liveGrowth).toBeLessThan(eventsBytes / 4);
    }, 240_000);
  },
);
