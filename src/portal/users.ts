// Portal users as admins manage them (API and CLI): list and search customers with their portal
// status and last sign-in; add one (an existing customer, or a new one by address, made by the
// customers domain's one rule), with or without the invitation mail; invite again; activate;
// deactivate (signed out everywhere at once). The CSV export is the customers domain's
// (exportCustomers with portalUsers).
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import type { Boss } from '../queue/index.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { enqueueOutbound } from '../outbound/index.ts';
import {
  createCustomer,
  effectivePermissions,
  findCustomerByAddress,
  normalizeAddress,
  type PortalPermissions,
} from '../customers/index.ts';
import { activate, deactivate, type PortalStatus } from './accounts.ts';

export interface PortalUser {
  id: number;
  name: string;
  email: string | null;
  company_id: number | null;
  portal_status: PortalStatus;
  /** portal_access as it applies: the customer's own setting, else the company's, else the default */
  portal_access: boolean;
  last_sign_in_at: Date | null;
  created_at: Date;
}

export interface PortalUserFilter {
  /** one status; by default every customer with an account (any status but 'none') */
  status?: PortalStatus;
  /** part of a name or of any address */
  q?: string;
  /** the last id of the previous page */
  after?: number;
  limit?: number;
}

const SELECT = `SELECT c.id, c.name,
    (SELECT e.address FROM customer_emails e WHERE e.customer_id = c.id AND e.is_primary) AS email,
    c.company_id, c.portal_status, c.portal_permissions, co.portal_permissions AS company_permissions,
    c.last_sign_in_at, c.created_at
  FROM customers c LEFT JOIN companies co ON co.id = c.company_id`;

interface Row extends Omit<PortalUser, 'portal_access'> {
  portal_permissions: PortalPermissions;
  company_permissions: PortalPermissions | null;
}

function toUser({ portal_permissions, company_permissions, ...r }: Row): PortalUser {
  return {
    ...r,
    id: Number(r.id),
    company_id: r.company_id === null ? null : Number(r.company_id),
    portal_access: effectivePermissions(portal_permissions ?? {}, company_permissions).portal_access,
  };
}

/** A page of portal users by id. */
export async function listPortalUsers(db: Db, f: PortalUserFilter = {}): Promise<PortalUser[]> {
  const where: string[] = [];
  const values: Knex.Value[] = [];
  if (f.status) {
    where.push('c.portal_status = ?');
    values.push(f.status);
  } else where.push(`c.portal_status <> 'none'`);
  if (f.after !== undefined) {
    where.push('c.id > ?');
    values.push(f.after);
  }
  if (f.q) {
    const like = `%${f.q.replace(/[\\%_]/g, '\\$&')}%`;
    where.push(
      `(c.name ILIKE ? OR EXISTS (SELECT 1 FROM customer_emails e WHERE e.customer_id = c.id AND e.address LIKE lower(?)))`,
    );
    values.push(like, like);
  }
  const limit = f.limit === undefined ? '' : 'LIMIT ?';
  const { rows } = await db.raw<{ rows: Row[] }>(`${SELECT} WHERE ${where.join(' AND ')} ORDER BY c.id ${limit}`, [
    ...values,
    ...(f.limit === undefined ? [] : [f.limit]),
  ]);
  return rows.map(toUser);
}

export async function getPortalUser(db: Db, id: number): Promise<PortalUser> {
  const { rows } = await db.raw<{ rows: Row[] }>(`${SELECT} WHERE c.id = ?`, [id]);
  if (!rows[0]) throw new NotFoundError(`no customer ${id}`);
  return toUser(rows[0]);
}

/** The customer an address (any of theirs) belongs to, as a portal user. */
export async function portalUserByAddress(db: Db, address: string): Promise<PortalUser> {
  const c = await findCustomerByAddress(db, address);
  if (!c) throw new NotFoundError(`no customer has the address ${normalizeAddress(address)}`);
  return getPortalUser(db, c.id);
}

export interface AddPortalUser {
  /** an existing customer ... */
  customer_id?: number;
  /** ... or an address: its customer, or a new one (with `name` and `company_id`, as customers are created) */
  email?: string;
  name?: string;
  company_id?: number | null;
  /** mail the invitation (a password link, 24 hours) now; without it they can ask for it at sign-in */
  invite: boolean;
}

/**
 * Gives a customer a portal account: invited until they set their password. A customer who has
 * an account already (active or disabled) is a conflict; one without portal access is refused.
 */
export async function addPortalUser(
  db: Knex,
  boss: Boss,
  input: AddPortalUser,
  via: 'api' | 'cli' = 'api',
): Promise<PortalUser> {
  if ((input.customer_id === undefined) === (input.email === undefined))
    throw new ValidationError('give either customer_id or email');
  return db.transaction(async (trx) => {
    let id = input.customer_id;
    if (input.email !== undefined) {
      const existing = await findCustomerByAddress(trx, input.email);
      id =
        existing?.id ??
        (await createCustomer(trx, boss, { email: input.email, name: input.name, company_id: input.company_id }, via))
          .id;
    }
    const user = await getPortalUser(trx, id!);
    if (user.portal_status === 'active' || user.portal_status === 'disabled')
      throw new ConflictError(`customer ${user.id} has a portal account already (${user.portal_status})`, {
        customer_id: user.id,
        portal_status: user.portal_status,
      });
    return invite(trx, boss, user, input.invite);
  });
}

/** A fresh invitation mail to a customer who has not set a password yet. */
export async function reinvitePortalUser(db: Knex, boss: Boss, id: number): Promise<PortalUser> {
  return db.transaction(async (trx) => {
    const user = await getPortalUser(trx, id);
    if (user.portal_status === 'active')
      throw new ConflictError(`customer ${id} is active already: they can reset their password at sign-in`, {
        portal_status: user.portal_status,
      });
    if (user.portal_status === 'disabled')
      throw new ConflictError(`customer ${id} is deactivated: activate them first`, {
        portal_status: user.portal_status,
      });
    return invite(trx, boss, user, true);
  });
}

async function invite(trx: Knex.Transaction, boss: Boss, user: PortalUser, mail: boolean): Promise<PortalUser> {
  if (!user.portal_access)
    throw new ValidationError(`customer ${user.id} has no portal access (portal_permissions.portal_access)`, {
      customer_id: user.id,
    });
  if (mail && !user.email) throw new ValidationError(`customer ${user.id} has no address to invite`);
  await trx('customers')
    .where({ id: user.id, portal_status: 'none' })
    .update({ portal_status: 'invited', updated_at: trx.fn.now() });
  if (mail) await enqueueOutbound(boss, trx, { kind: 'portal_invite', recipient: user.email!, customerId: user.id });
  return getPortalUser(trx, user.id);
}

/** A deactivated account may sign in again (active with a password, else invited). */
export async function activatePortalUser(db: Db, id: number): Promise<PortalUser> {
  const user = await getPortalUser(db, id);
  if (user.portal_status === 'none') throw new ConflictError(`customer ${id} has no portal account: add them first`);
  await activate(db, id);
  return getPortalUser(db, id);
}

/** Deactivates the account: signed out everywhere at once, and no sign-in until activated. */
export async function deactivatePortalUser(db: Db, id: number): Promise<PortalUser> {
  const user = await getPortalUser(db, id);
  if (user.portal_status === 'none') throw new ConflictError(`customer ${id} has no portal account`);
  await deactivate(db, id);
  return getPortalUser(db, id);
}
