// Using the links the portal mails: a password link (24 hours) sets the password, a sign-in link
// (15 minutes) signs in, a sign-up link (24 hours) names the customer and sets the password. Each
// is single use: the token is spent in the same transaction as what it does, so two requests with
// one link cannot both succeed. Looking at a link (`peek`) spends nothing: a mail scanner that
// fetches it changes nothing. What signs the customer in afterwards is the page's (a session).
import type { Knex } from 'knex';
import { findToken, hashSecret, revokeTokens, type TokenPurpose, useToken } from '../access/index.ts';
import { passwordProblem, setPassword } from './accounts.ts';
import { holderById, maySignIn, type PortalHolder } from './link-mail.ts';

export type PortalLinkKind = 'password' | 'sign_in' | 'signup';

const PURPOSE: Record<PortalLinkKind, TokenPurpose> = {
  password: 'password_set',
  sign_in: 'sign_in',
  signup: 'signup',
};

const SECRET = /^[A-Za-z0-9_-]{43}$/;
export const MAX_NAME_LENGTH = 200;

/**
 * What a link is now: live (with its customer), `gone` (unknown, expired, used or revoked) or
 * `refused` (live, but its customer may not use the portal: a disabled account, no portal access).
 */
export type LinkState =
  | { state: 'live'; tokenId: number; customerId: number; holder: PortalHolder }
  | { state: 'gone' }
  | { state: 'refused' };

export async function peekLink(db: Knex, kind: PortalLinkKind, secret: string): Promise<LinkState> {
  const token = SECRET.test(secret) ? await findToken(db, PURPOSE[kind], secret) : undefined;
  if (token?.customer_id == null) return { state: 'gone' };
  const holder = await holderById(db, Number(token.customer_id));
  if (!holder) return { state: 'gone' };
  if (!mayUse(kind, holder)) return { state: 'refused' };
  return { state: 'live', tokenId: Number(token.id), customerId: holder.customerId, holder };
}

/** A sign-in link needs an account that may sign in; the others make one active (never a disabled one). */
function mayUse(kind: PortalLinkKind, h: PortalHolder): boolean {
  if (kind === 'sign_in') return maySignIn(h);
  return h.portalAccess && h.status !== 'disabled';
}

export type LinkResult = { ok: true; customerId: number } | { ok: false; state: 'gone' | 'refused' };

/**
 * Spends a link and does what it is for, in one transaction: the password (and, for a sign-up,
 * the name) is set only if this request spent the token. The other password and sign-up links of
 * the customer stop working too. Check the password with passwordProblem first.
 */
export async function useLink(
  db: Knex,
  kind: PortalLinkKind,
  secret: string,
  input: { password?: string; name?: string } = {},
): Promise<LinkResult> {
  return db.transaction(async (trx) => {
    const link = await peekLink(trx, kind, secret);
    if (link.state !== 'live') return { ok: false, state: link.state };
    if (!(await useToken(trx, link.tokenId))) return { ok: false, state: 'gone' };
    const customerId = link.customerId;
    if (kind === 'signup' && input.name !== undefined) {
      await trx('customers')
        .where({ id: customerId })
        .update({ name: input.name.trim().slice(0, MAX_NAME_LENGTH), updated_at: trx.fn.now() });
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
    }
    return { ok: true, customerId };
  });
}
