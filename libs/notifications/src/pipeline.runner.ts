import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ChannelRegistry } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { JobQueue, type PeriodicTaskHandle, PeriodicTasks } from '#libs/queue';
import { DispatchProcessor } from './dispatch.processor.js';
import { ReceiptsService } from './receipts.service.js';
import { Sweeper } from './sweeper.js';

/**
 * Starts the processors in this process: always in standalone mode, in queue mode in
 * `apps/worker` (and in the api only when API_RUN_WORKERS=true). The sweep and the pruning of
 * receipt dedup keys are periodic tasks: once per cluster in queue mode, timers in standalone.
 */
@Injectable()
export class PipelineRunner implements OnApplicationShutdown {
  private readonly log = new Logger(PipelineRunner.name);
  private tasks: PeriodicTaskHandle[] = [];
  private started = false;

  constructor(
    private readonly queue: JobQueue,
    private readonly dispatch: DispatchProcessor,
    private readonly receipts: ReceiptsService,
    private readonly sweeper: Sweeper,
    private readonly channels: ChannelRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly periodic: PeriodicTasks,
  ) {}

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.channels.setReceiptSink(async (r) => {
      await this.receipts.ingest(r, { verified: true, via: 'sandbox' });
    });
    await this.queue.consume('dispatch', (id) => this.dispatch.handle(id), this.config.queue.concurrency);
    if (this.config.mode === 'standalone') {
      // This process owned every unfinished row, so resume them all now.
      await this.sweeper.sweep(true);
      await this.pruneDedupKeys();
    }
    const p = this.config.pipeline;
    this.tasks.push(
      await this.periodic.register({
        name: 'pipeline-sweep',
        everyMs: p.sweepIntervalMs,
        run: () => this.sweeper.sweep(),
      }),
      await this.periodic.register({
        name: 'receipt-dedup-prune',
        everyMs: p.receiptDedupPruneIntervalMs,
        run: () => this.pruneDedupKeys(),
      }),
    );
    this.log.log(`processors running (${this.queue.kind}, concurrency ${this.config.queue.concurrency})`);
  }

  private async pruneDedupKeys(): Promise<void> {
    const released = await this.receipts.pruneDedupKeys();
    if (released > 0) this.log.log(`receipt dedup keys released: ${released}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.tasks.splice(0).map((t) => t.stop()));
    await this.queue.close();
    this.channels.stop();
  }
}
