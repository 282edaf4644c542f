// The pages of the links the portal mails. /portal/password/<secret> (welcome, invitation, reset:
// 24 hours) sets the password; /portal/sign-up/<secret> (24 hours) asks the name and the password;
// /portal/sign-in/link/<secret> (15 minutes) shows a button. Each signs the customer in. A GET only
// looks: a mail scanner that fetches a link neither spends nor uses it; the POST, with a CSRF token
// bound to the visitor's cookie, does it (portal/links.ts useLink, single use). A link that no
// longer works says so and offers a new one.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MIN_PASSWORD_LENGTH } from '../../access/index.ts';
import {
  accountById,
  MAX_NAME_LENGTH,
  MAX_PASSWORD_LENGTH,
  passwordProblem,
  peekLink,
  type PortalLinkKind,
  useLink,
} from '../../portal/index.ts';
import type { PortalContext } from './context.ts';
import type { MessageKey } from './i18n.ts';
import { beginSession } from './signing.ts';

type Req = FastifyRequest<{ Params: { secret: string }; Body: Record<string, string> }>;
type Field = 'name' | 'password' | 'repeat';

const PASSWORD_PATH = { password: '/portal/password/', signup: '/portal/sign-up/' } as const;

export async function linkPages(app: FastifyInstance, ctx: PortalContext): Promise<void> {
  const { db } = ctx.deps;
  const t = (request: FastifyRequest, key: MessageKey, vars?: Record<string, string | number>) =>
    ctx.t(request, key, vars);

  /** The form that sets the password (and, for a sign-up, the name). */
  function passwordForm(
    request: Req,
    reply: FastifyReply,
    kind: 'password' | 'signup',
    extra: { name?: string; error?: string; field?: Field },
    status = 200,
  ) {
    const signup = kind === 'signup';
    return ctx.page(
      request,
      reply,
      'password',
      {
        title: t(request, signup ? 'signUpDone.title' : 'password.title'),
        intro: t(request, signup ? 'signUpDone.intro' : 'password.intro'),
        submit: t(request, signup ? 'signUpDone.submit' : 'password.submit'),
        rule: t(request, 'password.rule', { min: MIN_PASSWORD_LENGTH }),
        action: PASSWORD_PATH[kind] + request.params.secret,
        csrf: ctx.csrf(request, reply, `${kind}-link`),
        askName: signup,
        name: extra.name ?? '',
        maxName: MAX_NAME_LENGTH,
        min: MIN_PASSWORD_LENGTH,
        max: MAX_PASSWORD_LENGTH,
        error: extra.error,
        field: extra.field,
      },
      status,
    );
  }

  /** A link that no longer works: says so and offers a new one. */
  async function gone(request: Req, reply: FastifyReply, kind: PortalLinkKind) {
    const base = { title: t(request, 'link.goneTitle') };
    if (kind === 'password') {
      // the "forgot" form, empty: whoever holds an old link (a forwarded mail, a proxy's log) is
      // not told whose account it was for
      const email = '';
      return ctx.page(
        request,
        reply,
        'link-gone',
        {
          ...base,
          text: t(request, 'link.passwordGone'),
          form: {
            action: '/portal/forgot',
            csrf: ctx.csrf(request, reply, 'forgot'),
            email,
            submit: t(request, 'forgot.submit'),
          },
        },
        410,
      );
    }
    const next =
      kind === 'sign_in'
        ? { text: 'link.signInGone', href: '/portal/sign-in/mail', label: 'link.newSignIn' }
        : { text: 'link.signUpGone', href: '/portal/sign-up', label: 'link.signUpAgain' };
    return ctx.page(
      request,
      reply,
      'link-gone',
      {
        ...base,
        text: t(request, next.text as MessageKey),
        next: { href: next.href, label: t(request, next.label as MessageKey) },
      },
      410,
    );
  }

  function refused(request: Req, reply: FastifyReply) {
    return ctx.page(
      request,
      reply,
      'message',
      { title: t(request, 'link.refusedTitle'), text: t(request, 'link.refused') },
      403,
    );
  }

  function signInButton(request: Req, reply: FastifyReply, error?: string, status = 200) {
    return ctx.page(
      request,
      reply,
      'sign-in-link',
      {
        title: t(request, 'signInLink.title'),
        intro: t(request, 'signInLink.intro'),
        submit: t(request, 'signInLink.submit'),
        action: `/portal/sign-in/link/${request.params.secret}`,
        csrf: ctx.csrf(request, reply, 'sign_in-link'),
        error,
      },
      status,
    );
  }

  /** What is wrong with the passwords typed, and in which field. */
  function passwordError(request: Req, password: string, repeat: string): [string, Field] | undefined {
    if (passwordProblem(password))
      return password.length < MIN_PASSWORD_LENGTH
        ? [t(request, 'password.tooShort', { min: MIN_PASSWORD_LENGTH }), 'password']
        : [t(request, 'password.tooLong', { max: MAX_PASSWORD_LENGTH }), 'password'];
    if (password !== repeat) return [t(request, 'password.mismatch'), 'repeat'];
    return undefined;
  }

  const signupOpen = (request: FastifyRequest) => request.visitor.settings.self_signup;

  for (const kind of ['password', 'signup'] as const) {
    const path = `${PASSWORD_PATH[kind]}:secret`;

    app.get<{ Params: { secret: string }; Body: Record<string, string> }>(path, async (request, reply) => {
      if (kind === 'signup' && !signupOpen(request)) return ctx.notFound(request, reply);
      const link = await peekLink(db, kind, request.params.secret);
      if (link.state === 'gone') return gone(request, reply, kind);
      if (link.state === 'refused') return refused(request, reply);
      // a sign-up for an address that is somebody's already offers their name; a new one, none
      const name =
        kind === 'signup' && link.customerId !== undefined ? (await accountById(db, link.customerId))?.name : undefined;
      return passwordForm(request, reply, kind, { name });
    });

    app.post<{ Params: { secret: string }; Body: Record<string, string> }>(path, async (request, reply) => {
      if (kind === 'signup' && !signupOpen(request)) return ctx.notFound(request, reply);
      const body = request.body ?? {};
      // what was typed is kept, but never a password
      const name = String(body.name ?? '').slice(0, MAX_NAME_LENGTH);
      if (!ctx.csrfOk(request, `${kind}-link`, body.csrf))
        return passwordForm(request, reply, kind, { name, error: t(request, 'form.expired') }, 403);
      if (kind === 'signup' && !name.trim())
        return passwordForm(
          request,
          reply,
          kind,
          { name, error: t(request, 'signUpDone.nameMissing'), field: 'name' },
          422,
        );
      const password = String(body.password ?? '');
      const problem = passwordError(request, password, String(body.repeat ?? ''));
      if (problem) return passwordForm(request, reply, kind, { name, error: problem[0], field: problem[1] }, 422);
      const done = await useLink(db, kind, request.params.secret, {
        password,
        ...(kind === 'signup' && { name }),
      });
      if (!done.ok) return done.state === 'gone' ? gone(request, reply, kind) : refused(request, reply);
      return beginSession(ctx, request, reply, done.customerId);
    });
  }

  app.get<{ Params: { secret: string }; Body: Record<string, string> }>(
    '/portal/sign-in/link/:secret',
    async (request, reply) => {
      // looks, spends nothing: a scanner's fetch leaves the link as it was
      const link = await peekLink(db, 'sign_in', request.params.secret);
      if (link.state === 'gone') return gone(request, reply, 'sign_in');
      if (link.state === 'refused') return refused(request, reply);
      return signInButton(request, reply);
    },
  );

  app.post<{ Params: { secret: string }; Body: Record<string, string> }>(
    '/portal/sign-in/link/:secret',
    async (request, reply) => {
      if (!ctx.csrfOk(request, 'sign_in-link', request.body?.csrf))
        return signInButton(request, reply, t(request, 'form.expired'), 403);
      const done = await useLink(db, 'sign_in', request.params.secret);
      if (!done.ok) return done.state === 'gone' ? gone(request, reply, 'sign_in') : refused(request, reply);
      return beginSession(ctx, request, reply, done.customerId);
    },
  );
}
