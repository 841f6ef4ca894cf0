import { type DynamicModule, Global, Module } from '@nestjs/common';
import { CLOCK, type Clock, OffsetClock, systemClock } from '#libs/core';
import { type AppConfig, loadConfigFromEnv } from './config.js';

/** Injection token for the typed configuration. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/** Global module with the validated configuration and the clock (tests pass their own of both). */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(opts: { config?: AppConfig; clock?: Clock } = {}): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [
        { provide: APP_CONFIG, useFactory: () => opts.config ?? loadConfigFromEnv() },
        {
          provide: CLOCK,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig): Clock =>
            opts.clock ?? (config.clockStart ? new OffsetClock(new Date(config.clockStart)) : systemClock),
        },
      ],
      exports: [APP_CONFIG, CLOCK],
    };
  }
}
