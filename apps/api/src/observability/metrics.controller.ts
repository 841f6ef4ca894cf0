import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Scopes } from '../auth/scopes.js';
import { MetricsService } from '#libs/observability';

@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Scopes('admin')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format); needs an admin key' })
  @ApiProduces('text/plain')
  @ApiResponse({
    status: 200,
    description: 'Prometheus text format',
    content: {
      'text/plain': {
        schema: { type: 'string' },
        example: 'cns_notifications{channel="sms",status="delivered"} 42\n',
      },
    },
  })
  async scrape(@Res() res: Response): Promise<void> {
    const m = await this.metrics.metrics();
    res.status(200).type(m.contentType).send(m.body);
  }
}
