import type { Channel, Locale, Stage } from '#libs/core';

/** Who a template speaks to. Third parties (contacts) never see debt details. */
export type Audience = 'debtor' | 'third_party';

export const AUDIENCES: readonly Audience[] = ['debtor', 'third_party'];

/** Handlebars sources of a template, one per part. Which parts a channel needs: see `REQUIRED_PARTS`. */
export interface TemplateParts {
  sms?: string;
  /** Voice call: the text read to the person who answers. */
  voice?: string;
  subject?: string;
  html?: string;
  text?: string;
  letter?: string;
  /** Title of the letter (Handlebars, one line). Defaults to the first Markdown heading of `letter`. */
  letterTitle?: string;
  /** Letter attachments: `title` and `letter` are both Handlebars sources. */
  attachments?: { title: string; letter: string }[];
}

export interface TemplateDefinition {
  /** `<stage>.<channel>.<name>`, e.g. `early.sms.reminder`, `late.letter.demand`, `early.sms.third_party`. */
  key: string;
  locale: Locale;
  stage: Stage;
  channel: Channel;
  audience: Audience;
  /** Pack files are version 1. */
  version: number;
  /** JSON Schema (draft 2020-12 or 07) for the `data` object. */
  schema: Record<string, unknown>;
  exampleData: Record<string, unknown>;
  parts: TemplateParts;
  description?: string;
  /**
   * Email templates: key of a letter template rendered with the same data and attached to the
   * email as a PDF (an emailed copy of the letter).
   */
  attachLetter?: string;
  /**
   * Sources of the partials this template uses (transitively), resolved for its locale when the pack
   * was loaded. They make a stored template version self-contained: rendering it later gives the same
   * output even if the pack's shared parts changed. Partials not found here are looked up in the
   * engine's registry (`registerPartials`).
   */
  partials?: Record<string, string>;
  /**
   * SMS templates only: the template as registered (报备) with mainland gateways that send no free
   * text, one per provider kind, for this definition's locale. See registrations.ts and
   * docs/templates.md ("Provider registrations").
   */
  registrations?: SmsRegistration[];
}

/** Gateways whose SMS must name a pre-approved template (see `PROVIDER_SMS_RULES`). */
export type SmsProviderKind = 'aliyun' | 'tencent';

export const SMS_PROVIDER_KINDS: readonly SmsProviderKind[] = ['aliyun', 'tencent'];

/**
 * One SMS template as approved by one gateway: the code and sign name (签名) a send names, the
 * approved text with the gateway's placeholders (Aliyun `${name}`, Tencent `{1}`, `{2}`, ...) and,
 * per placeholder, a small Handlebars expression rendered like the SMS body (same data, helpers and
 * `@`-context), so each value is exactly what the body shows there.
 */
export interface SmsRegistration {
  kind: SmsProviderKind;
  locale: Locale;
  templateCode: string;
  signName: string;
  /** The approved text without the `【signName】` the gateway prepends. */
  text: string;
  /** In the gateway's order: Aliyun's TemplateParam keys as written, Tencent's `1`..`n`. */
  params: { name: string; expr: string }[];
}

export interface BankIdentity {
  name: string;
  address: string;
  phone: string;
  complaintChannel: string;
  website?: string;
}

export interface RenderContext {
  bank: BankIdentity;
  recipientName: string;
  caseId: string;
  notificationId?: string;
  unsubscribeUrl?: string;
  /** Issue date printed on letters, `YYYY-MM-DD`. Letters show a blank date line when absent. */
  issuedOn?: string;
}

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface RenderedMessage {
  channel: Channel;
  sms?: { text: string; encoding: SmsEncoding; segments: number };
  /** What the call says (TwiML `<Say>`), one paragraph. */
  voice?: { text: string };
  email?: { subject: string; html: string; text: string };
  letter?: { title: string; markdown: string; attachments: { title: string; markdown: string }[] };
}

export type LintSeverity = 'error' | 'warning';

export interface LintLocation {
  /** `sms`, `subject`, `html`, `text`, `letter`, `letterTitle`, `attachments[0].letter`, `schema`, `exampleData`, `partial:<name>`, `definition`, `registrations.<kind>`. */
  part: string;
  line?: number;
  column?: number;
}

export interface LintFinding {
  ruleId: string;
  severity: LintSeverity;
  message: string;
  location: LintLocation;
}

export type ForbiddenCategory =
  'threat' | 'insult' | 'false_legal_claim' | 'shaming' | 'third_party_pressure';

export interface ForbiddenPhrase {
  /** Literal phrase (matched case-insensitively; Latin phrases on word boundaries). */
  phrase: string;
  category: ForbiddenCategory;
}

/** One art. 69 element of a demand letter and the references that satisfy it. */
export interface DemandLetterElement {
  id: string;
  description: string;
  /**
   * Alternatives: the element is present when, for at least one alternative, every reference in it is
   * used by the letter (directly or through partials). A reference is a variable path (`outstandingBalance`,
   * `@bank.phone`) or a partial (`>letter-objection`).
   */
  anyOf: string[][];
}

export interface LintOptions {
  /** Replaces the default forbidden phrase list. */
  forbiddenPhrases?: ForbiddenPhrase[];
  /** Added to the (default or given) forbidden phrase list. */
  extraForbiddenPhrases?: ForbiddenPhrase[];
  /** Maximum SMS segments for the rendered example: over it is an error (default 3, config TEMPLATE_SMS_MAX_SEGMENTS). */
  maxSmsSegments?: number;
  /** Over this many segments the rendered example SMS gets a warning (default 2). */
  warnSmsSegments?: number;
  /**
   * The senders the service signs with (from config). Lint renders the example with the one the
   * template's audience and locale get, so segment counts and wording checks see the real name.
   */
  senders?: SenderIdentities;
  /** Loop and output limits for the example render (default `DEFAULT_RENDER_LIMITS`). */
  renderLimits?: { maxIterations: number; maxOutputChars: number };
  /** Replaces the default art. 69 element list for demand letters. */
  demandLetterElements?: DemandLetterElement[];
  /** Decides which templates are demand letters (default: debtor letters of stage late or legal). */
  isDemandLetter?: (def: TemplateDefinition) => boolean;
  /** Context used to render the example data (default: a sample bank). */
  sampleContext?: RenderContext;
  /** Partials available besides `def.partials` (default: the engine's registry). */
  partials?: Record<string, string>;
  /**
   * The SMS gateways the service sends through that need registered templates (config). Each SMS
   * template must then carry a registration for each, and its example must fill it within the
   * gateway's rules (default none: no registration checks).
   */
  smsProviders?: SmsProviderKind[];
  /** Per-kind override of `PROVIDER_SMS_RULES[kind].maxVariableLength` (e.g. an account with a higher limit). */
  smsVariableMaxLength?: Partial<Record<SmsProviderKind, number>>;
}

/**
 * Who signs a message, per audience and locale. Third parties (a contact, a guarantor) get a neutral
 * sender name: `【…信用卡中心】` alone tells a relative the message is about a credit-card debt.
 */
export interface SenderIdentities {
  debtor: Record<Locale, BankIdentity>;
  thirdParty: Record<Locale, BankIdentity>;
}
