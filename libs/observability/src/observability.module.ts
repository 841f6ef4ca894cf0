import { Global, Module, type OnModuleInit } from '@nestjs/common';
import { ChannelRegistry } from '#libs/channels';
import { METRICS, MetricsService } from './metrics.service.js';
import { ShutdownState } from './shutdown-state.js';

/**
 * Metrics (also under the string token METRICS for libraries) and the shutdown state. Used by
 * the api and the worker; the provider instance is timed in place at start.
 */
@Global()
@Module({
  providers: [MetricsService, { provide: METRICS, useExisting: MetricsService }, ShutdownState],
  exports: [MetricsService, METRICS, ShutdownState],
})
export class ObservabilityModule implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly channels: ChannelRegistry,
  ) {}

  onModuleInit(): void {
    // Every provider of every channel (both sides of a failover pair) is timed.
    for (const p of this.channels.all()) {
      const inner = (p as typeof p & { providers?: () => (typeof p)[] }).providers?.() ?? [p];
      for (const x of inner) this.metrics.instrumentProvider(x);
    }
  }
}
