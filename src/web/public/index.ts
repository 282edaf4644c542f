// The public ticket page behind a magic link (/t/<secret>): the ticket's public conversation,
// attachments, a reply form, closing, and a fresh link by mail when the link has expired. A link
// is mailed to one customer of one ticket, and the page posts as that customer only; links from
// before links named their customer show the conversation and answer a reply with a fresh link. Server-rendered with eta; every form carries a CSRF token; replies
// and resends are rate limited; nothing here names an address or shows an internal note.
import { createHmac, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { Eta } from 'eta';
import type { Boss } from '../../queue/index.ts';
import type { Logger } from '../../log.ts';
import { findToken, hashSecret, issueToken } from '../../access/index.ts';
import { clientKey, hit, serverKey } from '../../access/index.ts';
import { enqueueOutbound } from '../../outbound/index.ts';
import { contentDisposition } from '../../attachments/index.ts';
import { normalizeAddress } from '../../customers/index.ts';
import {
  closeByCustomer,
  customerMayClose,
  getTicket,
  isTicketMember,
  memberAddresses,
  NotAMember,
  postCustomerMessage,
  publicAttachment,
  publicConversation,
  publicTicket,
  type CustomerAction,
} from '../../tickets/index.ts';
import { parseForms, securityHeaders } from '../forms.ts';

export interface PublicDeps {
  db: Knex;
  boss: Boss;
  log: Logger;
  /** a reply to a ticket closed longer ago than this opens a new ticket linked to it */
  reopenDays: number;
  /** how long the link to such a new ticket lives */
  ticketLinkDays: number;
}

/** Thrown when the link died (revoked, or its customer left the ticket) while the request ran. */
class LinkGone extends Error {}

const views = path.resolve(import.meta.dirname, '../../../templates/pages');
const SECRET = /^[A-Za-z0-9_-]{43}$/;
const REPLY_LIMIT = { max: 10, windowSeconds: 600 };
const RESEND_LIMIT = { max: 3, windowSeconds: 3600 };
const SECURITY_HEADERS = {
  // the secret is in the URL: never hand it to another site
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

export async function publicPages(app: FastifyInstance, deps: PublicDeps): Promise<void> {
  const { db } = deps;
  const eta = new Eta({ views, autoEscape: true, cache: process.env.NODE_ENV === 'production' });
  const csrfKey = await serverKey(db, 'csrf');
  const csrf = (tokenId: number, form: string) =>
    createHmac('sha256', csrfKey).update(`${tokenId}:${form}`).digest('base64url');
  const csrfOk = (tokenId: number, form: string, given: unknown) => {
    const want = Buffer.from(csrf(tokenId, form));
    const got = Buffer.from(typeof given === 'string' ? given : '');
    return got.length === want.length && timingSafeEqual(got, want);
  };

  parseForms(app);
  // a route's own (stricter) header wins, e.g. the attachment's sandbox
  securityHeaders(app, SECURITY_HEADERS);

  const page = (reply: FastifyReply, view: string, data: object, status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').send(eta.render(view, data));

  /** The ticket's page for a live link, with a notice, or a form error and what was typed. */
  async function ticketPage(
    reply: FastifyReply,
    link: Link,
    extra: { notice?: string; error?: string; form?: { body: string } },
    status = 200,
  ) {
    const [ticket, people] = await Promise.all([
      publicTicket(db, link.ticketId),
      getTicket(db, { id: link.ticketId }, { conversation: false }),
    ]);
    return page(
      reply,
      'ticket',
      {
        ticket,
        inbox: ticket.from_name || ticket.inbox,
        messages: await publicConversation(db, link.ticketId, `/t/${link.secret}/attachments`),
        base: `/t/${link.secret}`,
        csrf: { reply: csrf(link.token.id, 'reply'), close: csrf(link.token.id, 'close') },
        // a link that names no customer cannot post: it offers a fresh one instead
        canPost: link.customerId !== undefined,
        canClose: link.customerId !== undefined && customerMayClose(ticket.status),
        // the requester's address takes no mail (a no-reply sender): said by name, never by address
        notMailed: people?.requester?.mail_refused ? { name: people.requester.name } : undefined,
        notice: extra.notice,
        error: extra.error,
        form: extra.form ?? { body: '' },
      },
      status,
    );
  }

  /** The page of a link that died while the request ran. */
  function goneNow(reply: FastifyReply, secret: string) {
    return page(
      reply,
      'link-expired',
      { action: `/t/${secret}/resend`, csrf: csrf(0, `resend:${secret}`), sent: false },
      410,
    );
  }

  /**
   * The live link, or the page that offers a fresh one. A link mailed to a customer who has left
   * the ticket since is dead too (removing a follower also revokes their links at once).
   */
  async function live(request: FastifyRequest<{ Params: { secret: string } }>, reply: FastifyReply) {
    const { secret } = request.params;
    const token = SECRET.test(secret) ? await findToken(db, 'ticket_link', secret) : undefined;
    const alive =
      token?.ticket_id != null &&
      (token.customer_id === null || (await isTicketMember(db, token.ticket_id, token.customer_id)));
    if (!token || !alive) {
      await page(
        reply,
        'link-expired',
        { action: `/t/${secret}/resend`, csrf: csrf(0, `resend:${secret}`), sent: false },
        410,
      );
      return undefined;
    }
    return { secret, token, ticketId: token.ticket_id!, customerId: token.customer_id ?? undefined } satisfies Link;
  }

  app.get<{ Params: { secret: string }; Querystring: { done?: string } }>('/t/:secret', async (request, reply) => {
    const link = await live(request, reply);
    if (!link) return reply;
    return ticketPage(reply, link, { notice: noticeFor(request.query.done) });
  });

  app.post<{ Params: { secret: string }; Body: Record<string, string> }>('/t/:secret/reply', async (request, reply) => {
    const link = await live(request, reply);
    if (!link) return reply;
    const body = request.body ?? {};
    if (!csrfOk(link.token.id, 'reply', body.csrf))
      return page(
        reply,
        'notice',
        { title: 'This form has expired', text: 'Reload the ticket page and try again.' },
        403,
      );
    const text = String(body.body ?? '').trim();
    const allowed =
      (await hit(db, `reply:ip:${clientKey(request.ip)}`, REPLY_LIMIT)) &&
      (await hit(db, `reply:link:${link.token.id}`, REPLY_LIMIT));
    let error: string | undefined;
    let status = 422;
    if (!allowed) [error, status] = ['Too many attempts. Please wait a few minutes and try again.', 429];
    else if (link.customerId === undefined) {
      [error, status] = ['This link cannot post replies: reply to the email it came with.', 403];
    } else if (!text) error = 'Please write a message.';
    else if (text.length > 100_000) error = 'The message is too long.';
    if (error || link.customerId === undefined) {
      return ticketPage(reply, link, { error, form: { body: text } }, status);
    }
    let posted: Awaited<ReturnType<typeof postCustomerMessage>>;
    try {
      posted = await postCustomerMessage(db, {
        ...asCustomer(link, link.customerId, { ip: request.ip }),
        text,
        reopenDays: deps.reopenDays,
      });
    } catch (err) {
      if (err instanceof LinkGone || err instanceof NotAMember) return goneNow(reply, link.secret);
      throw err;
    }
    if (posted.linked) {
      // the ticket was closed too long ago: the message opened a new one, and the writer goes on
      // there with a link of their own to it
      const fresh = await issueToken(
        db,
        'ticket_link',
        { ticketId: posted.linked.ticketId, customerId: link.customerId },
        deps.ticketLinkDays * 86400,
      );
      return reply.redirect(`/t/${fresh.secret}?done=linked`, 303);
    }
    return reply.redirect(`/t/${link.secret}?done=reply`, 303);
  });

  app.post<{ Params: { secret: string }; Body: Record<string, string> }>('/t/:secret/close', async (request, reply) => {
    const link = await live(request, reply);
    if (!link) return reply;
    if (!csrfOk(link.token.id, 'close', request.body?.csrf))
      return page(
        reply,
        'notice',
        { title: 'This form has expired', text: 'Reload the ticket page and try again.' },
        403,
      );
    // by client, by link and by ticket: a follower holding several links closes no faster
    const allowed =
      (await hit(db, `close:ip:${clientKey(request.ip)}`, REPLY_LIMIT)) &&
      (await hit(db, `close:link:${link.token.id}`, REPLY_LIMIT)) &&
      (await hit(db, `close:ticket:${link.ticketId}`, REPLY_LIMIT));
    if (!allowed) {
      return page(
        reply,
        'notice',
        { title: 'Too many attempts', text: 'Please wait a few minutes and try again.' },
        429,
      );
    }
    if (link.customerId === undefined) {
      return page(
        reply,
        'notice',
        { title: 'This link cannot close the ticket', text: 'Reply to the email it came with, or ask us to close it.' },
        403,
      );
    }
    try {
      await closeByCustomer(db, deps.boss, asCustomer(link, link.customerId, { token_id: link.token.id }));
    } catch (err) {
      if (err instanceof LinkGone || err instanceof NotAMember) return goneNow(reply, link.secret);
      throw err;
    }
    return reply.redirect(`/t/${link.secret}?done=close`, 303);
  });

  app.post<{ Params: { secret: string }; Body: Record<string, string> }>(
    '/t/:secret/resend',
    async (request, reply) => {
      const { secret } = request.params;
      if (!csrfOk(0, `resend:${secret}`, request.body?.csrf))
        return page(reply, 'notice', { title: 'This form has expired', text: 'Reload the page and try again.' }, 403);
      const email = normalizeAddress(String(request.body?.email ?? ''));
      // limits by client and by link (its hash: no secret in the table); the limit per address
      // counts only what would really be mailed (resendLink), so strangers cannot use up a
      // customer's resends with links that are not theirs
      const linkKey = hashSecret(secret).toString('hex').slice(0, 32);
      const allowed =
        (await hit(db, `resend:ip:${clientKey(request.ip)}`, RESEND_LIMIT)) &&
        (await hit(db, `resend:link:${linkKey}`, RESEND_LIMIT));
      if (allowed && SECRET.test(secret)) {
        // Any link that ever existed (expired or revoked) names its ticket; a fresh one goes only
        // to an address of that ticket (of the link's own customer, for links that name one).
        // Decided after the answer is sent, so neither the page nor its timing tells whether the
        // address belongs to the ticket.
        reply.raw.once('finish', () => {
          void resendLink(secret, email).catch((err: unknown) => deps.log.error({ err }, 'fresh ticket link failed'));
        });
      }
      return page(
        reply,
        'link-expired',
        { action: `/t/${secret}/resend`, csrf: csrf(0, `resend:${secret}`), sent: allowed, limited: !allowed },
        allowed ? 200 : 429,
      );
    },
  );

  async function resendLink(secret: string, email: string): Promise<void> {
    const old = await db('tokens')
      .where({ token_hash: hashSecret(secret), purpose: 'ticket_link' })
      .first('ticket_id', 'customer_id');
    if (!old?.ticket_id) return;
    const owner = await db('customer_emails').where({ address: email }).first('customer_id');
    const mayHave =
      owner !== undefined &&
      (old.customer_id === null
        ? (await memberAddresses(db, old.ticket_id)).has(email)
        : Number(owner.customer_id) === Number(old.customer_id) &&
          (await isTicketMember(db, old.ticket_id, Number(old.customer_id))));
    if (!mayHave || !(await hit(db, `resend:addr:${email.slice(0, 254)}`, RESEND_LIMIT))) return;
    await db.transaction((trx) =>
      enqueueOutbound(deps.boss, trx, {
        kind: 'ticket_link',
        recipient: email,
        ticketId: old.ticket_id,
        customerId: Number(owner.customer_id),
      }),
    );
  }

  app.get<AttachmentRoute>('/t/:secret/attachments/:sha', async (request, reply) => {
    const link = await live(request, reply);
    if (!link) return reply;
    // only attachments of this ticket's public messages; `name` (the link's) only picks which of
    // the file's stored names it goes by, and without it (older links) the first one does
    const { name } = request.query;
    const asked = typeof name === 'string' && name.length <= 1024 ? name : undefined;
    const a = await publicAttachment(db, link.ticketId, request.params.sha, asked);
    if (!a) return reply.code(404).type('text/plain').send('not found');
    const inlineable = /^image\/(png|jpeg|gif|webp)$/.test(a.content_type);
    return reply
      .header('content-type', inlineable ? a.content_type : 'application/octet-stream')
      .header('content-disposition', contentDisposition(inlineable ? 'inline' : 'attachment', a.name))
      .header('content-security-policy', "default-src 'none'; sandbox")
      .send(a.content);
  });
}

/** A file by its hash, `?name=` the name of the link (attachments' attachmentLink). */
interface AttachmentRoute {
  Params: { secret: string; sha: string };
  Querystring: { name?: unknown };
}

interface Link {
  secret: string;
  token: { id: number };
  ticketId: number;
  /** the customer the link was mailed to; undefined for links from before links named one */
  customerId: number | undefined;
}

/**
 * The customer a live link speaks for, as the tickets domain takes them: its checks under the
 * ticket's lock include that the link was not revoked meanwhile.
 */
function asCustomer(link: Link, customerId: number, context: Record<string, unknown>): CustomerAction {
  return {
    ticketId: link.ticketId,
    customerId,
    via: 'ticket page',
    context,
    stillAllowed: async (trx) => {
      if (!(await trx('tokens').where({ id: link.token.id }).whereNull('revoked_at').first('id'))) throw new LinkGone();
    },
  };
}

function noticeFor(done: string | undefined): string | undefined {
  if (done === 'reply') return 'Thank you. Your reply has been added to the ticket.';
  if (done === 'close') return 'The ticket is closed. Write to us again any time to reopen it.';
  if (done === 'linked')
    return 'That conversation was closed some time ago, so your message has opened this new ticket. We will answer here.';
  return undefined;
}
