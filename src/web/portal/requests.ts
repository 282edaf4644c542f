// Asking for a link by mail: "forgot password" (the same flow sends the invitation again),
// "email me a sign-in link", and self sign-up. Each page gives one answer whether or not the
// address has an account, and what to mail is decided only after that answer has gone (as the
// ticket page's resend does), so neither the page nor its timing tells anything. Limited per
// client and per address (its hash); the limit counts every request, known address or not.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { clientKey, hit, type Limit } from '../../access/index.ts';
import { isValidAddress, normalizeAddress } from '../../customers/index.ts';
import type { Boss } from '../../queue/index.ts';
import { mailPasswordLink, mailSignInLink, mailSignupLink, type PortalSettings } from '../../portal/index.ts';
import type { PortalContext } from './context.ts';
import type { MessageKey } from './i18n.ts';
import { addressKey } from './signing.ts';

const PER_CLIENT: Limit = { max: 20, windowSeconds: 3600 };
const PER_ADDRESS: Limit = { max: 3, windowSeconds: 3600 };

interface RequestForm {
  path: string;
  /** the form's name: its CSRF token and its rate-limit keys */
  form: string;
  title: MessageKey;
  intro: MessageKey;
  submit: MessageKey;
  sent: MessageKey;
  /** what the address gets, if anything: decided after the answer */
  mail(db: Knex, boss: Boss, address: string): Promise<unknown>;
  /** the page exists only while this holds */
  open?(settings: PortalSettings): boolean;
  /** links under the form */
  links: { href: string; label: MessageKey }[];
}

const REQUEST_FORMS: RequestForm[] = [
  {
    path: '/portal/forgot',
    form: 'forgot',
    title: 'forgot.title',
    intro: 'forgot.intro',
    submit: 'forgot.submit',
    sent: 'request.sent',
    mail: mailPasswordLink,
    links: [{ href: '/portal/sign-in', label: 'request.back' }],
  },
  {
    path: '/portal/sign-in/mail',
    form: 'sign-in-mail',
    title: 'signInMail.title',
    intro: 'signInMail.intro',
    submit: 'signInMail.submit',
    sent: 'request.sent',
    mail: mailSignInLink,
    links: [{ href: '/portal/sign-in', label: 'request.back' }],
  },
  {
    path: '/portal/sign-up',
    form: 'sign-up',
    title: 'signUp.title',
    intro: 'signUp.intro',
    submit: 'signUp.submit',
    sent: 'signUp.sent',
    mail: mailSignupLink,
    open: (settings) => settings.self_signup,
    links: [{ href: '/portal/sign-in', label: 'signUp.haveAccount' }],
  },
];

/** The page of a request form, with what was typed, a notice or an error. */
function requestPage(
  ctx: PortalContext,
  request: FastifyRequest,
  reply: FastifyReply,
  f: RequestForm,
  extra: { email?: string; notice?: string; error?: string } = {},
  status = 200,
): FastifyReply {
  const t = (key: MessageKey) => ctx.t(request, key);
  return ctx.page(
    request,
    reply,
    'request-link',
    {
      title: t(f.title),
      intro: t(f.intro),
      submit: t(f.submit),
      action: f.path,
      csrf: ctx.csrf(request, reply, f.form),
      email: extra.email ?? '',
      notice: extra.notice,
      error: extra.error,
      links: f.links.map((l) => ({ href: l.href, label: t(l.label) })),
    },
    status,
  );
}

export async function requestPages(app: FastifyInstance, ctx: PortalContext): Promise<void> {
  const { db, boss, log } = ctx.deps;

  for (const f of REQUEST_FORMS) {
    app.get<{ Querystring: { email?: string } }>(f.path, async (request, reply) => {
      if (f.open && !f.open(request.visitor.settings)) return ctx.notFound(request, reply);
      const email = typeof request.query.email === 'string' ? request.query.email.trim().slice(0, 320) : '';
      return requestPage(ctx, request, reply, f, { email });
    });

    app.post<{ Body: Record<string, string> }>(f.path, async (request, reply) => {
      if (f.open && !f.open(request.visitor.settings)) return ctx.notFound(request, reply);
      const body = request.body ?? {};
      const email = String(body.email ?? '')
        .trim()
        .slice(0, 320);
      const again = (key: MessageKey, status: number) =>
        requestPage(ctx, request, reply, f, { email, error: ctx.t(request, key) }, status);
      if (!ctx.csrfOk(request, f.form, body.csrf)) return again('form.expired', 403);
      const address = normalizeAddress(email);
      if (!isValidAddress(address)) return again('request.invalid', 422);
      const allowed =
        (await hit(db, `portal-${f.form}:ip:${clientKey(request.ip)}`, PER_CLIENT)) &&
        (await hit(db, `portal-${f.form}:address:${addressKey(address)}`, PER_ADDRESS));
      if (!allowed) return again('request.limited', 429);
      reply.raw.once('finish', () => {
        void f
          .mail(db, boss, address)
          .catch((err: unknown) => log.error({ err, form: f.form }, 'portal link mail failed'));
      });
      return requestPage(ctx, request, reply, f, { email, notice: ctx.t(request, f.sent) });
    });
  }
}
