// /outbound: the mail Inbound sent or tried to send; /tickets/:id/revoke-links.
import { z } from 'zod';
import type { Knex } from 'knex';
import { listOutbound, OUTBOUND_STATUSES } from '../../outbound/index.ts';
import { revokeTokens } from '../../access/index.ts';
import { NotFoundError } from '../../errors.ts';
import { type ApiRoutes, decodeCursor, idParam, page, pageQuery } from './route.ts';

const outbound = z.object({
  id: z.number().int(),
  kind: z.string(),
  ticket_id: z.number().int().nullable(),
  customer_id: z.number().int().nullable(),
  recipient: z.string(),
  status: z.enum(OUTBOUND_STATUSES),
  subject: z.string().nullable(),
  message_id: z.string().nullable(),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  smtp_response: z.string().nullable(),
  created_at: z.iso.datetime(),
  sent_at: z.iso.datetime().nullable(),
});

export function outboundRoutes(api: ApiRoutes, { db }: { db: Knex }): void {
  api.add({
    method: 'GET',
    url: '/outbound',
    tag: 'outbound',
    summary: 'Outbound mail, newest first (e.g. status=failed)',
    query: z.object({ ...pageQuery, status: z.enum(OUTBOUND_STATUSES).optional() }),
    response: {
      status: 200,
      description: 'A page of outbound mail',
      schema: z.object({ data: z.array(outbound), next_cursor: z.string().nullable() }),
    },
    handler: async ({ query }) =>
      page(
        await listOutbound(db, { status: query.status, before: decodeCursor(query.cursor), limit: query.limit + 1 }),
        query.limit,
      ),
  });

  api.add({
    method: 'POST',
    url: '/tickets/:id/revoke-links',
    tag: 'tickets',
    summary: "Revoke every magic link to the ticket's public page (the next mail carries a fresh one)",
    params: idParam,
    response: {
      status: 200,
      description: 'How many links were revoked',
      schema: z.object({ revoked: z.number().int() }),
    },
    handler: async ({ params, agent }) => {
      if (!(await db('tickets').where({ id: params.id }).first('id')))
        throw new NotFoundError(`no ticket ${params.id}`);
      const revoked = await revokeTokens(db, 'ticket_link', { ticketId: params.id });
      await db('events').insert({
        type: 'ticket.links_revoked',
        ticket_id: params.id,
        data: { agent_id: agent.id, revoked },
      });
      return { revoked };
    },
  });
}
