import { Queue, Worker } from 'bullmq';
import type { EnqueueOptions, JobHandler, JobName, QueueStats } from './queue.port.js';
import { JobQueue } from './queue.port.js';

interface JobData {
  id: string;
}

/** Queue mode: BullMQ on Redis. Redis is not the system of record; the database is. */
export class BullMqQueue extends JobQueue {
  readonly kind = 'bullmq' as const;
  private readonly queues = new Map<JobName, Queue<JobData>>();
  private readonly workers: Worker<JobData>[] = [];

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly onError: (name: JobName, id: string, err: unknown) => void = () => undefined,
  ) {
    super();
  }

  private queue(name: JobName): Queue<JobData> {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue<JobData>(name, {
        connection: { url: this.redisUrl, maxRetriesPerRequest: null },
        prefix: this.prefix,
        defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
      });
      this.queues.set(name, q);
    }
    return q;
  }

  private static jobId(id: string, opts?: EnqueueOptions): string {
    return (opts?.dedupeKey ?? id).replace(/:/g, '_');
  }

  async enqueue(name: JobName, id: string, opts?: EnqueueOptions): Promise<void> {
    await this.queue(name).add(
      name,
      { id },
      { jobId: BullMqQueue.jobId(id, opts), delay: opts?.delayMs ?? 0 },
    );
  }

  async enqueueMany(name: JobName, items: { id: string; opts?: EnqueueOptions }[]): Promise<void> {
    if (items.length === 0) return;
    await this.queue(name).addBulk(
      items.map((it) => ({
        name,
        data: { id: it.id },
        opts: { jobId: BullMqQueue.jobId(it.id, it.opts), delay: it.opts?.delayMs ?? 0 },
      })),
    );
  }

  async consume(name: JobName, handler: JobHandler, concurrency: number): Promise<void> {
    const worker = new Worker<JobData>(
      name,
      async (job) => {
        try {
          await handler(job.data.id);
        } catch (err) {
          this.onError(name, job.data.id, err);
          throw err;
        }
      },
      {
        connection: { url: this.redisUrl, maxRetriesPerRequest: null },
        prefix: this.prefix,
        concurrency,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 0 },
      },
    );
    worker.on('error', (err) => this.onError(name, '-', err));
    await worker.waitUntilReady();
    this.workers.push(worker);
  }

  async stats(name: JobName): Promise<QueueStats> {
    const c = await this.queue(name).getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      delayed: c.delayed ?? 0,
      active: c.active ?? 0,
    };
  }

  async close(): Promise<void> {
    // Workers first: close() waits for the active jobs to finish.
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
