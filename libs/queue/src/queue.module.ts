import { Global, Logger, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { BullMqQueue } from './bullmq.queue.js';
import { InProcessQueue } from './in-process.queue.js';
import { JobQueue, type JobName } from './queue.port.js';

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
  ],
  exports: [JobQueue],
})
export class QueueModule {}
