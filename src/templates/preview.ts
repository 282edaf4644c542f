// A template being edited, rendered as a mail would be: checked and compiled (never cached: the
// source is a draft, not a version), then run with the variables of a sample or a real ticket.
import { checkTemplate, type RenderedMail, type TemplateSource } from './compile.ts';
import type { TemplateProblem } from './errors.ts';

/** Every problem of the source, or the mail it renders. */
export type TemplatePreview = { problems: TemplateProblem[] } | RenderedMail;

/**
 * The rendered mail, or `{ problems }` (part, line, column) when the source does not compile.
 * Variables the template's schema refuses are a ValidationError: they are ours, not the admin's.
 */
export async function previewTemplate(source: TemplateSource, vars: unknown): Promise<TemplatePreview> {
  const { problems, compiled } = await checkTemplate(source);
  if (!compiled) return { problems };
  return compiled.render(vars);
}
