/**
 * The job port. Jobs carry ids only: the state lives in the database, so a lost job is
 * re-created by the sweeper and a duplicated job is harmless (processors claim rows atomically).
 */
export const JOB_NAMES = ['dispatch'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface EnqueueOptions {
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number;
  /** Deduplication key among jobs still waiting (defaults to the id). */
  dedupeKey?: string;
}

export type JobHandler = (id: string) => Promise<void>;

export interface QueueStats {
  waiting: number;
  delayed: number;
  active: number;
}

export abstract class JobQueue {
  abstract readonly kind: 'bullmq' | 'in-process';
  abstract enqueue(name: JobName, id: string, opts?: EnqueueOptions): Promise<void>;
  abstract enqueueMany(name: JobName, items: { id: string; opts?: EnqueueOptions }[]): Promise<void>;
  /** Starts consuming `name` with the given concurrency. */
  abstract consume(name: JobName, handler: JobHandler, concurrency: number): Promise<void>;
  abstract stats(name: JobName): Promise<QueueStats>;
  /** Stops taking new jobs and waits for the running ones (graceful shutdown). */
  abstract close(): Promise<void>;
}
