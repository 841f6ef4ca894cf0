import type { OnApplicationShutdown } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';

/**
 * Periodic work (checkpoints, sweeps, pruning). In queue mode each task is a BullMQ job
 * scheduler: the cluster makes one job per tick and exactly one process runs it, so several
 * processes that register the same task never run it twice for one tick (e.g. never sign
 * competing checkpoints). In standalone mode it is a timer of this process.
 */
export interface PeriodicTask {
  /** Unique in the cluster: letters, digits and `-`. */
  name: string;
  everyMs: number;
  run(): Promise<unknown>;
}

export interface PeriodicTaskHandle {
  /** Stops this process's part of the task and waits for its run in progress. */
  stop(): Promise<void>;
}

export type PeriodicOutcome = 'ok' | 'error' | 'skipped';

export interface PeriodicHooks {
  /** A run threw (it is logged here; the schedule goes on). */
  onError?(task: string, err: unknown): void;
  /** Every tick this process took, with its outcome (metrics). */
  onRun?(task: string, outcome: PeriodicOutcome, ms: number): void;
}

const TASK_NAME = /^[A-Za-z0-9-]{1,64}$/;

export abstract class PeriodicTasks implements OnApplicationShutdown {
  abstract readonly kind: 'bullmq' | 'in-process';
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly handles = new Map<string, PeriodicTaskHandle>();

  constructor(protected readonly hooks: PeriodicHooks = {}) {}

  /** Starts taking the task's ticks in this process. A name is registered once per process. */
  async register(task: PeriodicTask): Promise<PeriodicTaskHandle> {
    if (!TASK_NAME.test(task.name)) throw new Error(`periodic task name "${task.name}" is not [A-Za-z0-9-]`);
    if (!Number.isInteger(task.everyMs) || task.everyMs <= 0)
      throw new Error(`periodic task ${task.name}: everyMs must be a positive integer`);
    if (this.handles.has(task.name)) throw new Error(`periodic task ${task.name} is already registered`);
    const stop = await this.start(task);
    const handle: PeriodicTaskHandle = {
      stop: async () => {
        if (this.handles.get(task.name) !== handle) return;
        this.handles.delete(task.name);
        await stop();
        await this.inflight.get(task.name);
      },
    };
    this.handles.set(task.name, handle);
    return handle;
  }

  /** Stops every task of this process (shutdown); waits for the runs in progress. */
  async close(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => h.stop()));
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  /** Names of the tasks registered in this process. */
  registered(): string[] {
    return [...this.handles.keys()];
  }

  /** Schedules the task; returns what stops this process from taking its ticks. */
  protected abstract start(task: PeriodicTask): Promise<() => Promise<void>>;

  /**
   * One tick: skipped while this process still runs the previous one; errors are reported,
   * never thrown (a failing run does not stop the schedule).
   */
  protected tick(task: PeriodicTask): Promise<PeriodicOutcome> {
    if (this.inflight.has(task.name)) {
      this.hooks.onRun?.(task.name, 'skipped', 0);
      return Promise.resolve('skipped');
    }
    const t0 = Date.now();
    let outcome: PeriodicOutcome = 'ok';
    const run = (async () => {
      try {
        await task.run();
      } catch (err) {
        outcome = 'error';
        this.hooks.onError?.(task.name, err);
      }
    })();
    const done = run.finally(() => {
      this.inflight.delete(task.name);
      this.hooks.onRun?.(task.name, outcome, Date.now() - t0);
    });
    this.inflight.set(task.name, done);
    return done.then(() => outcome);
  }
}

/** Standalone mode: a timer per task in this process (the only process). */
export class InProcessPeriodicTasks extends PeriodicTasks {
  readonly kind = 'in-process' as const;

  protected async start(task: PeriodicTask): Promise<() => Promise<void>> {
    const timer = setInterval(() => void this.tick(task), task.everyMs);
    timer.unref();
    return async () => clearInterval(timer);
  }
}

/**
 * How long a taken tick stays locked to its process without a lock renewal (BullMQ renews it
 * every half of this while the run goes on). A process killed mid-run holds the task until the
 * lock ends and the stalled check (every STALLED_CHECK_MS, in any process) gives the tick back.
 */
const LOCK_MS = 15_000;
const STALLED_CHECK_MS = 5_000;
/** Longest time a lost job scheduler (Redis restarted without its data) stays lost. */
const SCHEDULE_GUARD_MS = 10_000;

/**
 * Queue mode: one queue per task (`<base>-<task>`, under the run's Redis prefix) holding one job
 * scheduler. The scheduler makes the next job when the current one starts, so a run longer than
 * the interval would let a second process take the next tick: the queue's global concurrency of 1
 * keeps it waiting until the run ends. A process that registered a task but did not take a tick
 * does nothing for it.
 */
export class BullMqPeriodicTasks extends PeriodicTasks {
  readonly kind = 'bullmq' as const;

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly queueBase: string,
    hooks: PeriodicHooks = {},
  ) {
    super(hooks);
  }

  /** The BullMQ queue of a task (tests and operators inspect it). */
  queueName(task: string): string {
    return `${this.queueBase}-${task}`;
  }

  protected async start(task: PeriodicTask): Promise<() => Promise<void>> {
    const name = this.queueName(task.name);
    // Named so that `CLIENT LIST` shows whose connections these are.
    const connection = {
      url: this.redisUrl,
      maxRetriesPerRequest: null,
      connectionName: `${this.prefix}:${name}`,
    };
    const queue = new Queue(name, { connection, prefix: this.prefix });
    const schedule = async () => {
      await queue.setGlobalConcurrency(1);
      // Upserting the same id and interval from every process keeps one schedule (the next
      // job's id is `repeat:<task>:<slot>`, unique per tick); a new interval replaces it.
      await queue.upsertJobScheduler(
        task.name,
        { every: task.everyMs },
        { name: task.name, data: {}, opts: { attempts: 1, removeOnComplete: true, removeOnFail: true } },
      );
    };
    try {
      await schedule();
    } catch (err) {
      await queue.close();
      throw err;
    }
    // The schedule lives in Redis: a Redis that restarts without its data (or is flushed) loses
    // it, and nothing would sweep, checkpoint or prune again. Every process checks that it is
    // there and puts it back (an upsert of the same id: still one schedule).
    const guard = setInterval(
      () => {
        void (async () => {
          if (!(await queue.getJobScheduler(task.name))) {
            await schedule();
            this.hooks.onError?.(task.name, new Error('job scheduler was missing in Redis: recreated'));
          }
        })().catch((err: unknown) => this.hooks.onError?.(task.name, err));
      },
      Math.max(1_000, Math.min(task.everyMs, SCHEDULE_GUARD_MS)),
    );
    guard.unref();
    const worker = new Worker(
      name,
      async () => {
        await this.tick(task);
      },
      {
        connection,
        prefix: this.prefix,
        concurrency: 1,
        lockDuration: LOCK_MS,
        stalledInterval: STALLED_CHECK_MS,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 0 },
      },
    );
    worker.on('error', (err) => this.hooks.onError?.(task.name, err));
    try {
      await worker.waitUntilReady();
    } catch (err) {
      clearInterval(guard);
      await worker.close();
      await queue.close();
      throw err;
    }
    return async () => {
      clearInterval(guard);
      // The worker first: close() waits for the run in progress.
      await worker.close();
      await queue.close();
    };
  }
}
