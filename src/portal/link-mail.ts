// What a visitor may ask the portal to mail, and to whom: a password link (forgot password and
// "send me the invitation again" are one flow), a sign-in link, a sign-up link. The pages answer
// the same whatever the address and call these after the answer has gone, so neither the page
// nor its timing tells whether an address has an account. Each mail goes through the outbound
// queue; its link is made when it is sent (outbound/send.ts, by the kind's `link`). Asking makes
// nothing else: a sign-up's customer is found or made only when its link is used (links.ts).
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import type { Boss } from '../queue/index.ts';
import { enqueueOutbound, type OutboundKind } from '../outbound/index.ts';
import {
  effectivePermissions,
  isValidAddress,
  newCustomerFor,
  normalizeAddress,
  type PortalPermissions,
} from '../customers/index.ts';
import type { PortalStatus } from './accounts.ts';

/** The customer an address belongs to, as far as the portal is concerned. */
export interface PortalHolder {
  customerId: number;
  status: PortalStatus;
  /** portal_access: the customer's own setting, else their company's, else the default */
  portalAccess: boolean;
}

const HOLDER_COLUMNS = [
  'c.id',
  'c.portal_status',
  'c.portal_permissions',
  'co.portal_permissions as company_permissions',
] as const;

interface HolderRow {
  id: number;
  portal_status: PortalStatus;
  portal_permissions: PortalPermissions;
  company_permissions: PortalPermissions | null;
}

function toHolder(r: HolderRow): PortalHolder {
  return {
    customerId: Number(r.id),
    status: r.portal_status,
    portalAccess: effectivePermissions(r.portal_permissions ?? {}, r.company_permissions).portal_access,
  };
}

export async function holderByAddress(db: Db, address: string): Promise<PortalHolder | undefined> {
  const row = await db('customer_emails as e')
    .join('customers as c', 'c.id', 'e.customer_id')
    .leftJoin('companies as co', 'co.id', 'c.company_id')
    .where('e.address', normalizeAddress(address))
    .first<HolderRow | undefined>(...HOLDER_COLUMNS);
  return row && toHolder(row);
}

export async function holderById(db: Db, customerId: number): Promise<PortalHolder | undefined> {
  const row = await db('customers as c')
    .leftJoin('companies as co', 'co.id', 'c.company_id')
    .where('c.id', customerId)
    .first<HolderRow | undefined>(...HOLDER_COLUMNS);
  return row && toHolder(row);
}

/** May this customer sign in: an active account and portal access. */
export function maySignIn(h: PortalHolder | undefined): h is PortalHolder {
  return h?.status === 'active' && h.portalAccess;
}

async function mail(db: Knex, boss: Boss, kind: OutboundKind, recipient: string, customerId: number | undefined) {
  await db.transaction((trx) => enqueueOutbound(boss, trx, { kind, recipient, customerId }));
  return kind;
}

/**
 * Forgot password, or the invitation again: a fresh password link to the address asked for, as
 * `password_reset` for an active account and `portal_invite` for one still invited. Nothing for
 * an unknown address, a customer without an account, a disabled account or one without portal
 * access. Returns the kind mailed, if any.
 */
export async function mailPasswordLink(db: Knex, boss: Boss, address: string): Promise<OutboundKind | undefined> {
  const email = normalizeAddress(address);
  const h = isValidAddress(email) ? await holderByAddress(db, email) : undefined;
  if (!h?.portalAccess) return undefined;
  if (h.status === 'active') return mail(db, boss, 'password_reset', email, h.customerId);
  if (h.status === 'invited') return mail(db, boss, 'portal_invite', email, h.customerId);
  return undefined;
}

/** "Email me a sign-in link": only to an address of a customer who may sign in. */
export async function mailSignInLink(db: Knex, boss: Boss, address: string): Promise<OutboundKind | undefined> {
  const email = normalizeAddress(address);
  const h = isValidAddress(email) ? await holderByAddress(db, email) : undefined;
  return maySignIn(h) ? mail(db, boss, 'sign_in_link', email, h.customerId) : undefined;
}

/**
 * Would an address that is nobody's yet have portal access once it is a customer: the one customer
 * rule may place it, by its domain, in a company that keeps its customers out. Nothing is made.
 */
export async function newcomerMayUsePortal(db: Db, address: string): Promise<boolean> {
  const placed = await newCustomerFor(db, normalizeAddress(address), undefined);
  const company =
    placed.companyId === null
      ? null
      : ((await db('companies').where({ id: placed.companyId }).first('portal_permissions'))?.portal_permissions ??
        null);
  return effectivePermissions({}, company).portal_access;
}

/**
 * Self sign-up: the address gets a link to finish (name and password). Nothing is made now: the
 * link names the address, and its customer is found or made by the one customer rule only when
 * the link is used (links.ts), so nobody is made for an address its owner never proved. An unknown
 * address whose domain would place it in a company that keeps its customers out of the portal
 * gets nothing. An address with an active account gets a mail saying so instead (the kind's link
 * decides at send time); a disabled account or one without portal access gets nothing.
 */
export async function mailSignupLink(db: Knex, boss: Boss, address: string): Promise<OutboundKind | undefined> {
  const email = normalizeAddress(address);
  if (!isValidAddress(email)) return undefined;
  const h = await holderByAddress(db, email);
  if (h ? !h.portalAccess || h.status === 'disabled' : !(await newcomerMayUsePortal(db, email))) return undefined;
  return mail(db, boss, 'signup_link', email, h?.customerId);
}
