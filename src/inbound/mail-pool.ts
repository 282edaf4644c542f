// Worker threads for the CPU work on mail content (analyse.ts), with a time budget per mail.
//
// Mails wait in one queue and go to the threads in batches, as commits do in the ingest: while
// every thread is busy, new mail waits, and the next free thread takes all of it (up to
// MAX_BATCH) as one task. Sending each mail as a task of its own cost more in messaging than
// parsing it, on a small machine. The thread notes in shared memory which mail it is on and since
// when; a watchdog here ends the task when one mail runs past its budget. That terminates the
// thread (piscina replaces it), the mail comes back as over budget (to be quarantined), and the
// batch's other mails go back to the head of the queue. SMTP, the web and the other threads go on
// meanwhile: none of this runs on the event loop. One pool per process, a thread per core.
import os from 'node:os';
import { Piscina } from 'piscina';
import { type Analysed, type AnalyseInput, revive } from './analyse.ts';

/** What a thread may hold: a mail is at most tens of MB, and its parse a few times that. */
const THREAD_HEAP_MB = 512;
/** Mails per task at most. */
const MAX_BATCH = 64;

export class BudgetExceeded extends Error {
  override readonly name = 'BudgetExceeded';
}

interface Waiting {
  input: AnalyseInput;
  budgetMs: number;
  /** after a batch failed for no reason of the mail's: try it in a task of its own */
  alone?: boolean;
  resolve: (a: Analysed | BudgetExceeded) => void;
  reject: (err: unknown) => void;
}

const size = () => Math.max(1, Number(process.env.INBOUND_MAIL_THREADS) || os.availableParallelism());

let pool: Piscina | undefined;
const queue: Waiting[] = [];
let running = 0;

function threads(): Piscina {
  pool ??= new Piscina({
    filename: new URL('./analyse.ts', import.meta.url).href,
    name: 'analyseMany',
    minThreads: size(),
    maxThreads: size(),
    // idle threads go, so a process that stops processing mail does not keep them
    idleTimeout: 30_000,
    resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
  });
  return pool;
}

/**
 * Parses, classifies and renders each mail in a worker thread; a mail that takes longer than
 * `budgetMs` (or more memory than a thread has) comes back as a BudgetExceeded in its place.
 */
export function analyseInPool(inputs: AnalyseInput[], budgetMs: number): Promise<(Analysed | BudgetExceeded)[]> {
  const done = inputs.map(
    (input) =>
      new Promise<Analysed | BudgetExceeded>((resolve, reject) => queue.push({ input, budgetMs, resolve, reject })),
  );
  pump();
  return Promise.all(done);
}

function pump(): void {
  while (running < size() && queue.length > 0) {
    const alone = queue.findIndex((w) => w.alone);
    const batch = alone >= 0 ? queue.splice(alone, 1) : queue.splice(0, MAX_BATCH);
    running++;
    void runBatch(batch).finally(() => {
      running--;
      pump();
    });
  }
}

async function runBatch(batch: Waiting[]): Promise<void> {
  const progress = new SharedArrayBuffer(16);
  const now = new Float64Array(progress);
  now[0] = -1;
  const controller = new AbortController();
  const budget = Math.min(...batch.map((w) => w.budgetMs));
  // the mail over budget, as the watchdog saw it (the thread may move on while it is ended)
  let offender = -1;
  const watchdog = setInterval(
    () => {
      const k = now[0]!;
      if (k >= 0 && Date.now() - now[1]! > batch[k]!.budgetMs && offender < 0) {
        offender = k;
        controller.abort();
      }
    },
    Math.max(5, Math.min(250, budget / 10)),
  );
  try {
    // Each mail's bytes in a buffer of their own, moved to the thread rather than copied: a
    // driver's Buffer is often a view into a larger one, which a copy would carry whole.
    const mails = batch.map((w) => ({ ...w.input, raw: new Uint8Array(w.input.raw) }));
    const out: Analysed[] = await threads().run(
      { mails, progress },
      { signal: controller.signal, transferList: mails.map((m) => m.raw.buffer) },
    );
    for (const [k, r] of out.entries()) batch[k]!.resolve(revive(r));
  } catch (err) {
    const oom = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
    const k = controller.signal.aborted ? offender : oom ? now[0]! : -1;
    if (k < 0) {
      // not one mail's doing that we know of: alone, each mail shows whether it was its own
      if (batch.length === 1) batch[0]!.reject(err);
      else queue.unshift(...batch.map((w) => ({ ...w, alone: true })));
      return;
    }
    const over = batch[k]!;
    over.resolve(
      new BudgetExceeded(
        oom ? `memory budget exceeded (${THREAD_HEAP_MB} MB)` : `time budget exceeded (${over.budgetMs} ms)`,
      ),
    );
    // the others were not at fault: first in line again
    queue.unshift(...batch.filter((_, j) => j !== k));
  } finally {
    clearInterval(watchdog);
  }
}

/**
 * Starts the threads and has each load the parsing code and analyse a few mails of the usual
 * kinds, so that the first real mails find them loaded and compiled (cold, the first mails of a
 * fresh process took over a second).
 */
export async function warmMailPool(): Promise<void> {
  const mail = (i: number) =>
    Buffer.from(
      [
        `From: Warm Up <warm${i}@warm.invalid>`,
        'To: support@localhost',
        `Subject: Re: [#${i}] warming up`,
        `Message-ID: <warm${i}@warm.invalid>`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/alternative; boundary="w"',
        '',
        '--w',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Thanks, that works.\n\nOn Mon, 1 Jan 2026, Support wrote:\n> Try again.\n\n-- \nWarm',
        '--w',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<p>Thanks, <b>that works</b>.</p><blockquote>Try again.</blockquote>',
        '--w--',
        '',
      ].join('\r\n'),
    );
  const mails = Array.from({ length: 20 }, (_, i) => ({
    raw: mail(i),
    mailFrom: `warm${i}@warm.invalid`,
    rcptTo: ['support@localhost'],
    ownMessageIdDomains: [],
    loopHeader: 'X-Warm',
  }));
  await Promise.all(
    Array.from({ length: size() }, () => threads().run({ mails, progress: new SharedArrayBuffer(16) })),
  );
}

/** Ends the threads; the next mail starts them again. */
export async function closeMailPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}
