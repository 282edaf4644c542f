// Using the links the portal mails: a password link (24 hours) sets the password, a sign-in link
// (15 minutes) signs in, a sign-up link (24 hours) names the customer and sets the password. A
// sign-up link names the address it was mailed to: its customer is found or made (by the one
// customer rule) only when it is used, as that is when the address is proved. Each
// is single use: the token is spent in the same transaction as what it does, so two requests with
// one link cannot both succeed. Looking at a link (`peek`) spends nothing: a mail scanner that
// fetches it changes nothing. What signs the customer in afterwards is the page's (a session).
import type { Knex } from 'knex';
import { findToken, revokeTokens, type TokenPurpose, useToken } from '../access/index.ts';
import { findOrCreateCustomer } from '../customers/index.ts';
import { passwordProblem, setPassword } from './accounts.ts';
import { holderByAddress, holderById, maySignIn, newcomerMayUsePortal, type PortalHolder } from './link-mail.ts';

export type PortalLinkKind = 'password' | 'sign_in' | 'signup';

const PURPOSE: Record<PortalLinkKind, TokenPurpose> = {
  password: 'password_set',
  sign_in: 'sign_in',
  signup: 'signup',
};

const SECRET = /^[A-Za-z0-9_-]{43}$/;
export const MAX_NAME_LENGTH = 200;

/**
 * What a link is now: live (with its customer; a sign-up link with its address, and its customer
 * only if the address is somebody's already), `gone` (unknown, expired, used or revoked) or
 * `refused` (live, but its customer may not use the portal: a disabled account, no portal access,
 * or for a new address a company that keeps its customers out).
 */
export type LinkState =
  | { state: 'live'; tokenId: number; customerId: number; holder: PortalHolder; address?: string }
  | { state: 'live'; tokenId: number; customerId: undefined; holder: undefined; address: string }
  | { state: 'gone' }
  | { state: 'refused' };

export async function peekLink(db: Knex, kind: PortalLinkKind, secret: string): Promise<LinkState> {
  const token = SECRET.test(secret) ? await findToken(db, PURPOSE[kind], secret) : undefined;
  if (!token) return { state: 'gone' };
  const tokenId = Number(token.id);
  if (token.customer_id != null) {
    const holder = await holderById(db, Number(token.customer_id));
    if (!holder) return { state: 'gone' };
    if (!mayUse(kind, holder)) return { state: 'refused' };
    return { state: 'live', tokenId, customerId: holder.customerId, holder };
  }
  if (kind !== 'signup' || token.address == null) return { state: 'gone' };
  // a sign-up link: whoever the address belongs to now, if anybody
  const address = token.address;
  const holder = await holderByAddress(db, address);
  if (holder)
    return mayUse(kind, holder)
      ? { state: 'live', tokenId, customerId: holder.customerId, holder, address }
      : { state: 'refused' };
  if (!(await newcomerMayUsePortal(db, address))) return { state: 'refused' };
  return { state: 'live', tokenId, customerId: undefined, holder: undefined, address };
}

/** A sign-in link needs an account that may sign in; the others make one active (never a disabled one). */
function mayUse(kind: PortalLinkKind, h: PortalHolder): boolean {
  if (kind === 'sign_in') return maySignIn(h);
  return h.portalAccess && h.status !== 'disabled';
}

export type LinkResult = { ok: true; customerId: number } | { ok: false; state: 'gone' | 'refused' };

/** Ends useLink's transaction unchanged: the customer it found or made may not use the portal. */
class Refused extends Error {}

/**
 * Spends a link and does what it is for, in one transaction: the password (and, for a sign-up,
 * the name) is set only if this request spent the token. A sign-up link for an address that is
 * nobody's makes its customer now, by the one customer rule (via 'portal'). The other password and
 * sign-up links of the customer (and of its addresses) stop working too. Check the password with
 * passwordProblem first.
 */
export async function useLink(
  db: Knex,
  kind: PortalLinkKind,
  secret: string,
  input: { password?: string; name?: string } = {},
): Promise<LinkResult> {
  const spent = db.transaction(async (trx): Promise<LinkResult> => {
    const link = await peekLink(trx, kind, secret);
    if (link.state !== 'live') return { ok: false, state: link.state };
    if (!(await useToken(trx, link.tokenId))) return { ok: false, state: 'gone' };
    const name = input.name?.trim().slice(0, MAX_NAME_LENGTH);
    let customerId: number;
    if (link.customerId !== undefined) customerId = link.customerId;
    else {
      // the address is proved now: its customer is found or made (its domain may place it)
      const { customer } = await findOrCreateCustomer(trx, link.address, name || undefined, {
        via: 'portal',
        event: { signup: true },
      });
      customerId = customer.id;
      // made by another request meanwhile, or placed where the portal is closed: nothing changes
      const holder = await holderById(trx, customerId);
      if (!holder || !mayUse(kind, holder)) throw new Refused();
    }
    if (kind === 'signup' && name !== undefined) {
      await trx('customers').where({ id: customerId }).update({ name, updated_at: trx.fn.now() });
    }
    if (kind !== 'sign_in') {
      const password = input.password ?? '';
      const problem = passwordProblem(password);
      if (problem) throw new Error(`useLink: check the password first (${problem})`);
      // ends every session the customer had: whoever knew the old password is out
      await setPassword(trx, customerId, password);
      await revokeTokens(trx, 'password_set', { customerId });
      await revokeTokens(trx, 'signup', { customerId });
      await revokeTokens(trx, 'sign_in', { customerId });
      // sign-up links name an address: those mailed to any of the customer's die too
      for (const { address } of await trx('customer_emails').where({ customer_id: customerId }).select('address'))
        await revokeTokens(trx, 'signup', { address });
    }
    return { ok: true, customerId };
  });
  // a refusal found only once the customer was made: the transaction (the token too) rolled back
  return spent.catch((err: unknown) => {
    if (err instanceof Refused) return { ok: false, state: 'refused' } as const;
    throw err;
  });
}
