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
  templateCacheStats,
  clearTemplateCaches,
} from './engine.js';
export { validateData, compileSchema, TemplateSchemaError } from './schema.js';
export { loadTemplatePack, loadPackPartials } from './pack.js';
export {
  lintTemplate,
  sampleContext,
  schemaDeclares,
  type LintRuleId,
  DEFAULT_FORBIDDEN_PHRASES,
  DEFAULT_DEMAND_LETTER_ELEMENTS,
  LINT_RULES,
} from './lint.js';
export * from './store/index.js';
