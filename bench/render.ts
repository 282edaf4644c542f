// Mail rendering: every default template in both languages, round robin, with sample variables.
// (1) compiled once: the cached functions only; (2) renderTemplate() as the sender calls it, with
// its lookup of the published version in the database; (3) compiling MJML and eta for every mail,
// the cost the cache saves; (4) one template through renderTemplate as an admin's published
// version and as the shipped default, in alternating rounds (target: the admin's at most 2x the
// default's time); (5) propagation: another process renders in a loop while this one publishes
// new versions, and the time from each commit to that process's first render of it.
import { fork } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
    rounds: { type: 'string', default: '5' },
    'per-round': { type: 'string', default: '4000' },
    publishes: { type: 'string', default: '20' },
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

// (4) an admin's version against the default, the same template and content, alternating rounds
const store = createTemplateStore(db);
const ack = defaultSource('ack', 'en')!;
const ackVars = sampleVariables('ack');
const admin = await store.save({ ...ack, subject: `Admin: ${ack.subject}` });
const perRound = Number(values['per-round']);
const rounds: { defaultMs: number; adminMs: number; ratio: number }[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  await store.useDefault('ack', 'en');
  await renderTemplate(db, 'ack', 'en', ackVars);
  const asDefault = await timed(perRound, () => renderTemplate(db, 'ack', 'en', ackVars), concurrency);
  // a rollback to the admin's version: a new version, compiled on its first render (not timed)
  await store.publish('ack', 'en', admin.version);
  await renderTemplate(db, 'ack', 'en', ackVars);
  const asAdmin = await timed(perRound, () => renderTemplate(db, 'ack', 'en', ackVars), concurrency);
  const defaultMs = (asDefault.seconds * 1000) / perRound;
  const adminMs = (asAdmin.seconds * 1000) / perRound;
  rounds.push({
    defaultMs: Math.round(defaultMs * 1e4) / 1e4,
    adminMs: Math.round(adminMs * 1e4) / 1e4,
    ratio: round(adminMs / defaultMs),
  });
}
const adminVsDefault = {
  template: 'ack/en',
  perRound,
  concurrency,
  rounds,
  medianRatio: median(rounds.map((r) => r.ratio)),
  target: 2,
};

// (5) propagation to another process
const child = fork(path.join(import.meta.dirname, '_render-child.ts'), [database.url], { stdio: 'inherit' });
const seen: { subject: string; at: number }[] = [];
let waiting: (() => void) | undefined;
child.on('message', (m) => {
  seen.push(m as { subject: string; at: number });
  waiting?.();
});
const sawSubject = (part: string) =>
  new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child never rendered ${part}`)), 10_000);
    const check = () => {
      const hit = seen.find((s) => s.subject.includes(part));
      if (hit) {
        clearTimeout(timer);
        waiting = undefined;
        resolve(hit.at);
      }
    };
    waiting = check;
    check();
  });
await sawSubject('Admin:');
const delays: number[] = [];
for (let i = 0; i < Number(values.publishes); i++) {
  const marker = `P${i}x`;
  await store.save({ ...ack, subject: `${marker} ${ack.subject}` });
  const committed = performance.timeOrigin + performance.now();
  delays.push(round((await sawSubject(marker)) - committed));
  await sleep(50 + Math.random() * 100);
}
child.send('stop');
await new Promise((resolve) => child.once('exit', resolve));
const propagation = {
  publishes: delays.length,
  medianMs: median(delays),
  maxMs: Math.max(...delays),
  delaysMs: delays,
  target: 1000,
};

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
  adminVsDefault,
  propagation,
};
console.log(`compiled once:           ${once.mailsPerSec} mails/s (${once.mails} mails, ${once.seconds} s)`);
console.log(`renderTemplate with db:  ${lookedUp.mailsPerSec} mails/s (concurrency ${concurrency})`);
console.log(`MJML compiled per mail:  ${perMailCompile.mailsPerSec} mails/s (${perMailCompile.mails} mails)`);
console.log(
  `ratio: ${result.ratio}x (with the database lookup: ${result.ratioWithDb}x); compiling all ${jobs.length} defaults at start: ${startupMs} ms`,
);
console.log(
  `admin version vs default (ack/en, renderTemplate, concurrency ${concurrency}): ${rounds
    .map((r) => `${r.ratio}x`)
    .join(', ')}; median ${adminVsDefault.medianRatio}x (target <= 2x)`,
);
console.log(
  `propagation to another process: median ${propagation.medianMs} ms, max ${propagation.maxMs} ms over ${delays.length} publishes (target < 1000 ms)`,
);
console.log(`wrote ${await writeResult('render', result)}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : round((s[mid - 1]! + s[mid]!) / 2);
}

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
