import { Module, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeysController } from './api-keys.controller.js';
import { ApiKeysService } from './api-keys.service.js';
import { RateLimiter } from './rate-limiter.js';
import { WhoamiController } from './whoami.controller.js';

/** API keys, scopes (global guard), the admin API and `GET /v1/auth/whoami`. */
@Module({
  controllers: [ApiKeysController, WhoamiController],
  providers: [ApiKeysService, RateLimiter, { provide: APP_GUARD, useClass: ApiKeyGuard }],
  exports: [ApiKeysService, RateLimiter],
})
export class AuthModule implements OnApplicationBootstrap {
  constructor(private readonly keys: ApiKeysService) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.keys.bootstrap();
  }
}
