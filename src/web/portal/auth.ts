// Signing in and out. Sign-in is limited per address and per client; an unknown address, a wrong
// password and an account that may not sign in get the same answer in the same time
// (portal/accounts.ts checkPassword). A new session id at each sign-in; sign-out ends it. The
// pages of the links the portal mails are links.ts (using them) and requests.ts (asking for them).
import type { FastifyInstance } from 'fastify';
import { clientKey, hit, release } from '../../access/index.ts';
import { checkPassword, endSession, holderById, maySignIn } from '../../portal/index.ts';
import { type PortalContext, SESSION_COOKIE } from './context.ts';
import { linkPages } from './links.ts';
import { requestPages } from './requests.ts';
import { addressKey, beginSession } from './signing.ts';

export { addressKey } from './signing.ts';

/** failures for one address from one client: the owner elsewhere is not locked out by them */
const SIGN_IN_FAILURES_PER_ADDRESS_AND_CLIENT = { max: 10, windowSeconds: 900 };
/** failures for one address from all clients together: slows guessing spread over many clients */
const SIGN_IN_FAILURES_PER_ADDRESS = { max: 50, windowSeconds: 900 };
const SIGN_IN_PER_CLIENT = { max: 30, windowSeconds: 900 };

export async function authPages(app: FastifyInstance, ctx: PortalContext): Promise<void> {
  const { db } = ctx.deps;

  app.get<{ Querystring: { done?: string } }>('/portal/sign-in', async (request, reply) => {
    if (request.visitor.session) return reply.redirect('/portal/tickets', 303);
    return ctx.page(request, reply, 'sign-in', {
      title: ctx.t(request, 'signIn.title'),
      csrf: ctx.csrf(request, reply, 'sign-in'),
      email: '',
      notice: request.query.done === 'signed-out' ? ctx.t(request, 'signOut.done') : undefined,
      selfSignup: request.visitor.settings.self_signup,
    });
  });

  app.post<{ Body: Record<string, string> }>('/portal/sign-in', async (request, reply) => {
    const body = request.body ?? {};
    const email = String(body.email ?? '')
      .trim()
      .slice(0, 320);
    const again = (error: string, status: number) =>
      ctx.page(
        request,
        reply,
        'sign-in',
        {
          title: ctx.t(request, 'signIn.title'),
          csrf: ctx.csrf(request, reply, 'sign-in'),
          email,
          error,
          selfSignup: request.visitor.settings.self_signup,
        },
        status,
      );
    if (!ctx.csrfOk(request, 'sign-in', body.csrf)) return again(ctx.t(request, 'form.expired'), 403);
    // Every attempt counts against the client; only failures count against the address, from this
    // client and (more loosely) from all of them: guessing is slowed, and a stranger who keeps
    // failing cannot lock the owner out with ten requests a quarter of an hour. An attempt is
    // counted as a failure before the (slow) password check and taken back when it succeeds, so
    // parallel guesses cannot all pass a limit that is only read before the check.
    const client = clientKey(request.ip);
    const address = addressKey(email);
    const keys = [
      [`portal-sign-in:fail:${address}:${client}`, SIGN_IN_FAILURES_PER_ADDRESS_AND_CLIENT],
      [`portal-sign-in:fail:${address}`, SIGN_IN_FAILURES_PER_ADDRESS],
    ] as const;
    let allowed = await hit(db, `portal-sign-in:ip:${client}`, SIGN_IN_PER_CLIENT);
    for (const [key, limit] of keys) if (!(await hit(db, key, limit))) allowed = false;
    if (!allowed) return again(ctx.t(request, 'signIn.limited'), 429);
    const customerId = await checkPassword(db, email, String(body.password ?? ''));
    // an account without portal access (its own setting, else its company's) gets the same answer
    if (customerId === undefined || !maySignIn(await holderById(db, customerId)))
      return again(ctx.t(request, 'signIn.failed'), 401);
    for (const [key, limit] of keys) await release(db, key, limit);
    return beginSession(ctx, request, reply, customerId);
  });

  app.post<{ Body: Record<string, string> }>('/portal/sign-out', async (request, reply) => {
    const session = request.visitor.session;
    if (session && !ctx.csrfOk(request, 'sign-out', request.body?.csrf))
      return ctx.page(
        request,
        reply,
        'message',
        { title: ctx.t(request, 'signIn.title'), text: ctx.t(request, 'form.expired') },
        403,
      );
    if (session) await endSession(db, session.id);
    ctx.clearCookie(reply, SESSION_COOKIE);
    return reply.redirect('/portal/sign-in?done=signed-out', 303);
  });

  await requestPages(app, ctx);
  await linkPages(app, ctx);
}
