// Signing in and out of the admin area. The password first (limited per address and per client;
// an unknown address, a wrong password, a disabled agent all get one answer in one time); then,
// when the agent has turned it on, the second factor: a TOTP code or a recovery code, on a page a
// pending session alone may open, five tries per session and a limit per agent. Every sign-in gets
// a new session id. The password page of `inbound admin create`'s link sets the password once.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clientKey, hit, release } from '../../access/index.ts';
import {
  checkAgentPassword,
  checkTotp,
  afterWrongCode,
  createAdminSession,
  endAdminSession,
  passwordLinkAgent,
  recordAdminEvent,
  setAgentPasswordByLink,
  takeCodeTry,
  upgradeAdminSession,
  useRecoveryCode,
} from '../../admin/index.ts';
import { ValidationError } from '../../errors.ts';
import { ADMIN_COOKIE, type AdminContext } from './context.ts';

const FAILURES_PER_ADDRESS_AND_CLIENT = { max: 10, windowSeconds: 900 };
const FAILURES_PER_ADDRESS = { max: 50, windowSeconds: 900 };
const SIGN_IN_PER_CLIENT = { max: 30, windowSeconds: 900 };
/** second-factor codes per agent, over all their pending sessions */
const CODES_PER_AGENT = { max: 20, windowSeconds: 900 };
const PASSWORD_LINK_PER_CLIENT = { max: 20, windowSeconds: 900 };
/** The cookie lives as long as the longest session; the database decides when it ends. */
const COOKIE_SECONDS = 12 * 3600;

type Form = { Body: Record<string, string | undefined> };

export async function authPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;
  const anyone = { config: { adminAccess: 'anyone' as const } };
  const pending = { config: { adminAccess: 'pending' as const } };
  const client = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] });

  const signInPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    o: { email?: string; error?: string; notice?: string },
    status = 200,
  ) =>
    ctx.page(
      request,
      reply,
      'sign-in',
      { title: 'Sign in', csrf: ctx.csrf(request, reply, 'sign-in'), email: o.email ?? '', ...o },
      status,
    );

  app.get<{ Querystring: { done?: string } }>('/admin/sign-in', anyone, async (request, reply) => {
    const s = request.admin.session;
    if (s && !s.pending) return reply.redirect('/admin', 303);
    return signInPage(request, reply, {
      notice: request.query.done === 'signed-out' ? 'You are signed out.' : undefined,
    });
  });

  app.post<Form>('/admin/sign-in', anyone, async (request, reply) => {
    const body = request.body ?? {};
    const email = String(body.email ?? '')
      .trim()
      .toLowerCase()
      .slice(0, 320);
    if (!ctx.csrfOk(request, 'sign-in', body.csrf))
      return signInPage(request, reply, { email, error: 'The form expired. Please try again.' }, 403);
    const ip = clientKey(request.ip);
    // Each attempt is counted as a failure before the (slow) password check and taken back when it
    // succeeds: parallel guesses cannot all pass a limit that is only read before the check.
    const keys = [
      [`admin-sign-in:fail:${email}:${ip}`, FAILURES_PER_ADDRESS_AND_CLIENT],
      [`admin-sign-in:fail:${email}`, FAILURES_PER_ADDRESS],
    ] as const;
    let allowed = await hit(db, `admin-sign-in:ip:${ip}`, SIGN_IN_PER_CLIENT);
    for (const [key, limit] of keys) if (!(await hit(db, key, limit))) allowed = false;
    if (!allowed)
      return signInPage(request, reply, { email, error: 'Too many attempts. Please wait a few minutes.' }, 429);
    const agent = await checkAgentPassword(db, email, String(body.password ?? ''));
    if (!agent) return signInPage(request, reply, { email, error: 'The address or the password is not right.' }, 401);
    for (const [key, limit] of keys) await release(db, key, limit);
    // an old session in this browser ends: one browser, one session
    if (request.admin.session) await endAdminSession(db, request.admin.session.id);
    const { secret } = await createAdminSession(db, agent.id, { pending: agent.totpEnabled, ...client(request) });
    ctx.setCookie(reply, ADMIN_COOKIE, secret, COOKIE_SECONDS);
    if (agent.totpEnabled) return reply.redirect('/admin/sign-in/code', 303);
    await recordAdminEvent(db, agent.id, 'signed_in', { ip: request.ip });
    return reply.redirect('/admin', 303);
  });

  const codePage = (request: FastifyRequest, reply: FastifyReply, error?: string, status = 200) =>
    ctx.page(
      request,
      reply,
      'sign-in-code',
      { title: 'Second factor', csrf: ctx.csrf(request, reply, 'sign-in-code'), error },
      status,
    );

  app.get('/admin/sign-in/code', pending, async (request, reply) => codePage(request, reply));

  app.post<Form>('/admin/sign-in/code', pending, async (request, reply) => {
    const body = request.body ?? {};
    const session = request.admin.session!;
    if (!ctx.csrfOk(request, 'sign-in-code', body.csrf))
      return codePage(request, reply, 'The form expired. Please try again.', 403);
    if (!(await hit(db, `admin-code:agent:${session.agent.id}`, CODES_PER_AGENT)))
      return codePage(request, reply, 'Too many attempts. Please wait a few minutes.', 429);
    const code = String(body.code ?? '').slice(0, 64);
    const spent = async () => {
      ctx.clearCookie(reply, ADMIN_COOKIE);
      return signInPage(request, reply, { error: 'Too many wrong codes. Please sign in again.' }, 401);
    };
    if (!(await takeCodeTry(db, session.id))) return spent();
    const byRecovery = /[a-z]/i.test(code);
    const ok = byRecovery
      ? await useRecoveryCode(db, session.agent.id, code)
      : await checkTotp(db, session.agent.id, code);
    if (!ok) {
      if (!(await afterWrongCode(db, session.id))) return spent();
      return codePage(request, reply, 'That code is not right, or was used already.', 401);
    }
    const { secret } = await upgradeAdminSession(db, session, client(request));
    ctx.setCookie(reply, ADMIN_COOKIE, secret, COOKIE_SECONDS);
    await recordAdminEvent(db, session.agent.id, 'signed_in', {
      ip: request.ip,
      second_factor: byRecovery ? 'recovery_code' : 'totp',
    });
    return reply.redirect('/admin', 303);
  });

  app.post<Form>('/admin/sign-out', anyone, async (request, reply) => {
    const session = request.admin.session;
    if (session && !ctx.csrfOk(request, 'sign-out', request.body?.csrf)) return ctx.expired(request, reply);
    if (session) {
      await endAdminSession(db, session.id);
      if (!session.pending) await recordAdminEvent(db, session.agent.id, 'signed_out');
    }
    ctx.clearCookie(reply, ADMIN_COOKIE);
    return reply.redirect('/admin/sign-in?done=signed-out', 303);
  });

  // The link `inbound admin create` prints: a GET shows the form and changes nothing.
  const passwordPage = (
    request: FastifyRequest<{ Params: { secret: string } }>,
    reply: FastifyReply,
    email: string,
    error?: string,
    status = 200,
  ) =>
    ctx.page(
      request,
      reply,
      'password',
      {
        title: 'Set your password',
        csrf: ctx.csrf(request, reply, 'password'),
        action: `/admin/password/${encodeURIComponent(request.params.secret)}`,
        email,
        error,
      },
      status,
    );
  const linkGone = (request: FastifyRequest, reply: FastifyReply) =>
    ctx.message(
      request,
      reply,
      'This link does not work any more',
      'Password links work once, for 24 hours. Ask an admin for a new one (inbound admin create prints one for a new admin).',
      404,
    );

  app.get<{ Params: { secret: string } }>('/admin/password/:secret', anyone, async (request, reply) => {
    if (!(await hit(db, `admin-password-link:ip:${clientKey(request.ip)}`, PASSWORD_LINK_PER_CLIENT)))
      return ctx.message(request, reply, 'Too many attempts', 'Please wait a few minutes.', 429);
    const agent = await passwordLinkAgent(db, request.params.secret);
    if (!agent) return linkGone(request, reply);
    return passwordPage(request, reply, agent.email);
  });

  app.post<Form & { Params: { secret: string } }>('/admin/password/:secret', anyone, async (request, reply) => {
    const body = request.body ?? {};
    if (!(await hit(db, `admin-password-link:ip:${clientKey(request.ip)}`, PASSWORD_LINK_PER_CLIENT)))
      return ctx.message(request, reply, 'Too many attempts', 'Please wait a few minutes.', 429);
    const agent = await passwordLinkAgent(db, request.params.secret);
    if (!agent) return linkGone(request, reply);
    if (!ctx.csrfOk(request, 'password', body.csrf))
      return passwordPage(request, reply, agent.email, 'The form expired. Please try again.', 403);
    const password = String(body.password ?? '');
    if (password !== String(body.confirm ?? ''))
      return passwordPage(request, reply, agent.email, 'The two passwords are not the same.', 422);
    try {
      const done = await setAgentPasswordByLink(db, request.params.secret, password);
      if (done === undefined) return linkGone(request, reply);
    } catch (err) {
      if (err instanceof ValidationError)
        return passwordPage(
          request,
          reply,
          agent.email,
          `The password needs ${err.message.replace(/^password: /, '')}.`,
          422,
        );
      throw err;
    }
    await recordAdminEvent(db, agent.id, 'password_set', {});
    return signInPage(request, reply, { email: agent.email, notice: 'Your password is set. Please sign in.' });
  });
}
