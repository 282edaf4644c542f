// The admin area (/admin): server-rendered pages for agents with the admin role. auth.ts signs in
// (password, then the second factor when it is on) and out; account.ts sets up the second factor;
// the other files are one area each. This file wires what they share: forms, security headers, the
// visitor, and the rule that every page but the sign-in pages needs a signed-in admin.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { serverKey } from '../../access/index.ts';
import { parseForms, securityHeaders } from '../forms.ts';
import { accountPages } from './account.ts';
import { loadAssets } from './assets.ts';
import { authPages } from './auth.ts';
import { AdminContext, type AdminDeps } from './context.ts';
import { areaPages } from './areas.ts';
import { homePages } from './home.ts';
import { templatePages } from './templates.ts';

export type { AdminDeps } from './context.ts';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Who may open a route: anyone (sign-in pages), a pending sign-in (the code page), else an admin. */
export type AdminAccess = 'anyone' | 'pending';

declare module 'fastify' {
  interface FastifyContextConfig {
    adminAccess?: AdminAccess;
  }
}

export async function adminPages(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  parseForms(app);
  securityHeaders(app, SECURITY_HEADERS);
  const ctx = new AdminContext(deps, await serverKey(deps.db, 'admin-csrf'), loadAssets(app));

  app.decorateRequest('admin', null as never);
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    request.admin = await ctx.visitor(request);
    const access = request.routeOptions.config.adminAccess;
    if (access === 'anyone') return;
    const s = request.admin.session;
    if (access === 'pending') {
      if (!s?.pending) return reply.redirect('/admin/sign-in', 303);
      return;
    }
    if (!s) return reply.redirect(`/admin/sign-in`, 303);
    if (s.pending) return reply.redirect('/admin/sign-in/code', 303);
    if (s.agent.role !== 'admin')
      return ctx.message(
        request,
        reply,
        'Admins only',
        'You are signed in, but the admin area is for agents with the admin role. Ask an admin to give you the role.',
        403,
      );
  });

  await authPages(app, ctx);
  await accountPages(app, ctx);
  await homePages(app, ctx);
  await templatePages(app, ctx);
  await areaPages(app, ctx);
}
