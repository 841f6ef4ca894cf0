import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChannelProvider } from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock } from '#libs/core';
import { Db, PipelineStats } from '#libs/persistence';
import { JobQueue } from '#libs/queue';

/** String token for libraries that must not import apps/api: `@Optional() @Inject(METRICS)`. */
export const METRICS = 'cns:metrics';

/** What the compliance gate (and other libraries) may call. */
export interface GateMetrics {
  recordGateDecision(rule: string, decision: string): void;
}

/**
 * Prometheus metrics of this process, in a registry of its own (several apps can live in one
 * test process). Notification counts and queue lag are read from the database at scrape time,
 * so every api replica reports the same cluster-wide numbers; provider latency and gate
 * decisions are counted where they happen (workers expose them on METRICS_PORT).
 */
@Injectable()
export class MetricsService implements GateMetrics, OnApplicationShutdown {
  private readonly closers: (() => Promise<unknown>)[] = [];
  readonly registry = new Registry();
  readonly gateDecisions: Counter<'rule' | 'decision'>;
  readonly providerLatency: Histogram<'provider' | 'channel' | 'operation' | 'outcome'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(
    @Optional() private readonly db?: Db,
    @Optional() private readonly queue?: JobQueue,
    @Optional() @Inject(APP_CONFIG) private readonly config?: AppConfig,
    @Optional() @Inject(CLOCK) private readonly clock?: Clock,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'cns_' });
    this.gateDecisions = new Counter({
      name: 'cns_gate_decisions_total',
      help: 'Compliance gate decisions by rule and decision (allow, defer, refuse)',
      labelNames: ['rule', 'decision'],
      registers,
    });
    this.providerLatency = new Histogram({
      name: 'cns_provider_request_duration_seconds',
      help: 'Provider API call latency',
      labelNames: ['provider', 'channel', 'operation', 'outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'cns_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const database = this.db;
    const jobs = this.queue;
    const time = this.clock;
    if (database) {
      new Gauge({
        name: 'cns_notifications',
        help: 'Notifications by channel and status (database, all processes)',
        labelNames: ['channel', 'status'],
        registers,
        async collect() {
          this.reset();
          for (const r of await PipelineStats.countsByChannelAndStatus(database)) {
            this.set({ channel: r.channel, status: r.status }, r.n);
          }
        },
      });
      new Gauge({
        name: 'cns_queue_lag_seconds',
        help: 'Age of the oldest notification that is due but not yet picked up',
        registers,
        async collect() {
          const now = time ? time.now().getTime() : Date.now();
          const oldest = await PipelineStats.oldestDueAt(database, now);
          this.set(oldest === null ? 0 : Math.max(0, (now - oldest) / 1000));
        },
      });
      new Gauge({
        name: 'cns_evidence_integrity_alerts_open',
        help: 'Evidence integrity alerts not yet acknowledged (checkpoints and bundles are refused while > 0)',
        registers,
        async collect() {
          this.set(await PipelineStats.openEvidenceAlerts(database));
        },
      });
    }
    if (jobs) {
      new Gauge({
        name: 'cns_queue_depth',
        help: 'Jobs in the dispatch queue by state (this process for the in-process queue)',
        labelNames: ['queue', 'state'],
        registers,
        async collect() {
          const s = await jobs.stats('dispatch');
          this.set({ queue: 'dispatch', state: 'waiting' }, s.waiting);
          this.set({ queue: 'dispatch', state: 'delayed' }, s.delayed);
          this.set({ queue: 'dispatch', state: 'active' }, s.active);
        },
      });
    }
    new Gauge({
      name: 'cns_info',
      help: 'Static information about this process',
      labelNames: ['mode', 'database'],
      registers,
    }).set({ mode: this.config?.mode ?? 'unknown', database: this.config?.database.type ?? 'unknown' }, 1);
  }

  recordGateDecision(rule: string, decision: string): void {
    this.gateDecisions.inc({ rule, decision });
  }

  /**
   * Times `send`, `poll` and `findSent` of a provider instance in place (the object keeps its
   * class, so `instanceof` checks elsewhere still hold). Idempotent.
   */
  instrumentProvider(provider: ChannelProvider): void {
    const marked = provider as ChannelProvider & { __cnsTimed?: boolean };
    if (marked.__cnsTimed) return;
    marked.__cnsTimed = true;
    for (const op of ['send', 'poll', 'findSent'] as const) {
      const original = provider[op].bind(provider) as (...a: unknown[]) => Promise<unknown>;
      const timed = async (...args: unknown[]) => {
        const end = this.providerLatency.startTimer({
          provider: provider.name,
          channel: provider.channel,
          operation: op,
        });
        try {
          const r = await original(...args);
          end({ outcome: 'ok' });
          return r;
        } catch (err) {
          end({ outcome: 'error' });
          throw err;
        }
      };
      Object.defineProperty(provider, op, { value: timed, configurable: true, writable: true });
    }
  }

  /** Express middleware timing each request by its route pattern (not its raw URL). */
  httpMiddleware() {
    return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
      const end = this.httpDuration.startTimer({ method: req.method ?? 'GET' });
      res.on('finish', () => {
        const r = req as IncomingMessage & { route?: { path?: string }; baseUrl?: string };
        const route = r.route?.path ? `${r.baseUrl ?? ''}${r.route.path}` : 'unmatched';
        end({ route, status: String(res.statusCode) });
      });
      next();
    };
  }

  /** Something to close with the app (e.g. the dashboard's queue connections). */
  onClose(fn: () => Promise<unknown>): void {
    this.closers.push(fn);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.closers.map((f) => f()));
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
