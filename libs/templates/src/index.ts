export * from './types.js';
export {
  TEMPLATE_HELPERS,
  ALLOWED_HELPERS,
  TemplateHelperError,
  formatCny,
  cnyToChineseCapital,
  formatDate,
  maskCardNumber,
  maskPhoneNumber,
  maskIdNumber,
  pluralize,
} from './helpers.js';
export { smsSegments } from './sms.js';
export {
  renderTemplate,
  registerPartials,
  registeredPartials,
  clearPartials,
  TemplateDefinitionError,
  REQUIRED_PARTS,
  editableParts,
  templateCacheStats,
  clearTemplateCaches,
  registrationValueRenderer,
} from './engine.js';
export {
  PROVIDER_SMS_RULES,
  fillRegistration,
  fillRegistrations,
  checkRegistration,
  registrationFor,
  looksLikeLink,
  SmsRegistrationError,
  type SmsProviderRules,
  type FilledRegistration,
  type RegistrationRule,
  type RegistrationViolation,
} from './registrations.js';
export { validateData, compileSchema, TemplateSchemaError, safeRegExp } from './schema.js';
export {
  DEFAULT_RENDER_LIMITS,
  TemplateBudgetError,
  TemplateRenderTimeoutError,
  type RenderLimits,
} from './budget.js';
export { TemplateRenderPool, renderWorkerFile, type RenderPoolOptions } from './render-pool.js';
export type { WireLintOptions } from './render-wire.js';
export { loadTemplatePack, loadPackPartials, parseRegistrations } from './pack.js';
export {
  lintTemplate,
  sampleContext,
  senderFor,
  DEFAULT_SENDERS,
  schemaDeclares,
  type LintRuleId,
  DEFAULT_FORBIDDEN_PHRASES,
  DEFAULT_DEMAND_LETTER_ELEMENTS,
  LINT_RULES,
} from './lint.js';
export * from './store/index.js';
