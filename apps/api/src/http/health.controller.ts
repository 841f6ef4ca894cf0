import { Controller, Get, HttpCode, ServiceUnavailableException } from '@nestjs/common';
import { Db } from '#libs/persistence';
import { JobQueue } from '#libs/queue';

@Controller('health')
export class HealthController {
  constructor(
    private readonly db: Db,
    private readonly queue: JobQueue,
  ) {}

  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready() {
    const checks: Record<string, string> = {};
    try {
      await this.db.rows('SELECT 1 AS ok');
      checks.database = 'up';
    } catch {
      checks.database = 'down';
    }
    try {
      await this.queue.stats('dispatch');
      checks.queue = 'up';
    } catch {
      checks.queue = 'down';
    }
    if (Object.values(checks).some((v) => v !== 'up'))
      throw new ServiceUnavailableException({ status: 'error', checks });
    return { status: 'ok', checks };
  }
}
