import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { TemplateRenderPool } from '../render-pool.js';
import type { SenderIdentities } from '../types.js';
import {
  TEMPLATE_STORE_OPTIONS,
  TemplateStore,
  type TemplateStoreOptions,
} from './template-store.service.js';
import { TemplateRepository } from './template.repository.js';

/** The senders of every message, per audience and locale, from the configuration. */
export function sendersFromConfig(bank: AppConfig['bank']): SenderIdentities {
  const zh = {
    name: bank.name,
    address: bank.address,
    phone: bank.phone,
    complaintChannel: bank.complaintChannel,
    ...(bank.website ? { website: bank.website } : {}),
  };
  const en = { ...zh, name: bank.nameEn, address: bank.addressEn, complaintChannel: bank.complaintChannelEn };
  return {
    debtor: { 'zh-CN': zh, en },
    thirdParty: { 'zh-CN': { ...zh, name: bank.thirdPartyName }, en: { ...en, name: bank.thirdPartyNameEn } },
  };
}

/**
 * The template store, its repository (the store's SQL) and the render pool every render, preview
 * and lint runs on (needs the global `Db`, `CLOCK` and `APP_CONFIG` providers).
 */
@Module({
  providers: [
    TemplateRepository,
    TemplateStore,
    {
      provide: TemplateRenderPool,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new TemplateRenderPool({
          threads: config.templateSafety.renderThreads,
          timeoutMs: config.templateSafety.renderTimeoutMs,
          limits: {
            maxIterations: config.templateSafety.maxIterations,
            maxOutputChars: config.templateSafety.maxOutputChars,
          },
        }),
    },
    {
      provide: TEMPLATE_STORE_OPTIONS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): TemplateStoreOptions => ({
        lint: {
          maxSmsSegments: config.templateSafety.smsMaxSegments,
          // Mainland gateways send registered templates only: lint checks each one's registration.
          smsProviders: config.smsMainland.map((g) => g.kind),
          smsVariableMaxLength: Object.fromEntries(
            config.smsMainland.map((g) => [g.kind, g.maxVariableLength]),
          ),
          senders: sendersFromConfig(config.bank),
          renderLimits: {
            maxIterations: config.templateSafety.maxIterations,
            maxOutputChars: config.templateSafety.maxOutputChars,
          },
        },
      }),
    },
  ],
  exports: [TemplateStore, TemplateRepository, TemplateRenderPool, TEMPLATE_STORE_OPTIONS],
})
export class TemplateStoreModule {}
