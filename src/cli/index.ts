// The `inbound` command line.
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { createLogger } from '../log.ts';
import { AppError } from '../errors.ts';
import { openDatabase } from '../setup.ts';
import {
  getTicket,
  listTickets,
  parseTicketRef,
  TICKET_STATUSES,
  type TicketDetail,
  type TicketStatus,
} from '../tickets/index.ts';
import { parseLimit, printJson, printTable, UsageError, withDatabase } from './common.ts';
import { createInboxStore } from '../inboxes/index.ts';
import { createRawMessageStore, RAW_STATUSES, type RawStatus } from '../ingest/index.ts';
import { ROLES, type Role } from '../roles.ts';
// main.ts (every role), inbound processing and the directory commands are imported where used:
// `customers import` then does not carry the mail parser and the web framework in memory.
const directory = () => import('./directory.ts');
const access = () => import('./access.ts');
const outbox = () => import('./outbox.ts');

const USAGE = `usage: inbound <command> [options]

  start [--roles smtp,worker,web]        run the server (all roles by default)
  migrate                                bring the database schema up to date
  inbox add <address> [--name N]         accept mail for an address
  inbox list [--json]
  messages list [--status S] [--json] [--limit N]
                                         raw messages as received (S: ${RAW_STATUSES.join(', ')})
  reprocess <id> | --all-quarantined     run processing of stored mail again (never a second ticket)
  tickets list [--status S] [--inbox ID] [--customer ID] [--company ID] [--before ID] [--limit N] [--json]
  tickets show <number|id:N> [--inbox A] [--json]
                                         a ticket with requester, followers, company and messages
  customers import <file.csv> [--dry-run] [--update-existing]
                                         add customers from a CSV (see README.md for the columns)
  customers export [--company NAME] > file.csv
  customers add <email> [--name N] [--company NAME]
  companies add <name> [--domain D]...   a company, with the email domains that place customers in it
  companies list [--json]
  portal-users list [--status S] [--search TEXT] [--json] [--limit N]
                                         customers with a portal account, status and last sign-in
  portal-users invite <email> [--name N] [--company NAME] [--no-mail]
                                         a portal account (a new customer if need be), invitation mailed
  portal-users activate|deactivate <email>
                                         deactivated: signed out everywhere at once
  portal-users export > file.csv         customers with a portal account, with status and last sign-in
  admin create <email> [--name N] [--password-stdin]
                                         an admin; prints a one-time link to set the password
  outbox list [--status S] [--json] [--limit N]
                                         mail we sent, are sending, kept (no OUTBOUND_SMTP_URL) or gave up on
  outbox show <id> [--raw]               one outbound mail; --raw prints it as sent
  token create --agent <email> [--name N]
                                         a new API token for an agent, printed once on stdout

Listings print a table, or with --json every matching row as one JSON array (--limit N caps it).
Configuration comes from environment variables; see README.md.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  switch (command) {
    case 'start':
      return startCommand(config, rest);
    case 'migrate':
      return withDatabase(config, async () => 0, { migrate: true });
    case 'inbox':
      return inboxCommand(config, rest);
    case 'messages':
      return messagesCommand(config, rest);
    case 'reprocess':
      return reprocessCommand(config, rest);
    case 'tickets':
      return ticketsCommand(config, rest);
    case 'customers':
      return (await directory()).customersCommand(config, rest);
    case 'companies':
      return (await directory()).companiesCommand(config, rest);
    case 'portal-users':
      return (await import('./portal.ts')).portalUsersCommand(config, rest);
    case 'admin':
      return (await access()).adminCommand(config, rest);
    case 'outbox':
      return (await outbox()).outboxCommand(config, rest);
    case 'token':
      return (await access()).tokenCommand(config, rest);
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

async function startCommand(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { roles: { type: 'string' } }, strict: true });
  const roles = parseRoles(values.roles);
  const log = createLogger(config.logLevel, 1);
  const database = await openDatabase(config, log);
  const { start } = await import('../main.ts');
  const running = await start(config, database, log, { roles, defaultInbox: database.embedded });
  const inboxes = (await createInboxStore(running.db).list()).filter((i) => i.enabled).map((i) => i.address);
  const smtp = running.smtp && `${running.smtp.address}:${running.smtp.port}`;
  const http = running.http && `http://${running.http.address}:${running.http.port}`;
  const local = (a: AddressInfo) =>
    `${a.address === '0.0.0.0' || a.address === '::' ? 'localhost' : a.address}:${a.port}`;
  log.info(
    {
      roles,
      smtp,
      http,
      inboxes,
      database: database.embedded ? `embedded (${database.location.replace(/ \(.*$/, '')})` : 'DATABASE_URL',
    },
    'inbound ready',
  );
  // One line for people, beside the JSON log on stdout.
  process.stderr.write(
    `${readyLine(running.smtp && local(running.smtp), running.http && local(running.http), inboxes, database.location)}\n`,
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await running.stop();
  await database.close();
  log.info('stopped');
  return 0;
}

function readyLine(smtp: string | undefined, http: string | undefined, inboxes: string[], data: string): string {
  const parts = [
    smtp &&
      `mail for ${inboxes.length ? inboxes.join(', ') : '(no inbox yet: inbound inbox add <address>)'} to smtp://${smtp}`,
    http && `web pages and API at http://${http}`,
    `data in ${data}`,
  ];
  return `Inbound is running: ${parts.filter(Boolean).join('; ')}.`;
}

function parseRoles(value: string | undefined): Role[] {
  if (!value) return [...ROLES];
  const roles = value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of roles) {
    if (!(ROLES as readonly string[]).includes(r))
      throw new UsageError(`unknown role '${r}' (roles: ${ROLES.join(', ')})`);
  }
  if (roles.length === 0) throw new UsageError('--roles needs at least one role');
  return [...new Set(roles)] as Role[];
}

async function inboxCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'add') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { name: { type: 'string' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw new UsageError('usage: inbound inbox add <address> [--name N]');
    return withDatabase(config, async (db) => {
      const inbox = await createInboxStore(db).add(positionals[0]!, values.name);
      console.log(`added inbox ${inbox.address} (${inbox.name}), id ${inbox.id}`);
      return 0;
    });
  }
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' }, limit: { type: 'string' } } });
    const limit = parseLimit(values.limit);
    return withDatabase(config, async (db) => {
      const rows = (await createInboxStore(db).list()).slice(0, limit);
      if (values.json) printJson(rows);
      else printTable(rows.map((i) => ({ id: i.id, address: i.address, name: i.name, enabled: i.enabled })));
      return 0;
    });
  }
  throw new UsageError('usage: inbound inbox add|list');
}

async function messagesCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'list') throw new UsageError('usage: inbound messages list [--status S] [--json] [--limit N]');
  const { values } = parseArgs({
    args: rest,
    options: { status: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' } },
  });
  const status = values.status;
  if (status !== undefined && !(RAW_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${RAW_STATUSES.join(', ')}`);
  }
  const limit = parseLimit(values.limit);
  return withDatabase(config, async (db) => {
    const rows = await createRawMessageStore(db).list({ status: status as RawStatus | undefined, limit });
    if (values.json) printJson(rows);
    else
      printTable(
        rows.map((m) => ({
          id: m.id,
          received: m.received_at.toISOString(),
          from: m.mail_from || '<>',
          to: m.rcpt_to.join(','),
          size: m.size,
          'message-id': m.message_id ?? '',
          status: m.status,
          outcome: m.outcome ?? '',
          error: m.error ?? '',
        })),
      );
    return 0;
  });
}

async function reprocessCommand(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { 'all-quarantined': { type: 'boolean' } },
    allowPositionals: true,
  });
  if (!values['all-quarantined'] && positionals.length === 0)
    throw new UsageError('usage: inbound reprocess <id>... | --all-quarantined');
  return withDatabase(config, async (db, log, url) => {
    const ids = values['all-quarantined']
      ? ((await db('raw_messages').where({ status: 'quarantined' }).orderBy('id').pluck('id')) as number[])
      : positionals.map((p) => {
          if (!/^\d+$/.test(p)) throw new UsageError(`not a message id: ${p}`);
          return Number(p);
        });
    const [{ inboundSettings }, { processRawMessage }, { createPgPool }] = await Promise.all([
      import('../main.ts'),
      import('../inbound/index.ts'),
      import('../db/index.ts'),
    ]);
    const pool = createPgPool(url, { poolMax: 1, applicationName: 'inbound-cli', log, pipeline: true });
    const ctx = { pool, log, settings: inboundSettings(config) };
    let failed = 0;
    try {
      for (const id of ids) {
        // a quarantined mail goes back to 'received'; a processed one is left as it is (idempotent)
        await db('raw_messages').where({ id, status: 'quarantined' }).update({ status: 'received' });
        const outcome = await processRawMessage(ctx, id, { finalAttempt: true });
        const row = await db('raw_messages').where({ id }).first('status', 'error', 'outcome');
        if (!row) {
          console.log(`${id}: no such message`);
          failed++;
          continue;
        }
        if (row.status === 'quarantined') failed++;
        console.log(
          `${id}: ${outcome === 'skipped' ? `unchanged (${row.status})` : outcome}${row.error ? ` - ${row.error}` : ''}`,
        );
      }
    } finally {
      await pool.end();
    }
    return failed > 0 ? 1 : 0;
  });
}

async function ticketsCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = parseArgs({
      args: rest,
      options: {
        status: { type: 'string' },
        inbox: { type: 'string' },
        customer: { type: 'string' },
        company: { type: 'string' },
        before: { type: 'string' },
        json: { type: 'boolean' },
        limit: { type: 'string' },
      },
    });
    if (values.status && !(TICKET_STATUSES as readonly string[]).includes(values.status)) {
      throw new UsageError(`--status must be one of ${TICKET_STATUSES.join(', ')}`);
    }
    // the API's filters, by the same names (ids); newest first, all of them unless --limit
    const filter = {
      status: values.status as TicketStatus | undefined,
      inbox_id: idOption('--inbox', values.inbox),
      customer_id: idOption('--customer', values.customer),
      company_id: idOption('--company', values.company),
      before: idOption('--before', values.before),
      limit: parseLimit(values.limit),
    };
    return withDatabase(config, async (db) => {
      const rows = await listTickets(db, filter);
      if (values.json) printJson(rows);
      else
        printTable(
          rows.map((t) => ({
            number: t.number,
            inbox: t.inbox,
            status: t.status,
            requester: t.requester ?? '',
            company: t.company ?? '',
            messages: t.messages,
            subject: t.subject,
            updated: t.last_message_at.toISOString(),
          })),
        );
      return 0;
    });
  }
  if (sub === 'show') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { json: { type: 'boolean' }, inbox: { type: 'string' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1)
      throw new UsageError('usage: inbound tickets show <number|id:N> [--inbox A] [--json]');
    return withDatabase(config, async (db) => {
      const ref = parseTicketRef(positionals[0]!, values.inbox);
      const t = ref && (await getTicket(db, ref));
      if (!t) {
        console.error(
          `inbound: no ticket ${positionals[0]}${values.inbox ? ` in ${values.inbox}` : ''} (several inboxes? add --inbox, or use id:N)`,
        );
        return 1;
      }
      if (values.json) printJson(t);
      else printTicket(t);
      return 0;
    });
  }
  throw new UsageError('usage: inbound tickets list|show');
}

/** An id given to an option, or undefined when the option is absent. */
function idOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d{0,15}$/.test(value)) throw new UsageError(`${name} takes an id (a positive whole number)`);
  return Number(value);
}

function printTicket(t: TicketDetail): void {
  const person = (p: TicketDetail['requester']) =>
    p
      ? `${p.name} <${p.email ?? '?'}>${p.alternate_emails.length ? ` (also ${p.alternate_emails.join(', ')})` : ''}`
      : '-';
  console.log(`#${t.number} [${t.status}] ${t.subject}`);
  console.log(`inbox:     ${t.inbox}`);
  console.log(`requester: ${person(t.requester)}`);
  console.log(`company:   ${t.company?.name ?? '-'}`);
  console.log(`followers: ${t.followers.map(person).join('; ') || '-'}`);
  if (t.needs_review) console.log('review:    a message failed sender authentication (DMARC)');
  for (const m of t.messages) {
    const auth = m.auth ? `spf=${m.auth.spf} dkim=${m.auth.dkim} dmarc=${m.auth.dmarc}` : 'auth=-';
    console.log(`\n--- ${m.created_at.toISOString()} ${m.from ?? '?'} ${m.message_id ?? ''}`);
    console.log(
      `    ${m.classification}${m.classification_reasons.length ? ` (${m.classification_reasons.join(', ')})` : ''}; ${auth}`,
    );
    if (m.attachments.length)
      console.log(
        `    attachments: ${m.attachments.map((a) => `${a.filename ?? '(unnamed)'} ${a.size} B`).join(', ')}`,
      );
    console.log(
      m.visible_text
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n'),
    );
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof AppError) {
      console.error(`inbound: ${err.message}`);
      process.exitCode = err instanceof ConfigError ? 78 : 2;
    } else {
      console.error('inbound: failed:', err);
      process.exitCode = 1;
    }
  },
);
