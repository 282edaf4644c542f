// /admin/portal-users: customers and their portal accounts, by the rules of the portal domain
// (portal/users.ts) that the API and the CLI follow too: a page of them by status and search, with
// their last sign-in; adding one by address (invited, with or without the mail); inviting again,
// activating, deactivating (signed out everywhere at once); the CSV export.
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordAdminEvent } from '../../admin/index.ts';
import { exportCustomers } from '../../customers/index.ts';
import {
  activatePortalUser,
  addPortalUser,
  deactivatePortalUser,
  getPortalUser,
  listPortalUsers,
  PORTAL_STATUSES,
  type PortalStatus,
  reinvitePortalUser,
} from '../../portal/index.ts';
import type { AdminContext } from './context.ts';
import { badToken, checked, type Form, idParam, notFound, pick, refusal, sentence, text } from './area-forms.ts';

const PAGE = 50;
const ACTIONS = ['invite', 'reinvite', 'activate', 'deactivate'] as const;
type Action = (typeof ACTIONS)[number];

const DONE: Record<string, (who: string) => string> = {
  added: (who) => `${who} has a portal account now.`,
  invited: (who) => `${who} is invited: the invitation mail is on its way.`,
  reinvite: (who) => `A new invitation mail to ${who} is on its way.`,
  invite: (who) => `${who} is invited: the invitation mail is on its way.`,
  activate: (who) => `${who} may sign in again.`,
  deactivate: (who) => `${who} is deactivated and signed out everywhere.`,
};

const EVENTS: Record<Action, string> = {
  invite: 'portal_user_invited',
  reinvite: 'portal_user_reinvited',
  activate: 'portal_user_activated',
  deactivate: 'portal_user_deactivated',
};

interface ListQuery {
  q?: string;
  status?: string;
  after?: string;
  done?: string;
  who?: string;
}

/** The list's filter from a query or a posted form: only what it may be. */
function filterOf(src: { q?: unknown; status?: unknown; after?: unknown } | undefined) {
  const q = typeof src?.q === 'string' ? src.q.trim().slice(0, 200) : '';
  const status: PortalStatus | '' = PORTAL_STATUSES.find((s) => s === src?.status) ?? '';
  const after = typeof src?.after === 'string' ? (idParam(src.after) ?? 0) : 0;
  return { q, status, after };
}

/** The list's URL with a filter (and what just happened). */
function listUrl(f: { q: string; status: string; after: number }, extra: Record<string, string> = {}): string {
  const p = new URLSearchParams({
    ...(f.q && { q: f.q }),
    ...(f.status && { status: f.status }),
    ...(f.after && { after: String(f.after) }),
    ...extra,
  });
  const s = p.toString();
  return s ? `/admin/portal-users?${s}` : '/admin/portal-users';
}

export async function portalUserPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db, boss } = ctx.deps;

  const listPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    f: ReturnType<typeof filterOf>,
    o: { notice?: string; error?: string; add?: { email: string; name: string; invite: boolean; error?: string } } = {},
    status = 200,
  ) => {
    const rows = await listPortalUsers(db, {
      ...(f.status && { status: f.status }),
      ...(f.q && { q: f.q }),
      ...(f.after && { after: f.after }),
      limit: PAGE + 1,
    });
    const users = rows.slice(0, PAGE);
    return ctx.page(
      request,
      reply,
      'portal-users',
      {
        title: 'Portal users',
        nav: 'users',
        users,
        filter: f,
        statuses: PORTAL_STATUSES,
        next: rows.length > PAGE ? listUrl({ ...f, after: users.at(-1)!.id }) : undefined,
        first: f.after ? listUrl({ ...f, after: 0 }) : undefined,
        exportUrl: '/admin/portal-users/export',
        add: o.add ?? { email: '', name: '', invite: true },
        notice: o.notice,
        error: o.error,
        csrf: {
          add: ctx.csrf(request, reply, 'portal-user-add'),
          action: ctx.csrf(request, reply, 'portal-user-action'),
        },
      },
      status,
    );
  };

  const whoIs = async (id: number) => {
    const u = await getPortalUser(db, id).catch(() => undefined);
    return u ? `${u.name}${u.email ? ` <${u.email}>` : ''}` : `Customer ${id}`;
  };

  app.get<{ Querystring: ListQuery }>('/admin/portal-users', async (request, reply) => {
    const f = filterOf(request.query);
    const done = pick(DONE, request.query.done);
    const who = idParam(request.query.who ?? '');
    return listPage(request, reply, f, { notice: done && who !== undefined ? done(await whoIs(who)) : undefined });
  });

  app.post<Form>('/admin/portal-users', async (request, reply) => {
    const bad = badToken(ctx, request, reply, 'portal-user-add');
    if (bad) return bad;
    const add = {
      email: text(request.body, 'email').trim(),
      name: text(request.body, 'name').trim(),
      invite: checked(request.body, 'invite'),
    };
    const f = filterOf(request.body);
    if (!add.email) return listPage(request, reply, f, { add: { ...add, error: 'Give the email address.' } }, 422);
    try {
      const user = await db.transaction(async (trx) => {
        const u = await addPortalUser(trx, boss, {
          email: add.email,
          ...(add.name && { name: add.name }),
          invite: add.invite,
        });
        await recordAdminEvent(trx, ctx.agent(request).id, 'portal_user_added', {
          customer_id: u.id,
          email: u.email,
          invitation_mailed: add.invite,
        });
        return u;
      });
      return reply.redirect(listUrl(f, { done: add.invite ? 'invited' : 'added', who: String(user.id) }), 303);
    } catch (err) {
      const { status, message } = refusal(err);
      return listPage(request, reply, f, { add: { ...add, error: sentence(message) } }, status);
    }
  });

  app.post<{ Params: { id: string; action: string } } & Form>(
    '/admin/portal-users/:id/:action',
    async (request, reply) => {
      const bad = badToken(ctx, request, reply, 'portal-user-action');
      if (bad) return bad;
      const id = idParam(request.params.id);
      const action = ACTIONS.find((a) => a === request.params.action);
      if (id === undefined || !action) return notFound(ctx, request, reply, 'page');
      const f = filterOf(request.body);
      try {
        await db.transaction(async (trx) => {
          const u =
            action === 'invite'
              ? await addPortalUser(trx, boss, { customer_id: id, invite: true })
              : action === 'reinvite'
                ? await reinvitePortalUser(trx, boss, id)
                : action === 'activate'
                  ? await activatePortalUser(trx, id)
                  : await deactivatePortalUser(trx, id);
          await recordAdminEvent(trx, ctx.agent(request).id, EVENTS[action], { customer_id: u.id, email: u.email });
        });
      } catch (err) {
        const { status, message } = refusal(err);
        if (status === 404) return notFound(ctx, request, reply, 'customer');
        return listPage(request, reply, f, { error: sentence(message) }, status);
      }
      return reply.redirect(listUrl(f, { done: action, who: String(id) }), 303);
    },
  );

  // The customers export with each account's status and last sign-in, as the API's and the CLI's.
  app.get('/admin/portal-users/export', async (request, reply) => {
    await recordAdminEvent(db, ctx.agent(request).id, 'portal_users_exported');
    const out = new PassThrough();
    exportCustomers(db, out, { portalUsers: true }).catch((err: unknown) => {
      request.log.error({ err }, 'portal users export failed');
      out.destroy(err as Error);
    });
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="portal-users.csv"')
      .send(out);
  });
}
