// Mail rendering: every default template in both languages, round robin, with sample variables.
// (1) compiled once: the cached functions only; (2) renderTemplate() as the sender calls it, with
// its lookup of the published version in the database; (3) compiling MJML and eta for every mail,
// the cost the cache saves.
import { parseArgs } from 'node:util';
import { createDb } from '../src/db/index.ts';
import {
  clearTemplateCache,
  compileDefaultTemplates,
  compileTemplate,
  createTemplateStore,
  defaultSource,
  DEFAULT_LOCALES,
  renderTemplate,
  sampleVariables,
  TEMPLATE_NAMES,
} from '../src/templates/index.ts';
import { benchDatabase, log, round, writeResult } from './_support.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    mails: { type: 'string', default: '20000' },
    'per-mail': { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
  },
});
const mails = Number(values.mails);
const perMail = Number(values['per-mail']);
const concurrency = Number(values.concurrency);

const jobs = TEMPLATE_NAMES.flatMap((name) =>
  DEFAULT_LOCALES.map((locale) => ({
    name,
    locale,
    vars: sampleVariables(name),
    source: defaultSource(name, locale)!,
  })),
);
const job = (i: number) => jobs[i % jobs.length]!;

const t0 = performance.now();
await compileDefaultTemplates();
const startupMs = round(performance.now() - t0);

// (1) compiled once
const compiled = await Promise.all(jobs.map((j) => compileTemplate(j.source)));
let bytes = 0;
const once = await timed(mails, async (i) => {
  bytes += compiled[i % compiled.length]!.render(job(i).vars).html.length;
});

// (2) the sender's path, with an admin override in the mix
const database = await benchDatabase();
const db = createDb(database.url, { poolMax: concurrency + 2, log });
const en = defaultSource('agent_reply', 'en')!;
await createTemplateStore(db).save({ ...en, subject: `Re: ${en.subject}` });
const lookedUp = await timed(mails, (i) => renderTemplate(db, job(i).name, job(i).locale, job(i).vars), concurrency);
await db.destroy();
await database.drop();

// (3) compiled for every mail
clearTemplateCache();
const perMailCompile = await timed(perMail, async (i) => {
  (await compileTemplate(job(i).source)).render(job(i).vars);
});

const result = {
  templates: jobs.length,
  averageHtmlBytes: Math.round(bytes / mails),
  startupCompileAllMs: startupMs,
  compiledOnce: once,
  renderTemplateWithDb: { ...lookedUp, concurrency },
  compilePerMail: perMailCompile,
  ratio: round(once.mailsPerSec / perMailCompile.mailsPerSec),
  ratioWithDb: round(lookedUp.mailsPerSec / perMailCompile.mailsPerSec),
};
console.log(`compiled once:           ${once.mailsPerSec} mails/s (${once.mails} mails, ${once.seconds} s)`);
console.log(`renderTemplate with db:  ${lookedUp.mailsPerSec} mails/s (concurrency ${concurrency})`);
console.log(`MJML compiled per mail:  ${perMailCompile.mailsPerSec} mails/s (${perMailCompile.mails} mails)`);
console.log(
  `ratio: ${result.ratio}x (with the database lookup: ${result.ratioWithDb}x); compiling all ${jobs.length} defaults at start: ${startupMs} ms`,
);
console.log(`wrote ${await writeResult('render', result)}`);

async function timed(
  n: number,
  fn: (i: number) => Promise<unknown>,
  parallel = 1,
): Promise<{ mails: number; seconds: number; mailsPerSec: number }> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { mails: n, seconds: round(seconds), mailsPerSec: Math.round(n / seconds) };
}
