// /customers: the customer directory.
import { z } from 'zod';
import type { Knex } from 'knex';
import type { Boss } from '../../queue/index.ts';
import {
  addAlternateEmail,
  createCustomer,
  deleteCustomer,
  getCustomer,
  listCustomers,
  mergeCustomers,
  removeAlternateEmail,
  updateCustomer,
} from '../../customers/index.ts';
import { listTickets } from '../../tickets/index.ts';
import { ForbiddenError } from '../../errors.ts';
import { addressesChanged } from '../../portal/index.ts';
import { type ApiRoutes, decodeCursor, idParam, page, pageQuery } from './route.ts';
import * as S from './schemas.ts';

export function customerRoutes(api: ApiRoutes, { db, boss }: { db: Knex; boss: Boss }): void {
  /**
   * A customer's addresses are how their portal account signs in and where its links go, and
   * their portal permissions what it may see: while they have an account, only admins change
   * either (an agent could otherwise add their own address and reset the password).
   */
  async function onlyAdminsOpenAccounts(customerId: number, role: string, touchesAccess: boolean): Promise<void> {
    if (!touchesAccess || role === 'admin') return;
    const c = await db('customers').where({ id: customerId }).first('portal_status');
    if (c && c.portal_status !== 'none')
      throw new ForbiddenError(
        'only admins change the addresses or portal permissions of a customer with a portal account',
      );
  }

  api.add({
    method: 'GET',
    url: '/customers',
    tag: 'customers',
    summary: 'List customers',
    query: z.object({
      ...pageQuery,
      company_id: z.coerce.number().int().positive().optional(),
      email: z.string().optional().describe('the customer owning this address (primary or alternate)'),
      q: z.string().max(200).optional().describe('part of a name or address'),
    }),
    response: { status: 200, description: 'A page of customers', schema: S.listOf(S.customer) },
    handler: async ({ query }) =>
      page(
        await listCustomers(db, { ...query, after: decodeCursor(query.cursor), limit: query.limit + 1 }),
        query.limit,
      ),
  });

  api.add({
    method: 'POST',
    url: '/customers',
    tag: 'customers',
    summary: 'Create a customer',
    body: S.customerCreate,
    response: { status: 201, description: 'The created customer', schema: S.customer },
    handler: ({ body }) => createCustomer(db, boss, body),
  });

  api.add({
    method: 'GET',
    url: '/customers/:id',
    tag: 'customers',
    summary: 'Show a customer',
    params: idParam,
    response: { status: 200, description: 'The customer', schema: S.customer },
    handler: ({ params }) => getCustomer(db, params.id),
  });

  api.add({
    method: 'PATCH',
    url: '/customers/:id',
    tag: 'customers',
    summary: 'Update a customer',
    params: idParam,
    body: S.customerUpdate,
    response: { status: 200, description: 'The updated customer', schema: S.customer },
    handler: async ({ params, body, agent }) => {
      const addresses = body.email !== undefined || body.alternate_emails !== undefined;
      await onlyAdminsOpenAccounts(params.id, agent.role, addresses || body.portal_permissions !== undefined);
      const updated = await updateCustomer(db, params.id, body);
      if (addresses) await addressesChanged(db, params.id);
      return updated;
    },
  });

  api.add({
    method: 'DELETE',
    url: '/customers/:id',
    tag: 'customers',
    summary: 'Delete a customer (their tickets are kept)',
    params: idParam,
    admin: true,
    response: { status: 204, description: 'Deleted' },
    handler: ({ params }) => deleteCustomer(db, params.id),
  });

  api.add({
    method: 'POST',
    url: '/customers/:id/emails',
    tag: 'customers',
    summary: 'Add an alternate address',
    params: idParam,
    body: z.object({ email: z.string().trim().min(3).max(254) }).strict(),
    response: { status: 201, description: 'The customer with the address', schema: S.customer },
    handler: async ({ params, body, agent }) => {
      await onlyAdminsOpenAccounts(params.id, agent.role, true);
      const updated = await addAlternateEmail(db, params.id, body.email);
      await addressesChanged(db, params.id);
      return updated;
    },
  });

  api.add({
    method: 'DELETE',
    url: '/customers/:id/emails/:email',
    tag: 'customers',
    summary: 'Remove an alternate address',
    params: idParam.extend({ email: z.string().min(3).max(254) }),
    response: { status: 200, description: 'The customer without the address', schema: S.customer },
    handler: async ({ params, agent }) => {
      await onlyAdminsOpenAccounts(params.id, agent.role, true);
      const updated = await removeAlternateEmail(db, params.id, params.email);
      await addressesChanged(db, params.id);
      return updated;
    },
  });

  api.add({
    method: 'POST',
    url: '/customers/:id/merge',
    tag: 'customers',
    summary: 'Merge another customer into this one: addresses, tickets, follows and history move',
    params: idParam,
    body: z.object({ customer_id: z.number().int().positive().describe('the customer merged away') }).strict(),
    admin: true,
    response: { status: 200, description: 'The customer after the merge', schema: S.customer },
    handler: ({ params, body }) => mergeCustomers(db, params.id, body.customer_id),
  });

  api.add({
    method: 'GET',
    url: '/customers/:id/tickets',
    tag: 'customers',
    summary: "A customer's tickets, newest first",
    params: idParam,
    query: z.object(pageQuery),
    response: { status: 200, description: 'A page of tickets', schema: S.listOf(S.ticketListItem) },
    handler: async ({ params, query }) => {
      await getCustomer(db, params.id);
      return page(
        await listTickets(db, {
          customer_id: params.id,
          before: decodeCursor(query.cursor),
          limit: query.limit + 1,
        }),
        query.limit,
      );
    },
  });
}
