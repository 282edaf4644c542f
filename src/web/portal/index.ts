// The customer portal (/portal): server-rendered pages behind a session cookie. Each group of
// pages is its own file: auth.ts (sign-in, sign-out, password and sign-in links, sign-up),
// tickets.ts (lists, a ticket, reply, close, new), help.ts (help articles). This file wires what
// they share: the form parser, the security headers, the visitor (session, language, settings).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { serverKey } from '../../access/index.ts';
import { authPages } from './auth.ts';
import { PortalContext, type PortalDeps } from './context.ts';

export type { PortalDeps } from './context.ts';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export async function portalPages(app: FastifyInstance, deps: PortalDeps): Promise<void> {
  const ctx = new PortalContext(deps, await serverKey(deps.db, 'portal-csrf'));

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 256 * 1024 },
    (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );
  app.addHook('onSend', async (_req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(k)) reply.header(k, v);
  });
  app.decorateRequest('visitor', null as never);
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    request.visitor = await ctx.visitor(request);
    if (!request.visitor.settings.enabled) {
      return ctx.page(
        request,
        reply,
        'message',
        { title: ctx.t(request, 'portal.title'), text: ctx.t(request, 'error.disabled') },
        404,
      );
    }
  });

  app.get('/portal', async (request, reply) =>
    reply.redirect(request.visitor.session ? '/portal/tickets' : '/portal/sign-in', 303),
  );
  await authPages(app, ctx);
}
