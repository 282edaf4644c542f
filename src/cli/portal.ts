// `inbound portal-users list|invite|activate|deactivate|export`: portal accounts as admins manage
// them, by the same rules as the API's /portal-users (portal/users.ts).
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import type { Knex } from '../db/index.ts';
import { NotFoundError } from '../errors.ts';
import { findCompanyByName } from '../companies/index.ts';
import { startBoss } from '../queue/index.ts';
import {
  activatePortalUser,
  addPortalUser,
  deactivatePortalUser,
  listPortalUsers,
  PORTAL_STATUSES,
  portalUserByAddress,
  reinvitePortalUser,
  type PortalStatus,
  type PortalUser,
} from '../portal/index.ts';
import { parseLimit, printJson, printTable, UsageError, withDatabase } from './common.ts';

const USAGE = `usage: inbound portal-users list [--status S] [--search TEXT] [--json] [--limit N]
       inbound portal-users invite <email> [--name N] [--company NAME] [--no-mail]
       inbound portal-users activate|deactivate <email>
       inbound portal-users export > file.csv`;

export async function portalUsersCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') return listCommand(config, rest);
  if (sub === 'invite') return inviteCommand(config, rest);
  if (sub === 'activate' || sub === 'deactivate') {
    const { positionals } = parseArgs({ args: rest, allowPositionals: true });
    if (positionals.length !== 1) throw new UsageError(USAGE);
    return withDatabase(config, async (db) => {
      const user = await portalUserByAddress(db, positionals[0]!);
      const done = await (sub === 'activate' ? activatePortalUser : deactivatePortalUser)(db, user.id);
      console.log(`${describe(done)}${sub === 'deactivate' ? ': signed out everywhere' : ''}`);
      return 0;
    });
  }
  if (sub === 'export') return (await import('./directory.ts')).portalUsersCommand(config, args);
  throw new UsageError(USAGE);
}

async function listCommand(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      status: { type: 'string' },
      search: { type: 'string' },
      json: { type: 'boolean' },
      limit: { type: 'string' },
    },
  });
  if (values.status !== undefined && !(PORTAL_STATUSES as readonly string[]).includes(values.status))
    throw new UsageError(`--status must be one of ${PORTAL_STATUSES.join(', ')}`);
  const limit = parseLimit(values.limit);
  return withDatabase(config, async (db) => {
    const rows = await listPortalUsers(db, {
      status: values.status as PortalStatus | undefined,
      q: values.search,
      limit,
    });
    if (values.json) printJson(rows);
    else
      printTable(
        rows.map((u) => ({
          id: u.id,
          name: u.name,
          email: u.email ?? '',
          status: u.portal_status,
          access: u.portal_access ? 'yes' : 'no',
          'last sign-in': u.last_sign_in_at?.toISOString() ?? '-',
        })),
      );
    return 0;
  });
}

/** A new account (invited), or a fresh invitation for one that has not set a password yet. */
async function inviteCommand(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { name: { type: 'string' }, company: { type: 'string' }, 'no-mail': { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError(USAGE);
  const email = positionals[0]!;
  return withDatabase(config, async (db, log, url) => {
    const companyId = values.company === undefined ? undefined : await companyIdOf(db, values.company);
    if (companyId === null) return 1;
    const boss = await startBoss({ url, worker: false, poolMax: 1, log });
    try {
      const known = await portalUserByAddress(db, email).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined; // a new customer
        throw err;
      });
      const mail = !values['no-mail'];
      const user =
        known?.portal_status === 'invited'
          ? mail
            ? await reinvitePortalUser(db, boss, known.id)
            : known
          : await addPortalUser(db, boss, { email, name: values.name, company_id: companyId, invite: mail }, 'cli');
      console.log(`${describe(user)}${mail ? ': invitation queued' : ''}`);
      return 0;
    } finally {
      await boss.stop({ graceful: false });
    }
  });
}

async function companyIdOf(db: Knex, name: string): Promise<number | null> {
  const c = await findCompanyByName(db, name);
  if (!c) console.error(`inbound: no company named ${name}`);
  return c?.id ?? null;
}

function describe(u: PortalUser): string {
  return `customer ${u.id} ${u.name} <${u.email ?? '?'}>: ${u.portal_status}`;
}
