// The admin area's front page (what there is to set up) and the record of what admins did.
import type { FastifyInstance } from 'fastify';
import { listAdminEvents } from '../../admin/index.ts';
import type { AdminContext } from './context.ts';

export async function homePages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;

  app.get('/admin', async (request, reply) =>
    ctx.page(request, reply, 'home', {
      title: 'Admin',
      nav: 'home',
      agent: ctx.agent(request),
      events: await listAdminEvents(db, { limit: 10 }),
    }),
  );

  app.get<{ Querystring: { before?: string } }>('/admin/events', async (request, reply) => {
    const before = Number(request.query.before);
    const events = await listAdminEvents(db, {
      limit: 50,
      ...(Number.isSafeInteger(before) && before > 0 && { before }),
    });
    return ctx.page(request, reply, 'events', {
      title: 'Activity',
      nav: 'events',
      events,
      next: events.length === 50 ? events.at(-1)!.id : undefined,
    });
  });
}
