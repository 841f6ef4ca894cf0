import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import type { Locale, RecipientRole } from '#libs/core';
import { LOCALES, TemplateDataError, UnknownTemplateError } from '#libs/core';
import {
  type BankIdentity,
  type FilledRegistration,
  fillRegistrations,
  PROVIDER_SMS_RULES,
  registrationFor,
  registrationValueRenderer,
  type SmsProviderKind,
  loadTemplatePack,
  type RenderContext,
  type RenderedMessage,
  senderFor,
  type SenderIdentities,
  sendersFromConfig,
  type TemplateDefinition,
  templateContentDigest,
  TemplateRenderPool,
  TemplateStore,
} from '#libs/templates';

/**
 * The published templates the pipeline renders from, keyed by key, locale and version.
 * A notification pins (key, locale, version) at accept and renders that version at send.
 *
 * The database (TemplateStore) is the source of truth; the files in TEMPLATES_DIR are the default
 * pack, loaded into it at start for every (key, locale) it does not have yet. This class keeps an
 * in-memory copy of the published versions so `get` stays synchronous: refreshed at once on a
 * publish in this process, polled every TEMPLATE_REFRESH_MS in queue mode (versions published by
 * another process), and `resolve` loads a missing version from the database on demand.
 */
@Injectable()
export class TemplateRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger(TemplateRegistry.name);
  private readonly byId = new Map<string, TemplateDefinition>();
  private readonly latest = new Map<string, number>();
  private readonly digests = new WeakMap<TemplateDefinition, string>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** The bank as it signs Chinese debtor messages (letterheads). */
  readonly bank: BankIdentity;
  /** Who signs each message: per audience (neutral for third parties) and locale. */
  readonly senders: SenderIdentities;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: TemplateStore,
    private readonly pool: TemplateRenderPool,
  ) {
    this.bank = {
      name: config.bank.name,
      address: config.bank.address,
      phone: config.bank.phone,
      complaintChannel: config.bank.complaintChannel,
      website: config.bank.website,
    };
    this.senders = sendersFromConfig(config.bank);
  }

  async onModuleInit(): Promise<void> {
    let pack: TemplateDefinition[] | undefined;
    let packError: unknown;
    try {
      pack = loadTemplatePack(this.config.templatesDir);
    } catch (err) {
      packError = err;
    }
    if (pack) {
      const { inserted } = await this.store.seedFromPack(pack);
      if (inserted)
        this.log.log(`loaded ${inserted} template(s) from the pack in ${this.config.templatesDir}`);
    }
    const all = await this.store.publishedVersions();
    if (all.length === 0 && packError) throw packError;
    if (packError)
      this.log.warn(`template pack not loaded (the database has templates): ${String(packError)}`);
    for (const rec of all) this.add(rec.definition);
    this.unsubscribe = this.store.onPublished((rec) => this.add(rec.definition));
    this.checkPolicy();
    if (this.config.mode === 'queue') {
      this.timer = setInterval(() => {
        this.refresh().catch((err: unknown) => this.log.warn(`template refresh failed: ${String(err)}`));
      }, this.config.templateRefreshMs);
      this.timer.unref();
    }
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
  }

  /** Warns about stage-policy templates that are not published in every locale. */
  private checkPolicy(): void {
    for (const s of this.config.stagePolicy.stages) {
      for (const c of s.channels) {
        for (const key of [c.templateKey, c.contactTemplateKey]) {
          if (key === undefined) continue;
          const missing = LOCALES.filter((l) => !this.latest.has(`${key}|${l}`));
          if (missing.length) {
            this.log.warn(
              `stage policy ${s.stage}/${c.channel}: template ${key} is not published for ${missing.join(', ')}`,
            );
          }
        }
      }
    }
  }

  /** Picks up versions published by other processes. */
  async refresh(): Promise<number> {
    let added = 0;
    for (const { key, locale, version } of await this.store.latestVersionNumbers()) {
      const have = this.latest.get(`${key}|${locale}`) ?? 0;
      for (let v = have + 1; v <= version; v++) {
        const rec = await this.store.version(key, locale, v);
        if (rec) {
          this.add(rec.definition);
          added++;
        }
      }
    }
    return added;
  }

  add(def: TemplateDefinition): void {
    this.byId.set(`${def.key}|${def.locale}|${def.version}`, def);
    const k = `${def.key}|${def.locale}`;
    if ((this.latest.get(k) ?? 0) < def.version) this.latest.set(k, def.version);
  }

  private unknown(key: string, locale: Locale, version?: number): UnknownTemplateError {
    return new UnknownTemplateError(
      `No published template '${key}' for locale ${locale}${version ? ` version ${version}` : ''}`,
      [{ path: 'templateKey', message: `unknown template '${key}' (${locale})` }],
    );
  }

  /** The current published version (at accept), or a pinned one (at send), from memory. */
  get(key: string, locale: Locale, version?: number): TemplateDefinition {
    const v = version ?? this.latest.get(`${key}|${locale}`);
    const def = v === undefined ? undefined : this.byId.get(`${key}|${locale}|${v}`);
    if (!def) {
      // A pinned version published by another process: fetch it so a retry finds it.
      if (version !== undefined) void this.resolve(key, locale, version).catch(() => undefined);
      throw this.unknown(key, locale, version);
    }
    return def;
  }

  /** Like `get`, but loads a version missing from memory from the database (queue mode). */
  async resolve(key: string, locale: Locale, version?: number): Promise<TemplateDefinition> {
    const v = version ?? this.latest.get(`${key}|${locale}`);
    const cached = v === undefined ? undefined : this.byId.get(`${key}|${locale}|${v}`);
    if (cached) return cached;
    const rec =
      version !== undefined
        ? await this.store.version(key, locale, version)
        : await this.store.latest(key, locale);
    if (!rec) throw this.unknown(key, locale, version);
    this.add(rec.definition);
    return rec.definition;
  }

  /** SHA-256 of the template version's canonical content: pinned in the evidence. */
  digest(def: TemplateDefinition): string {
    let d = this.digests.get(def);
    if (!d) {
      d = templateContentDigest(def);
      this.digests.set(def, d);
    }
    return d;
  }

  /**
   * The sender the message signs with: the neutral name for third-party templates and for any
   * recipient who is not the debtor (contact, guarantor); the English name in English.
   */
  senderFor(def: TemplateDefinition, recipientRole?: RecipientRole): BankIdentity {
    const audience = recipientRole !== undefined && recipientRole !== 'debtor' ? 'third_party' : def.audience;
    return senderFor(this.senders, audience, def.locale);
  }

  /**
   * The mainland gateways' registrations of an SMS template filled with the values its body
   * shows (same data, helpers and sender as `render`): what each gateway is asked to send.
   * A 422 (`template_data`) when a configured gateway has no registration, a value breaks the
   * gateway's rules, or the registered text is not what the body says.
   */
  registeredSms(
    def: TemplateDefinition,
    data: unknown,
    ctx: Omit<RenderContext, 'bank'> & { recipientRole?: RecipientRole },
    body: string,
  ): Partial<Record<SmsProviderKind, FilledRegistration>> {
    const gateways = this.config.smsMainland;
    const missing = gateways.filter((g) => !registrationFor(def, g.kind));
    if (missing.length > 0) {
      throw new TemplateDataError(
        `Template ${def.key} (${def.locale}) has no registration for ${missing.map((g) => g.kind).join(', ')}: mainland SMS gateways send registered templates only`,
        missing.map((g) => ({
          path: `registrations.${g.kind}`,
          message: `missing (SMS_CN_PROVIDERS lists ${g.kind})`,
        })),
      );
    }
    const { recipientRole, ...rest } = ctx;
    const render = registrationValueRenderer(def, data, {
      ...rest,
      bank: this.senderFor(def, recipientRole),
    });
    const rules = Object.fromEntries(
      gateways.map((g) => [
        g.kind,
        { ...PROVIDER_SMS_RULES[g.kind], maxVariableLength: g.maxVariableLength },
      ]),
    );
    return fillRegistrations(
      def,
      body,
      render,
      gateways.map((g) => g.kind),
      rules,
    );
  }

  /**
   * Renders on the worker-thread pool (never on this event loop): a template over its loop or
   * output budget, or over the time limit, fails with a 422 error instead of blocking the process.
   */
  render(
    def: TemplateDefinition,
    data: unknown,
    ctx: Omit<RenderContext, 'bank'> & { recipientRole?: RecipientRole },
  ): Promise<RenderedMessage> {
    const { recipientRole, ...rest } = ctx;
    return this.pool.render(def, data, { ...rest, bank: this.senderFor(def, recipientRole) });
  }
}
