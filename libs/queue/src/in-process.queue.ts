import type { EnqueueOptions, JobHandler, JobName, QueueStats } from './queue.port.js';
import { JobQueue } from './queue.port.js';

interface Lane {
  ready: string[];
  keys: Set<string>;
  timers: Map<string, NodeJS.Timeout>;
  handler?: JobHandler;
  concurrency: number;
  active: number;
  idle: (() => void)[];
}

/**
 * Standalone mode: jobs run in this process with the same processors as queue mode.
 * Durability comes from the database (unfinished rows are picked up again at start).
 */
export class InProcessQueue extends JobQueue {
  readonly kind = 'in-process' as const;
  private readonly lanes = new Map<JobName, Lane>();
  private closed = false;

  constructor(private readonly onError: (name: JobName, id: string, err: unknown) => void = () => undefined) {
    super();
  }

  private lane(name: JobName): Lane {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = { ready: [], keys: new Set(), timers: new Map(), concurrency: 1, active: 0, idle: [] };
      this.lanes.set(name, lane);
    }
    return lane;
  }

  async enqueue(name: JobName, id: string, opts: EnqueueOptions = {}): Promise<void> {
    if (this.closed) return;
    const lane = this.lane(name);
    const key = opts.dedupeKey ?? id;
    if (lane.keys.has(key)) return;
    lane.keys.add(key);
    const delay = opts.delayMs ?? 0;
    if (delay > 0) {
      const t = setTimeout(() => {
        lane.timers.delete(key);
        lane.ready.push(key + '\u0000' + id);
        this.pump(name);
      }, delay);
      t.unref();
      lane.timers.set(key, t);
      return;
    }
    lane.ready.push(key + '\u0000' + id);
    this.pump(name);
  }

  async enqueueMany(name: JobName, items: { id: string; opts?: EnqueueOptions }[]): Promise<void> {
    for (const it of items) await this.enqueue(name, it.id, it.opts);
  }

  async consume(name: JobName, handler: JobHandler, concurrency: number): Promise<void> {
    const lane = this.lane(name);
    lane.handler = handler;
    lane.concurrency = concurrency;
    this.pump(name);
  }

  private pump(name: JobName): void {
    const lane = this.lane(name);
    if (!lane.handler || this.closed) return;
    while (lane.active < lane.concurrency && lane.ready.length > 0) {
      const entry = lane.ready.shift() as string;
      const [key, id] = entry.split('\u0000') as [string, string];
      lane.keys.delete(key);
      lane.active += 1;
      const handler = lane.handler;
      void handler(id)
        .catch((err: unknown) => this.onError(name, id, err))
        .finally(() => {
          lane.active -= 1;
          if (lane.active === 0) for (const r of lane.idle.splice(0)) r();
          this.pump(name);
        });
    }
  }

  async stats(name: JobName): Promise<QueueStats> {
    const lane = this.lane(name);
    return { waiting: lane.ready.length, delayed: lane.timers.size, active: lane.active };
  }

  async close(): Promise<void> {
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const lane of this.lanes.values()) {
      for (const t of lane.timers.values()) clearTimeout(t);
      lane.timers.clear();
      lane.ready.length = 0;
      if (lane.active > 0) waits.push(new Promise((r) => lane.idle.push(r)));
    }
    await Promise.all(waits);
  }
}
