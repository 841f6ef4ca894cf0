import { Global, Logger, Module } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { BullMqQueue } from './bullmq.queue.js';
import { InProcessQueue } from './in-process.queue.js';
import {
  BullMqPeriodicTasks,
  InProcessPeriodicTasks,
  type PeriodicHooks,
  PeriodicTasks,
} from './periodic-tasks.js';
import { JobQueue, type JobName } from './queue.port.js';

/** The string token under which the api and the worker provide their metrics (optional here). */
const METRICS = 'cns:metrics';

/** Counts periodic runs in the process's Prometheus registry when the process has one. */
function periodicHooks(metrics: unknown): PeriodicHooks {
  const log = new Logger('PeriodicTasks');
  const registry =
    metrics && typeof metrics === 'object' && 'registry' in metrics && metrics.registry instanceof Registry
      ? metrics.registry
      : undefined;
  const runs = registry
    ? new Counter({
        name: 'cns_periodic_task_runs_total',
        help: 'Periodic task ticks taken by this process, by task and outcome (ok, error, skipped)',
        labelNames: ['task', 'outcome'],
        registers: [registry],
      })
    : undefined;
  return {
    onError: (task, err) =>
      log.error(`periodic task ${task} failed: ${err instanceof Error ? err.message : String(err)}`),
    onRun: (task, outcome) => runs?.inc({ task, outcome }),
  };
}

@Global()
@Module({
  providers: [
    {
      provide: JobQueue,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): JobQueue => {
        const log = new Logger('JobQueue');
        const onError = (name: JobName, id: string, err: unknown) =>
          log.error(`job ${name} ${id} failed: ${err instanceof Error ? err.message : String(err)}`);
        return config.queue.redisUrl
          ? new BullMqQueue(config.queue.redisUrl, config.queue.prefix, onError)
          : new InProcessQueue(onError);
      },
    },
    {
      provide: PeriodicTasks,
      inject: [APP_CONFIG, { token: METRICS, optional: true }],
      useFactory: (config: AppConfig, metrics?: unknown): PeriodicTasks => {
        const hooks = periodicHooks(metrics);
        return config.queue.redisUrl
          ? new BullMqPeriodicTasks(
              config.queue.redisUrl,
              config.queue.prefix,
              config.queue.schedulerQueue,
              hooks,
            )
          : new InProcessPeriodicTasks(hooks);
      },
    },
  ],
  exports: [JobQueue, PeriodicTasks],
})
export class QueueModule {}
