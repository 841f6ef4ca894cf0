/**
 * Raw BullMQ consumer for B2: no-op jobs carrying an id, with the options the service's BullMQ
 * adapter uses (libs/queue/src/bullmq.queue.ts). Prints `ready` once connected; exits on SIGTERM.
 *
 *   node dist/bench/pipeline/noop-worker.js <redisUrl> <prefix> <concurrency>
 */
import { Worker } from 'bullmq';

const [redisUrl, prefix, concurrency] = process.argv.slice(2);
if (!redisUrl || !prefix) throw new Error('usage: noop-worker <redisUrl> <prefix> <concurrency>');
let done = 0;
const worker = new Worker<{ id: string }>(
  'dispatch',
  async (job) => {
    if (typeof job.data.id !== 'string') throw new Error('job without id');
    done++;
  },
  {
    connection: { url: redisUrl, maxRetriesPerRequest: null },
    prefix,
    concurrency: Number(concurrency ?? 16),
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 0 },
  },
);
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void worker.close().then(() => {
    process.stdout.write(`done ${done}\n`);
    process.exit(0);
  });
});
