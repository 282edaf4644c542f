// /companies: companies, their domains and portal defaults, and their customers and tickets.
import { z } from 'zod';
import type { Knex } from 'knex';
import { createCompany, deleteCompany, getCompany, listCompanies, updateCompany } from '../../companies/index.ts';
import { listCustomers } from '../../customers/index.ts';
import { listTickets } from '../../tickets/index.ts';
import { ForbiddenError } from '../../errors.ts';
import { type ApiRoutes, decodeCursor, idParam, page, pageQuery } from './route.ts';
import * as S from './schemas.ts';

export function companyRoutes(api: ApiRoutes, { db }: { db: Knex }): void {
  api.add({
    method: 'GET',
    url: '/companies',
    tag: 'companies',
    summary: 'List companies',
    query: z.object({ ...pageQuery, name: z.string().max(200).optional().describe('part of the name') }),
    response: { status: 200, description: 'A page of companies', schema: S.listOf(S.company) },
    handler: async ({ query }) =>
      page(
        await listCompanies(db, { name: query.name, after: decodeCursor(query.cursor), limit: query.limit + 1 }),
        query.limit,
      ),
  });

  api.add({
    method: 'POST',
    url: '/companies',
    tag: 'companies',
    summary: 'Create a company',
    body: S.companyCreate,
    response: { status: 201, description: 'The created company', schema: S.company },
    handler: ({ body }) => createCompany(db, body),
  });

  api.add({
    method: 'GET',
    url: '/companies/:id',
    tag: 'companies',
    summary: 'Show a company',
    params: idParam,
    response: { status: 200, description: 'The company', schema: S.company },
    handler: ({ params }) => getCompany(db, params.id),
  });

  api.add({
    method: 'PATCH',
    url: '/companies/:id',
    tag: 'companies',
    summary: 'Update a company (domains replace the list; customers placed by hand never move)',
    params: idParam,
    body: S.companyUpdate,
    response: { status: 200, description: 'The updated company', schema: S.company },
    handler: ({ params, body, agent }) => {
      // what the company's customers may see and do in the portal is an admin's decision
      if (body.portal_permissions !== undefined && agent.role !== 'admin')
        throw new ForbiddenError("only admins change a company's portal permissions");
      return updateCompany(db, params.id, body);
    },
  });

  api.add({
    method: 'DELETE',
    url: '/companies/:id',
    tag: 'companies',
    summary: 'Delete a company (its customers stay, without a company)',
    params: idParam,
    admin: true,
    response: { status: 204, description: 'Deleted' },
    handler: ({ params }) => deleteCompany(db, params.id),
  });

  api.add({
    method: 'GET',
    url: '/companies/:id/customers',
    tag: 'companies',
    summary: "A company's customers",
    params: idParam,
    query: z.object(pageQuery),
    response: { status: 200, description: 'A page of customers', schema: S.listOf(S.customer) },
    handler: async ({ params, query }) => {
      await getCompany(db, params.id);
      return page(
        await listCustomers(db, { company_id: params.id, after: decodeCursor(query.cursor), limit: query.limit + 1 }),
        query.limit,
      );
    },
  });

  api.add({
    method: 'GET',
    url: '/companies/:id/tickets',
    tag: 'companies',
    summary: "A company's tickets, newest first",
    params: idParam,
    query: z.object(pageQuery),
    response: { status: 200, description: 'A page of tickets', schema: S.listOf(S.ticketListItem) },
    handler: async ({ params, query }) => {
      await getCompany(db, params.id);
      return page(
        await listTickets(db, { company_id: params.id, before: decodeCursor(query.cursor), limit: query.limit + 1 }),
        query.limit,
      );
    },
  });
}
