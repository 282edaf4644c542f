// /admin/portal: the customer portal's settings and branding, and its logo. A change is validated
// whole by the portal domain (updatePortalSettings): colour pairs people could not read and custom
// CSS that would load from elsewhere are refused, and the form shows why with what was typed. The
// preview (portal-preview.ts) shows a portal page with the branding as typed, before it is saved.
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordAdminEvent } from '../../admin/index.ts';
import { createInboxStore } from '../../inboxes/index.ts';
import {
  getLogo,
  getPortalSettings,
  LOGO_MAX_BYTES,
  removeLogo,
  setLogo,
  updatePortalSettings,
} from '../../portal/index.ts';
import { badToken, fieldOf, type Form, pick, refusal, sentence } from './area-forms.ts';
import type { AdminContext } from './context.ts';
import { changes, labelled, patchOf, type SettingsValues } from './portal-form.ts';

const DONE: Record<string, string> = {
  saved: 'Saved. The portal shows the change within a few seconds.',
  logo: 'The logo is uploaded.',
  'logo-removed': 'The logo is removed.',
};

export async function portalSettingsPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;
  const inboxes = createInboxStore(db);

  const settingsPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    o: {
      values?: SettingsValues;
      errors?: Record<string, string>;
      colourProblems?: string[];
      error?: string;
      logoError?: string;
      notice?: string;
    } = {},
    status = 200,
  ) => {
    const saved = await getPortalSettings(db, { fresh: true });
    const values = o.values ?? saved;
    return ctx.page(
      request,
      reply,
      'portal-settings',
      {
        title: 'Portal',
        nav: 'portal',
        values,
        inboxes: (await inboxes.list()).map((i) => ({
          id: Number(i.id),
          label: i.name === i.address ? i.address : `${i.name} <${i.address}>`,
          enabled: i.enabled,
          checked: values.inbox_ids.includes(Number(i.id)),
        })),
        logo: saved.logo && {
          url: `/admin/portal/logo?v=${saved.logo.version}`,
          kb: Math.ceil(saved.logo.bytes / 1024),
        },
        logoMaxKb: LOGO_MAX_BYTES / 1024,
        errors: o.errors ?? {},
        colourProblems: (o.colourProblems ?? []).map(labelled),
        error: o.error,
        logoError: o.logoError,
        notice: o.notice,
        csrf: {
          settings: ctx.csrf(request, reply, 'portal-settings'),
          logo: ctx.csrf(request, reply, 'portal-logo'),
          removeLogo: ctx.csrf(request, reply, 'portal-logo-remove'),
        },
      },
      status,
    );
  };

  app.get<{ Querystring: { done?: string } }>('/admin/portal', async (request, reply) =>
    settingsPage(request, reply, { notice: pick(DONE, request.query.done) }),
  );

  app.post<Form>('/admin/portal', async (request, reply) => {
    const refused = badToken(ctx, request, reply, 'portal-settings');
    if (refused) return refused;
    const known = (await inboxes.list()).map((i) => Number(i.id));
    const values = patchOf(request.body, known);
    const agent = ctx.agent(request);
    const before = await getPortalSettings(db, { fresh: true });
    try {
      await db.transaction(async (trx) => {
        const after = await updatePortalSettings(trx, values);
        await recordAdminEvent(trx, agent.id, 'portal_settings_changed', { changed: changes(before, after) });
      });
    } catch (err) {
      const { status, message, details } = refusal(err);
      const problems = Array.isArray(details?.problems) ? (details.problems as string[]) : [];
      const { field, text: said } = fieldOf(message);
      const errors: Record<string, string> = {};
      if (details?.remote) errors['branding.custom_css'] = said;
      else if (field && !problems.length) errors[field] = said;
      return settingsPage(
        request,
        reply,
        {
          values,
          errors,
          colourProblems: problems,
          error: problems.length
            ? 'Some colours are too close to read. Nothing was saved.'
            : `Nothing was saved: ${labelled(message)}`,
        },
        status,
      );
    }
    // the transaction's own cache entry is not this process's: read the settings anew for it
    await getPortalSettings(db, { fresh: true });
    return reply.redirect('/admin/portal?done=saved', 303);
  });

  // The logo as the admin pages show it (the portal's /portal/logo serves none while it is closed).
  app.get('/admin/portal/logo', async (request, reply) => {
    const logo = await getLogo(db);
    if (!logo) return ctx.message(request, reply, 'Not found', 'There is no logo.', 404);
    return reply
      .header('content-type', logo.type)
      .header('x-content-type-options', 'nosniff')
      .header('content-disposition', 'inline; filename="logo"')
      .header('cache-control', 'private, max-age=300')
      .send(logo.content);
  });

  app.post<Form>('/admin/portal/logo/remove', async (request, reply) => {
    const refused = badToken(ctx, request, reply, 'portal-logo-remove');
    if (refused) return refused;
    await db.transaction(async (trx) => {
      await removeLogo(trx);
      await recordAdminEvent(trx, ctx.agent(request).id, 'portal_logo_removed');
    });
    await getPortalSettings(db, { fresh: true });
    return reply.redirect('/admin/portal?done=logo-removed', 303);
  });

  // The upload, in a scope of its own so that only it reads multipart bodies. The token is the
  // form's first field: a post without a good one is refused before the file is read.
  await app.register(async (scope) => {
    await scope.register(multipart, { limits: { files: 1, fields: 2, fileSize: LOGO_MAX_BYTES, parts: 3 } });
    scope.post('/admin/portal/logo', async (request, reply) => {
      const logoError = (message: string, status: number) => {
        // a body not read to its end is not drained: the connection closes instead
        if (!request.raw.complete) reply.header('connection', 'close');
        return settingsPage(request, reply, { logoError: message }, status);
      };
      if (!request.isMultipart()) return logoError('Choose an image file to upload.', 400);
      if (Number(request.headers['content-length']) > LOGO_MAX_BYTES + 64 * 1024)
        return logoError(`The logo is over ${LOGO_MAX_BYTES / 1024} KB. Choose a smaller image.`, 413);
      const file = await request.file().catch(() => undefined);
      // no file part at all: said on the form (it changes nothing, so it needs no token; without a
      // part there are no fields to read the token from)
      if (!file) return logoError('Choose an image file to upload.', 400);
      const token = file.fields.csrf;
      const csrf = token && !Array.isArray(token) && token.type === 'field' ? token.value : undefined;
      if (!ctx.csrfOk(request, 'portal-logo', csrf)) {
        if (!request.raw.complete) reply.header('connection', 'close');
        return ctx.expired(request, reply);
      }
      let bytes: Buffer;
      try {
        bytes = await file.toBuffer();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 413)
          return logoError(`The logo is over ${LOGO_MAX_BYTES / 1024} KB. Choose a smaller image.`, 413);
        throw err;
      }
      if (bytes.length === 0) return logoError('Choose an image file to upload.', 400);
      try {
        await db.transaction(async (trx) => {
          const logo = await setLogo(trx, bytes);
          await recordAdminEvent(trx, ctx.agent(request).id, 'portal_logo_set', { type: logo.type, bytes: logo.bytes });
        });
      } catch (err) {
        const { status, message } = refusal(err);
        return logoError(sentence(message), status);
      }
      await getPortalSettings(db, { fresh: true });
      return reply.redirect('/admin/portal?done=logo', 303);
    });
  });
}
