import { Module } from '@nestjs/common';
import { TemplateStore } from './template-store.service.js';

/** The template store (needs the global `Db` and `CLOCK` providers). */
@Module({ providers: [TemplateStore], exports: [TemplateStore] })
export class TemplateStoreModule {}
