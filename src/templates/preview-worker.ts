// The worker thread of preview-pool.ts: one preview per task.
import { ValidationError } from '../errors.ts';
import type { TemplateSource } from './compile.ts';
import type { PreviewResult } from './preview-pool.ts';
import { previewTemplate } from './preview.ts';

export async function preview(input: { source: TemplateSource; vars: unknown }): Promise<PreviewResult> {
  try {
    const out = await previewTemplate(input.source, input.vars);
    if ('problems' in out) return { kind: 'problems', problems: out.problems };
    return { kind: 'mail', subject: out.subject, html: out.html, text: out.text };
  } catch (err) {
    if (err instanceof ValidationError) return { kind: 'error', message: err.message };
    throw err;
  }
}
