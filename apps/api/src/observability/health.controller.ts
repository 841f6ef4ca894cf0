import { Controller, Get, HttpCode, Inject, type OnApplicationShutdown, Res } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock } from '#libs/core';
import { Db, freeBytes, PipelineStats, probeWrite, sqliteFix } from '#libs/persistence';
import { EvidenceIntegrity } from '#libs/evidence';
import { ShutdownState } from '#libs/observability';
import { JobQueue } from '#libs/queue';
import { Public } from '../auth/scopes.js';

const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'shutting_down'] },
    info: { type: 'object', additionalProperties: true },
    error: { type: 'object', additionalProperties: true },
    details: { type: 'object', additionalProperties: true },
  },
};

@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController implements OnApplicationShutdown {
  private redis: Redis | null = null;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly db: Db,
    private readonly queue: JobQueue,
    private readonly shutdown: ShutdownState,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly integrity: EvidenceIntegrity,
  ) {}

  @Get('live')
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @ApiResponse({
    status: 200,
    description: 'Alive',
    schema: { type: 'object', properties: { status: { type: 'string', example: 'ok' } } },
  })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({
    summary:
      'Readiness: database (writable), disk space, Redis (queue mode), queue lag, no open evidence integrity alert; down while shutting down',
  })
  @ApiResponse({ status: 200, description: 'Ready', schema: healthSchema })
  @ApiResponse({ status: 503, description: 'Not ready (details per check)', schema: healthSchema })
  async ready(@Res({ passthrough: true }) res: Response) {
    if (this.shutdown.draining) {
      res.status(503);
      return { status: 'shutting_down', info: {}, error: {}, details: {} };
    }
    try {
      return await this.health.check([
        () => this.database(),
        () => this.storage(),
        () => this.redisCheck(),
        () => this.queueLag(),
        () => this.evidence(),
      ]);
    } catch (err) {
      res.status(503);
      const body = (err as { getResponse?: () => unknown }).getResponse?.();
      return body ?? { status: 'error' };
    }
  }

  private async database() {
    const s = this.indicators.check('database');
    try {
      await this.db.rows('SELECT 1 AS ok');
      return s.up({ dialect: this.db.dialect });
    } catch (err) {
      return s.down({ message: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * The database takes writes (a no-op write transaction: a read-only file, folder, mount or
   * replica passes `SELECT 1` but fails this) and the data folder has room (SQLite).
   */
  private async storage() {
    const s = this.indicators.check('storage');
    const db = this.config.database;
    const path = db.type === 'sqlite' ? db.path : undefined;
    try {
      await probeWrite(this.db);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: string; driverError?: { code?: string } }).driverError?.code;
      return s.down({
        writable: false,
        message,
        ...(path ? { path, fix: sqliteFix(path, code) } : {}),
      });
    }
    if (!path || path === ':memory:') return s.up({ writable: true });
    const minFree = this.config.observability.readyMinFreeDiskBytes;
    try {
      const free = freeBytes(path);
      const data = { writable: true, path, freeBytes: free, minFreeBytes: minFree };
      return free < minFree ? s.down({ ...data, fix: sqliteFix(path, 'ENOSPC') }) : s.up(data);
    } catch (err) {
      return s.down({ path, message: err instanceof Error ? err.message : String(err) });
    }
  }

  private async redisCheck() {
    const s = this.indicators.check('redis');
    if (!this.config.queue.redisUrl) return s.up({ mode: 'in-process queue, no Redis' });
    try {
      this.redis ??= new Redis(this.config.queue.redisUrl, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        connectTimeout: 2000,
      });
      if (this.redis.status === 'wait') await this.redis.connect();
      const pong = await this.redis.ping();
      return pong === 'PONG' ? s.up() : s.down({ message: pong });
    } catch (err) {
      return s.down({ message: err instanceof Error ? err.message : String(err) });
    }
  }

  private async queueLag() {
    const s = this.indicators.check('queue');
    try {
      const stats = await this.queue.stats('dispatch');
      const now = this.clock.now().getTime();
      const oldest = await PipelineStats.oldestDueAt(this.db, now);
      const lagMs = oldest === null ? 0 : Math.max(0, now - oldest);
      const max = this.config.observability.readyMaxQueueLagMs;
      const data = { kind: this.queue.kind, ...stats, lagMs, maxLagMs: max };
      return max > 0 && lagMs > max ? s.down(data) : s.up(data);
    } catch (err) {
      return s.down({ message: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Down while an evidence integrity alert is not acknowledged (POST /v1/admin/evidence/alerts/:id/ack). */
  private async evidence() {
    const s = this.indicators.check('evidence');
    try {
      const open = await this.integrity.openAlerts();
      if (open.length === 0) return s.up({ openAlerts: 0 });
      return s.down({
        openAlerts: open.length,
        alerts: open.map((a) => ({ id: a.id, kind: a.kind, detail: a.detail, createdAt: a.createdAt })),
        fix: 'investigate, then POST /v1/admin/evidence/alerts/{id}/ack',
      });
    } catch (err) {
      return s.down({ message: err instanceof Error ? err.message : String(err) });
    }
  }

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}
