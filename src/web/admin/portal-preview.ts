// /admin/portal/preview: a portal page in the portal's own layout (templates/portal/layout.eta)
// with the branding as saved (GET) or as typed in the settings form (POST, the form's Preview
// button aims it at the page's iframe). The branding is shown through the portal domain's
// pageBranding, as the portal shows it: the HTML sanitized, the CSS unable to leave its element.
// The portal's pages may not be framed (frame-ancestors 'none'); this one may, by the admin area
// only, and runs no script and submits nothing.
import path from 'node:path';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { createInboxStore } from '../../inboxes/index.ts';
import {
  contrastProblems,
  cssRemoteLoads,
  getPortalSettings,
  pageBranding,
  portalSettingsSchema,
  type PortalSettings,
} from '../../portal/index.ts';
import type { Form } from './area-forms.ts';
import type { AdminContext } from './context.ts';
import { labelled, patchOf } from './portal-form.ts';

const PREVIEW_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'",
  'x-frame-options': 'SAMEORIGIN',
};

/**
 * What the portal layout says around a page, as the portal says it in English (the preview's
 * sample page is English too).
 */
const LAYOUT_TEXT: Record<string, string> = {
  'portal.title': 'Support portal',
  'nav.skip': 'Skip to content',
  'nav.help': 'Help',
  'signIn.title': 'Sign in',
};

const portalViews = path.resolve(import.meta.dirname, '../../../templates/portal');

export async function previewPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;
  const portalEta = new Eta({ views: portalViews, autoEscape: true, cache: process.env.NODE_ENV === 'production' });

  const preview = (reply: FastifyReply, settings: PortalSettings, problems: string[]) => {
    const branding = settings.branding;
    const remote = cssRemoteLoads(branding.custom_css);
    const all = [
      ...problems,
      ...contrastProblems(branding).map((p) => `Colours too close to read: ${labelled(p)}`),
      ...(remote.length ? [`Custom CSS may load nothing from elsewhere: ${remote.join(', ')}`] : []),
    ];
    const body = ctx.eta.render('portal-preview', { problems: all, name: branding.name });
    const html = portalEta.render('layout', {
      title: 'Preview',
      body,
      t: (key: string) => LAYOUT_TEXT[key] ?? key,
      lang: 'en',
      branding: {
        ...pageBranding(branding),
        logo: settings.logo ? `/admin/portal/logo?v=${settings.logo.version}` : undefined,
      },
      account: undefined,
      canCreate: false,
      signOutCsrf: undefined,
      helpDocs: settings.enabled && settings.help_docs,
    });
    return reply.headers(PREVIEW_HEADERS).type('text/html; charset=utf-8').send(Buffer.from(html));
  };

  app.get('/admin/portal/preview', async (_request, reply) =>
    preview(reply, await getPortalSettings(db, { fresh: true }), []),
  );

  // The settings form as typed; what would not validate is left as saved, and said.
  app.post<Form>('/admin/portal/preview', async (request, reply) => {
    if (!ctx.csrfOk(request, 'portal-settings', request.body?.csrf)) return ctx.expired(request, reply);
    const saved = await getPortalSettings(db, { fresh: true });
    const known = (await createInboxStore(db).list()).map((i) => Number(i.id));
    const typed = patchOf(request.body, known);
    const problems: string[] = [];
    const branding = { ...saved.branding };
    const brandingSchema = portalSettingsSchema.shape.branding.unwrap().shape;
    for (const [k, v] of Object.entries(typed.branding) as [keyof typeof branding, string][]) {
      const parsed = brandingSchema[k].safeParse(v);
      if (parsed.success) branding[k] = parsed.data;
      else problems.push(labelled(`branding.${k}: ${parsed.error.issues[0]?.message ?? 'not valid'}`));
    }
    return preview(reply, { ...saved, ...typed, language: saved.language, branding }, problems);
  });
}
