import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import type { Locale } from '#libs/core';
import { UnknownTemplateError } from '#libs/core';
import { canonicalJson } from '#libs/evidence';
import {
  type BankIdentity,
  loadTemplatePack,
  type RenderContext,
  type RenderedMessage,
  renderTemplate,
  type TemplateDefinition,
} from '#libs/templates';

/**
 * The published templates the pipeline renders from, keyed by key, locale and version.
 * A notification pins (key, locale, version) at accept and renders that version at send.
 */
@Injectable()
export class TemplateRegistry implements OnModuleInit {
  private readonly byId = new Map<string, TemplateDefinition>();
  private readonly latest = new Map<string, number>();
  private readonly digests = new Map<TemplateDefinition, string>();
  readonly bank: BankIdentity;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.bank = {
      name: config.bank.name,
      address: config.bank.address,
      phone: config.bank.phone,
      complaintChannel: config.bank.complaintChannel,
      website: config.bank.website,
    };
  }

  onModuleInit(): void {
    for (const def of loadTemplatePack(this.config.templatesDir)) this.add(def);
  }

  add(def: TemplateDefinition): void {
    this.byId.set(`${def.key}|${def.locale}|${def.version}`, def);
    const k = `${def.key}|${def.locale}`;
    if ((this.latest.get(k) ?? 0) < def.version) this.latest.set(k, def.version);
  }

  /** The current published version (at accept), or a pinned one (at send). */
  get(key: string, locale: Locale, version?: number): TemplateDefinition {
    const v = version ?? this.latest.get(`${key}|${locale}`);
    const def = v === undefined ? undefined : this.byId.get(`${key}|${locale}|${v}`);
    if (!def) {
      throw new UnknownTemplateError(
        `No published template '${key}' for locale ${locale}${version ? ` version ${version}` : ''}`,
        [{ path: 'templateKey', message: `unknown template '${key}' (${locale})` }],
      );
    }
    return def;
  }

  /** SHA-256 of the template version's canonical content: pinned in the evidence. */
  digest(def: TemplateDefinition): string {
    let d = this.digests.get(def);
    if (!d) {
      d = createHash('sha256')
        .update(
          canonicalJson({
            key: def.key,
            locale: def.locale,
            version: def.version,
            parts: def.parts,
            partials: def.partials ?? {},
            schema: def.schema,
          }),
        )
        .digest('hex');
      this.digests.set(def, d);
    }
    return d;
  }

  render(def: TemplateDefinition, data: unknown, ctx: Omit<RenderContext, 'bank'>): RenderedMessage {
    return renderTemplate(def, data, { ...ctx, bank: this.bank });
  }
}
