// /portal-users: customers with a portal account, as admins manage them (admins only): list and
// search, add (with or without the invitation mail), invite again, activate, deactivate, export.
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import type { Knex } from 'knex';
import type { Boss } from '../../queue/index.ts';
import { exportCustomers } from '../../customers/index.ts';
import {
  activatePortalUser,
  addPortalUser,
  deactivatePortalUser,
  getPortalUser,
  listPortalUsers,
  PORTAL_STATUSES,
  reinvitePortalUser,
} from '../../portal/index.ts';
import { type ApiRoutes, decodeCursor, idParam, page, pageQuery } from './route.ts';
import * as S from './schemas.ts';

const portalUser = z.object({
  id: z.number().int().describe('the customer'),
  name: z.string(),
  email: z.string().nullable().describe('the primary address'),
  company_id: z.number().int().nullable(),
  portal_status: z
    .enum(PORTAL_STATUSES)
    .describe('none: no account; invited: no password yet; active; disabled: deactivated, signed out'),
  portal_access: z.boolean().describe("portal_access as it applies: the customer's, else the company's, else true"),
  last_sign_in_at: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
});

const portalUserAdd = z
  .object({
    customer_id: z.number().int().positive().optional().describe('an existing customer'),
    email: z
      .string()
      .trim()
      .min(3)
      .max(254)
      .optional()
      .describe('an address: its customer, or a new customer (named `name`, placed as customers are)'),
    name: z.string().trim().max(200).optional(),
    company_id: z
      .number()
      .int()
      .positive()
      .nullable()
      .optional()
      .describe('for a new customer: a company chosen by hand (null: none); absent: by the address domain'),
    invite: z.boolean().default(true).describe('mail the invitation (a password link, 24 hours) now'),
  })
  .strict()
  .refine((b) => (b.customer_id === undefined) !== (b.email === undefined), 'give either customer_id or email');

export function portalUserRoutes(api: ApiRoutes, { db, boss }: { db: Knex; boss: Boss }): void {
  api.add({
    method: 'GET',
    url: '/portal-users',
    tag: 'portal users',
    admin: true,
    summary: 'List portal users, with their status and last sign-in',
    query: z.object({
      ...pageQuery,
      status: z.enum(PORTAL_STATUSES).optional().describe('one status; by default every customer with an account'),
      q: z.string().max(200).optional().describe('part of a name or address'),
    }),
    response: { status: 200, description: 'A page of portal users', schema: S.listOf(portalUser) },
    handler: async ({ query }) =>
      page(
        await listPortalUsers(db, {
          status: query.status,
          q: query.q,
          after: decodeCursor(query.cursor),
          limit: query.limit + 1,
        }),
        query.limit,
      ),
  });

  api.add({
    method: 'POST',
    url: '/portal-users',
    tag: 'portal users',
    admin: true,
    summary: 'Give a customer (existing, or new by address) a portal account, with or without the invitation mail',
    body: portalUserAdd,
    response: { status: 201, description: 'The portal user, invited', schema: portalUser },
    handler: ({ body }) => addPortalUser(db, boss, body),
  });

  api.add({
    method: 'GET',
    url: '/portal-users/export',
    tag: 'portal users',
    admin: true,
    summary: 'The portal users as CSV: the customers export with portal_status and last_sign_in_at',
    response: { status: 200, description: 'text/csv' },
    handler: async ({ request, reply }) => {
      const out = new PassThrough();
      exportCustomers(db, out, { portalUsers: true }).catch((err: unknown) => {
        request.log.error({ err }, 'portal users export failed');
        out.destroy(err as Error);
      });
      reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="portal-users.csv"');
      return out;
    },
  });

  api.add({
    method: 'GET',
    url: '/portal-users/:id',
    tag: 'portal users',
    admin: true,
    summary: 'Show a portal user',
    params: idParam,
    response: { status: 200, description: 'The portal user', schema: portalUser },
    handler: ({ params }) => getPortalUser(db, params.id),
  });

  api.add({
    method: 'POST',
    url: '/portal-users/:id/invite',
    tag: 'portal users',
    admin: true,
    summary: 'Mail a fresh invitation to a customer who has not set a password yet',
    params: idParam,
    response: { status: 200, description: 'The portal user, invited', schema: portalUser },
    handler: ({ params }) => reinvitePortalUser(db, boss, params.id),
  });

  api.add({
    method: 'POST',
    url: '/portal-users/:id/activate',
    tag: 'portal users',
    admin: true,
    summary: 'Let a deactivated portal user sign in again',
    params: idParam,
    response: { status: 200, description: 'The portal user', schema: portalUser },
    handler: ({ params }) => activatePortalUser(db, params.id),
  });

  api.add({
    method: 'POST',
    url: '/portal-users/:id/deactivate',
    tag: 'portal users',
    admin: true,
    summary: 'Deactivate a portal user: signed out everywhere at once',
    params: idParam,
    response: { status: 200, description: 'The portal user, disabled', schema: portalUser },
    handler: ({ params }) => deactivatePortalUser(db, params.id),
  });
}
