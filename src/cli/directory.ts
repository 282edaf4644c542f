// `inbound customers import|export|add`, `companies add|list`, `portal-users export`.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { Config } from '../config.ts';
import type { Knex } from '../db/index.ts';
import type { CustomerView } from '../customers/index.ts';
import { importCustomers, type ImportSummary } from '../customers/index.ts';
import { exportCustomers } from '../customers/index.ts';
import { createCompany, findCompanyByName, listCompanies } from '../companies/index.ts';
import { printJson, printTable, UsageError, withDatabase } from './common.ts';

export async function customersCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'import') return importCommand(config, rest);
  if (sub === 'export') {
    const { values } = parseArgs({ args: rest, options: { company: { type: 'string' } } });
    return withDatabase(config, async (db) => {
      const companyId = values.company === undefined ? undefined : await companyIdOf(db, values.company);
      if (companyId === null) return 1;
      const n = await exportCustomers(db, process.stdout, { companyId });
      console.error(`exported ${n} customer${n === 1 ? '' : 's'}`);
      return 0;
    });
  }
  if (sub === 'add') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { name: { type: 'string' }, company: { type: 'string' }, 'send-welcome': { type: 'boolean' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1)
      throw new UsageError('usage: inbound customers add <email> [--name N] [--company NAME] [--send-welcome]');
    return withDatabase(config, async (db, log, url) => {
      const companyId = values.company === undefined ? undefined : await companyIdOf(db, values.company);
      if (companyId === null) return 1;
      // the customer service and the queue (for --send-welcome) are loaded for this command only
      const [{ createCustomer }, { startBoss }] = await Promise.all([
        import('../customers/index.ts'),
        import('../queue/index.ts'),
      ]);
      const boss = await startBoss({ url, worker: false, poolMax: 1, log });
      try {
        const c = await createCustomer(
          db,
          boss,
          { email: positionals[0]!, name: values.name, company_id: companyId, send_welcome: values['send-welcome'] },
          'cli',
        );
        console.log(`added customer ${c.id}: ${describe(c)}`);
        return 0;
      } finally {
        await boss.stop({ graceful: false });
      }
    });
  }
  throw new UsageError('usage: inbound customers import|export|add');
}

export async function portalUsersCommand(config: Config, args: string[]): Promise<number> {
  if (args[0] !== 'export' || args.length !== 1) throw new UsageError('usage: inbound portal-users export > file.csv');
  return withDatabase(config, async (db) => {
    const n = await exportCustomers(db, process.stdout, { portalUsers: true });
    console.error(`exported ${n} portal user${n === 1 ? '' : 's'}`);
    return 0;
  });
}

export async function companiesCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'add') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { domain: { type: 'string', multiple: true } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw new UsageError('usage: inbound companies add <name> [--domain D]...');
    return withDatabase(config, async (db) => {
      const c = await createCompany(db, { name: positionals[0]!, domains: values.domain });
      console.log(`added company ${c.id}: ${c.name}${c.domains.length ? ` (${c.domains.join(', ')})` : ''}`);
      return 0;
    });
  }
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } });
    return withDatabase(config, async (db) => {
      const rows = [];
      for (let after: number | undefined; ; ) {
        const page = await listCompanies(db, { after, limit: 1000 });
        rows.push(...page);
        if (page.length < 1000) break;
        after = page[page.length - 1]!.id;
      }
      if (values.json) printJson(rows);
      else printTable(rows.map((c) => ({ id: c.id, name: c.name, domains: c.domains.join(', ') })));
      return 0;
    });
  }
  throw new UsageError('usage: inbound companies add|list');
}

async function importCommand(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { 'dry-run': { type: 'boolean' }, 'update-existing': { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1)
    throw new UsageError('usage: inbound customers import <file.csv> [--dry-run] [--update-existing]');
  const file = positionals[0]!;
  const size = (
    await stat(file).catch(() => {
      throw new UsageError(`cannot read ${file}`);
    })
  ).size;
  return withDatabase(config, async (db) => {
    const progress = progressReporter(size);
    let summary: ImportSummary;
    try {
      summary = await importCustomers(db, createReadStream(file), {
        dryRun: values['dry-run'],
        updateExisting: values['update-existing'],
        onProgress: progress.update,
      });
    } finally {
      progress.stop();
    }
    for (const e of summary.errors) console.log(`line ${e.line}${e.email ? ` (${e.email})` : ''}: ${e.reason}`);
    console.log(
      `${summary.dry_run ? 'dry run, nothing changed: would have ' : ''}created ${summary.created}, updated ${summary.updated}, skipped ${summary.skipped}, failed ${summary.failed}`,
    );
    return summary.failed > 0 ? 1 : 0;
  });
}

/** A progress bar on a terminal; plain progress lines (every few seconds) otherwise. */
function progressReporter(totalBytes: number) {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: 'importing [{bar}] {percentage}% | {rows} rows | {eta_formatted} left',
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(totalBytes, 1), 0, { rows: 0 });
    return {
      update: (p: { rows: number; bytes: number }) => bar.update(p.bytes, { rows: p.rows }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update: (p: { rows: number; bytes: number }) => {
      if (Date.now() - last < 2000 && p.bytes < totalBytes) return;
      last = Date.now();
      console.error(`importing: ${p.rows} rows, ${Math.round((100 * p.bytes) / Math.max(totalBytes, 1))}%`);
    },
    stop: () => undefined,
  };
}

/** The id of the company with this name, or null (after saying so) when there is none. */
async function companyIdOf(db: Knex, name: string): Promise<number | null> {
  const c = await findCompanyByName(db, name);
  if (!c) console.error(`inbound: no company named ${name}`);
  return c?.id ?? null;
}

function describe(c: CustomerView): string {
  return `${c.name} <${c.email}>${c.company_id ? `, company ${c.company_id} (${c.company_source})` : ''}`;
}
