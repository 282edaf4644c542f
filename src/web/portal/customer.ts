// The signed-in customer as the ticket pages need them: their account, their permissions as they
// are now (read on every request, so a change by an admin applies at once), and who they are to
// the tickets domain's visibility rule. Shared helpers of those pages: ids, dates, rate limits.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hit, type Limit } from '../../access/index.ts';
import type { PortalPermission } from '../../customers/index.ts';
import type { PortalAccount } from '../../portal/index.ts';
import { CUSTOMER_TICKET_TYPES, type CustomerViewer } from '../../tickets/index.ts';
import { type PortalContext, viewerOf } from './context.ts';
import { type Language, translate } from './i18n.ts';

export interface PortalCustomer {
  account: PortalAccount;
  perms: Record<PortalPermission, boolean>;
  viewer: CustomerViewer;
}

/**
 * The signed-in customer with portal access; else the answer is sent (the sign-in page, or a 403
 * for an account whose portal_access is off) and undefined comes back.
 */
export async function signedInCustomer(
  ctx: PortalContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<PortalCustomer | undefined> {
  const session = request.visitor.session;
  if (!session) {
    await reply.redirect('/portal/sign-in', 303);
    return undefined;
  }
  const { account } = session;
  // read with the session, as they are now: an admin's change applies at the next request
  const perms = session.permissions;
  if (!perms.portal_access) {
    await ctx.page(
      request,
      reply,
      'message',
      { title: ctx.t(request, 'portal.title'), text: ctx.t(request, 'access.denied') },
      403,
    );
    return undefined;
  }
  return {
    account,
    perms,
    viewer: viewerOf(account, perms),
  };
}

/** A ticket id from the path; undefined for anything else (a 404 like an unknown id). */
export function ticketId(param: string): number | undefined {
  return /^[1-9]\d{0,14}$/.test(param) ? Number(param) : undefined;
}

// how often a customer may write and change things: a person typing, with room for a burst
export const LIMITS = {
  reply: { max: 20, windowSeconds: 600 },
  newTicket: { max: 10, windowSeconds: 3600 },
  change: { max: 30, windowSeconds: 600 },
} as const satisfies Record<string, Limit>;

/** Counts one action of the customer; false when they are over its limit. */
export function allowed(ctx: PortalContext, what: keyof typeof LIMITS, customerId: number): Promise<boolean> {
  return hit(ctx.deps.db, `portal-${what}:customer:${customerId}`, LIMITS[what]);
}

// made once per language: a formatter costs far more to make than to use, and a label far more to
// format than to look up (the list page shows 25 a page, most of them the same times again and
// again). A language's labels are kept up to LABELS_KEPT, then started afresh.
const LABELS_KEPT = 10_000;
const formatters = new Map<Language, (d: Date) => string>();

/** A time as people read it in the page's language (UTC, said so). */
export function formatTime(lang: Language): (d: Date) => string {
  let format = formatters.get(lang);
  if (!format) {
    const f = new Intl.DateTimeFormat(lang === 'de' ? 'de-DE' : 'en-GB', {
      dateStyle: 'medium',
      timeStyle: 'short',
      timeZone: 'UTC',
    });
    const labels = new Map<number, string>();
    format = (d: Date) => {
      const ms = d.getTime();
      let label = labels.get(ms);
      if (label === undefined) {
        if (labels.size >= LABELS_KEPT) labels.clear();
        label = `${f.format(d)} UTC`;
        labels.set(ms, label);
      }
      return label;
    };
    formatters.set(lang, format);
  }
  return format;
}

/** A ticket's type as the page names it: ours translated, any other (set by an agent) as it is. */
export function typeLabel(lang: Language): (type: string | null) => string {
  return (type) =>
    !type
      ? ''
      : (CUSTOMER_TICKET_TYPES as readonly string[]).includes(type)
        ? translate(lang, `type.${type as (typeof CUSTOMER_TICKET_TYPES)[number]}`)
        : type;
}
