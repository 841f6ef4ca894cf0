import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ChannelRegistry } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { JobQueue } from '#libs/queue';
import { DispatchProcessor } from './dispatch.processor.js';
import { ReceiptsService } from './receipts.service.js';
import { Sweeper } from './sweeper.js';

/**
 * Starts the processors in this process: always in standalone mode, in queue mode in
 * `apps/worker` (and in the api only when API_RUN_WORKERS=true).
 */
@Injectable()
export class PipelineRunner implements OnApplicationShutdown {
  private readonly log = new Logger(PipelineRunner.name);
  private timer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(
    private readonly queue: JobQueue,
    private readonly dispatch: DispatchProcessor,
    private readonly receipts: ReceiptsService,
    private readonly sweeper: Sweeper,
    private readonly channels: ChannelRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.channels.setReceiptSink(async (r) => {
      await this.receipts.ingest(r, { verified: true, via: 'sandbox' });
    });
    await this.queue.consume('dispatch', (id) => this.dispatch.handle(id), this.config.queue.concurrency);
    // Standalone: this process owned every unfinished row, so resume them all now.
    await this.sweeper.sweep(this.config.mode === 'standalone');
    this.timer = setInterval(() => {
      void this.sweeper.sweep().catch((err: unknown) => this.log.error(`sweep failed: ${String(err)}`));
    }, this.config.pipeline.sweepIntervalMs);
    this.timer.unref();
    this.log.log(`processors running (${this.queue.kind}, concurrency ${this.config.queue.concurrency})`);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.queue.close();
    this.channels.stop();
  }
}
