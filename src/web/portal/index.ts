// The customer portal (/portal): server-rendered pages behind a session cookie. Each group of
// pages is its own file: auth.ts (sign-in, sign-out, password and sign-in links, sign-up),
// tickets.ts (lists, a ticket, reply, close, new), help.ts (help articles). This file wires what
// they share: the form parser, the security headers, the visitor (session, language, settings).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { serverKey } from '../../access/index.ts';
import { getLogo } from '../../portal/index.ts';
import { authPages } from './auth.ts';
import { PortalContext, type PortalDeps } from './context.ts';
import { helpPages } from './help.ts';
import { ticketPages } from './tickets.ts';
import { parseForms, securityHeaders } from '../forms.ts';

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

  parseForms(app);
  securityHeaders(app, SECURITY_HEADERS);
  app.decorateRequest('visitor', null as never);
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    request.visitor = await ctx.visitor(request, request.routeOptions.config.along);
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
  await ticketPages(app, ctx);
  await helpPages(app, ctx);

  // The logo the layout links as /portal/logo?v=<version>: that URL never changes its bytes, so it
  // is cached for a year; without the version (or an old one), for five minutes. Its type was read
  // from its bytes when it was uploaded, and the browser is told not to guess another.
  app.get<{ Querystring: { v?: string } }>('/portal/logo', async (request, reply) => {
    const cache = (version: string) =>
      reply
        .header('etag', `"${version}"`)
        .header(
          'cache-control',
          request.query.v === version ? 'public, max-age=31536000, immutable' : 'public, max-age=300',
        );
    const known = request.visitor.settings.logo;
    if (known && request.headers['if-none-match'] === `"${known.version}"`)
      return cache(known.version).code(304).send();
    const logo = await getLogo(deps.db);
    if (!logo) return ctx.notFound(request, reply);
    return cache(logo.version)
      .header('content-type', logo.type)
      .header('x-content-type-options', 'nosniff')
      .header('content-disposition', 'inline; filename="logo"')
      .send(logo.content);
  });
}
