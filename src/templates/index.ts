// Mail templates: the shipped defaults in templates/mail, admin overrides stored as versions and
// edited as drafts, previews, and rendering a mail to { subject, html, text }. Templates are data:
// see syntax.ts for the language.
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
  type SaveTemplateInput,
} from './store.ts';
export type { TemplateVersion } from './versions.ts';
export { contentHash, type TemplateDraft, type DraftInput, type SaveDraftInput } from './drafts.ts';
export { diffTemplates, type DiffLine, type TemplateDiff, type TemplateSourceLike } from './diff.ts';
export { previewTemplate, type TemplatePreview } from './preview.ts';
export { closePreviewPool, previewInWorker, type PreviewResult } from './preview-pool.ts';
export { ticketVariables, type TicketVariablesOptions } from './ticket-vars.ts';
export { templateFields, type TemplateField } from './fields.ts';
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
  isTemplateName,
  type TemplateName,
  type TemplateVariables,
} from './schemas.ts';
export { DEFAULT_LOCALES, defaultSource } from './defaults.ts';
export { sampleVariables, type SampleOptions } from './samples.ts';
export { formatSize, textToHtml } from './format.ts';
export { clearTemplateCache } from './cache.ts';
export type { Part, Problem } from './syntax.ts';
