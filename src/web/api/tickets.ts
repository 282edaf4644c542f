// /tickets: listing, one ticket with its conversation, changes, followers.
import { z } from 'zod';
import type { Knex } from 'knex';
import { TICKET_STATUSES } from '../../tickets/index.ts';
import { addFollower, getTicketDetail, listTickets, removeFollower, updateTicket } from '../../tickets/index.ts';
import { postAgentReply } from '../../tickets/index.ts';
import type { Boss } from '../../queue/index.ts';
import { type ApiRoutes, decodeCursor, idParam, page, pageQuery } from './route.ts';
import * as S from './schemas.ts';

export function ticketRoutes(api: ApiRoutes, { db, boss }: { db: Knex; boss: Boss }): void {
  api.add({
    method: 'GET',
    url: '/tickets',
    tag: 'tickets',
    summary: 'List tickets, newest first',
    query: z.object({
      ...pageQuery,
      status: z.enum(TICKET_STATUSES).optional(),
      inbox_id: z.coerce.number().int().positive().optional(),
      customer_id: z.coerce.number().int().positive().optional().describe('the requester'),
      company_id: z.coerce.number().int().positive().optional(),
    }),
    response: { status: 200, description: 'A page of tickets', schema: S.listOf(S.ticketListItem) },
    handler: async ({ query }) =>
      page(
        await listTickets(db, { ...query, before: decodeCursor(query.cursor), limit: query.limit + 1 }),
        query.limit,
      ),
  });

  api.add({
    method: 'GET',
    url: '/tickets/:id',
    tag: 'tickets',
    summary: 'Show a ticket with requester, followers, company and messages',
    params: idParam,
    response: { status: 200, description: 'The ticket', schema: S.ticketDetail },
    handler: ({ params }) => getTicketDetail(db, params.id),
  });

  api.add({
    method: 'PATCH',
    url: '/tickets/:id',
    tag: 'tickets',
    summary: 'Change status, priority, type, tags or assignee (closing mails the requester)',
    params: idParam,
    body: S.ticketUpdate,
    response: { status: 200, description: 'The updated ticket', schema: S.ticket },
    handler: ({ params, body, agent }) => updateTicket(db, params.id, body, agent.id, boss),
  });

  api.add({
    method: 'POST',
    url: '/tickets/:id/followers',
    tag: 'tickets',
    summary: 'Add a follower (by customer id, or by address)',
    params: idParam,
    body: S.followerAdd,
    response: { status: 201, description: "The ticket's followers", schema: S.ticketDetail.shape.followers },
    handler: async ({ params, body, agent }) => {
      await addFollower(db, params.id, 'customer_id' in body ? body.customer_id : body, agent.id);
      return (await getTicketDetail(db, params.id)).followers;
    },
  });

  api.add({
    method: 'POST',
    url: '/tickets/:id/replies',
    tag: 'tickets',
    summary: 'Reply as the agent (mailed to the requester and followers), or add an internal note (mailed to nobody)',
    params: idParam,
    body: z
      .object({
        body: z.string().min(1).max(200_000),
        format: z.enum(['text', 'markdown']).default('text'),
        internal: z.boolean().default(false),
        attachments: z
          .array(
            z
              .object({
                filename: z.string().trim().min(1).max(255),
                content_type: z
                  .string()
                  .regex(/^[\w.+-]+\/[\w.+-]+$/)
                  .default('application/octet-stream'),
                content_base64: z.base64().max(14_000_000).describe('the file, base64 (10 MB at most)'),
              })
              .strict(),
          )
          .max(10)
          .optional(),
      })
      .strict(),
    response: {
      status: 201,
      description: 'The stored message and the mails queued for it',
      schema: z.object({
        message_id: z.number().int(),
        internal: z.boolean(),
        outbound: z.array(z.object({ id: z.number().int(), kind: z.string(), recipient: z.string() })),
      }),
    },
    handler: ({ params, body, agent }) =>
      postAgentReply(db, boss, {
        ticketId: params.id,
        agentId: agent.id,
        body: body.body,
        format: body.format,
        internal: body.internal,
        attachments: body.attachments?.map((a) => ({
          filename: a.filename,
          content_type: a.content_type,
          content: Buffer.from(a.content_base64, 'base64'),
        })),
      }),
  });

  api.add({
    method: 'DELETE',
    url: '/tickets/:id/followers/:customer_id',
    tag: 'tickets',
    summary: 'Remove a follower',
    params: idParam.extend({ customer_id: z.coerce.number().int().positive() }),
    response: { status: 204, description: 'Removed' },
    handler: ({ params, agent }) => removeFollower(db, params.id, params.customer_id, agent.id),
  });
}
