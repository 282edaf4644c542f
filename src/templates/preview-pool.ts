// Previews of a template being edited, compiled and rendered in a worker thread: MJML takes
// milliseconds per kilobyte on the thread that runs it, and the web role's event loop serves the
// portal, the API and the ticket pages too. One thread per process (previews are an admin's, and
// few), a time budget per preview (past it the thread is ended and piscina makes a new one), and
// the thread leaves when idle.
import { Piscina } from 'piscina';
import type { RenderedMail, TemplateSource } from './compile.ts';
import type { TemplateProblem } from './errors.ts';

/** A preview that takes longer than this is given up (the thread ends). */
const PREVIEW_BUDGET_MS = 10_000;

export type PreviewResult =
  | { kind: 'problems'; problems: TemplateProblem[] }
  | ({ kind: 'mail' } & RenderedMail)
  /** the variables did not fit the template (ours, not the admin's), or the budget ran out */
  | { kind: 'error'; message: string };

let pool: Piscina | undefined;

function threads(): Piscina {
  pool ??= new Piscina({
    filename: new URL('./preview-worker.ts', import.meta.url).href,
    name: 'preview',
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: 30_000,
    resourceLimits: { maxOldGenerationSizeMb: 256 },
  });
  return pool;
}

/** The template's problems, or the mail it renders with `vars`, worked out off the event loop. */
export async function previewInWorker(source: TemplateSource, vars: unknown): Promise<PreviewResult> {
  try {
    return (await threads().run({ source, vars }, { signal: AbortSignal.timeout(PREVIEW_BUDGET_MS) })) as PreviewResult;
  } catch (err) {
    if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError')
      return { kind: 'error', message: `the preview took longer than ${PREVIEW_BUDGET_MS / 1000} s and was stopped` };
    throw err;
  }
}

/** Ends the thread (tests and shutdown). */
export async function closePreviewPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}
