// Mail templates: the shipped defaults in templates/mail, admin overrides stored as versions, and
// rendering a mail to { subject, html, text }. Templates are data: see syntax.ts for the language.
export {
  renderTemplate,
  publishedTemplate,
  type RenderedTemplate,
} from './render.ts';
export { compileDefaultTemplates } from './defaults-check.ts';
export {
  createTemplateStore,
  type TemplateStore,
  type TemplateSummary,
  type TemplateVersion,
  type SaveTemplateInput,
} from './store.ts';
export {
  checkTemplate,
  compileTemplate,
  type CompiledTemplate,
  type RenderedMail,
  type TemplateSource,
} from './compile.ts';
export { TemplateError, type TemplateProblem } from './errors.ts';
export {
  TEMPLATE_NAMES,
  type TemplateName,
  type TemplateVariables,
} from './schemas.ts';
export { DEFAULT_LOCALES, defaultSource } from './defaults.ts';
export { sampleVariables } from './samples.ts';
export { formatSize } from './format.ts';
export { clearTemplateCache } from './cache.ts';
export type { Part, Problem } from './syntax.ts';
