// The agents' JSON API under /api/v1: bearer API tokens, zod-validated bodies, errors as
// { error: { code, message } } (our own trouble also with the request_id its log line carries),
// cursor pages, and an OpenAPI document built from the same routes.
import type { FastifyError, FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { Boss } from '../../queue/index.ts';
import type { Logger } from '../../log.ts';
import { AppError } from '../../errors.ts';
import { agentForApiToken } from '../../agents/index.ts';
import { importCustomers, IMPORT_MAX_BYTES } from '../../customers/index.ts';
import { ApiRoutes, BadRequestError } from './route.ts';
import { customerRoutes } from './customers.ts';
import { companyRoutes } from './companies.ts';
import { ticketRoutes } from './tickets.ts';
import { outboundRoutes } from './outbound.ts';
import { portalUserRoutes } from './portal-users.ts';
import { helpArticleRoutes } from './help-articles.ts';
import { logoUploadDoc, logoUploadRoute, portalSettingsRoutes } from './portal-settings.ts';

export interface ApiDeps {
  db: Knex;
  boss: Boss;
  log: Logger;
}

function apiRoutes(deps: ApiDeps): ApiRoutes {
  const api = new ApiRoutes();
  ticketRoutes(api, deps);
  customerRoutes(api, deps);
  importRoute(api, deps);
  companyRoutes(api, deps);
  outboundRoutes(api, deps);
  portalUserRoutes(api, deps);
  helpArticleRoutes(api, deps);
  portalSettingsRoutes(api, deps);
  return api;
}

export async function apiPlugin(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const api = apiRoutes(deps);
  const document = api.openapi({ title: 'Inbound API', version: '1' });
  (document.paths as Record<string, Record<string, unknown>>)['/portal-settings/logo']!.put = logoUploadDoc;
  await app.register(multipart, { limits: { files: 1, fileSize: IMPORT_MAX_BYTES, fields: 10 } });

  app.get('/openapi.json', { config: { public: true } }, async () => document);

  app.addHook('onRequest', async (request) => {
    if ((request.routeOptions.config as { public?: boolean }).public) return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const agent = m ? await agentForApiToken(deps.db, m[1]!) : undefined;
    // the same answer for a missing, malformed, unknown or revoked token
    if (!agent) throw new AppError('unauthorized', 'a valid API token is needed: Authorization: Bearer <token>', 401);
    request.agent = agent;
  });

  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    if (err instanceof AppError && err.status < 500) {
      if (err.status === 401) reply.header('WWW-Authenticate', 'Bearer');
      return reply.code(err.status).send({ error: { code: err.code, message: err.message, ...err.details } });
    }
    const status = (err as FastifyError).statusCode;
    if (!(err instanceof AppError) && status && status >= 400 && status < 500) {
      // Fastify's own: bad JSON, wrong content type, too large, ...
      const code = status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
      return reply.code(status).send({ error: { code, message: err.message } });
    }
    // Our own trouble: the client gets the request id, which the log line carries as reqId, so
    // what a user reports finds the error; the error itself stays in the log.
    request.log.error({ err }, 'API request failed');
    const known = err instanceof AppError ? err : undefined;
    return reply.code(known?.status ?? 500).send({
      error: { code: known?.code ?? 'internal', message: known?.message ?? 'internal error', request_id: request.id },
    });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: { code: 'not_found', message: `no such endpoint: ${request.method} ${request.url.split('?')[0]}` },
    }),
  );

  api.mount(app);
  await logoUploadRoute(app, deps);
}

function importRoute(api: ApiRoutes, { db }: ApiDeps): void {
  api.add({
    method: 'POST',
    url: '/customers/import',
    tag: 'customers',
    admin: true,
    summary: 'Import customers from a CSV file (the same format and rules as `inbound customers import`)',
    query: z.object({
      dry_run: z
        .enum(['true', 'false'])
        .default('false')
        .transform((v) => v === 'true')
        .describe('check everything, change nothing'),
      update_existing: z
        .enum(['true', 'false'])
        .default('false')
        .transform((v) => v === 'true')
        .describe('update customers whose email exists'),
    }),
    multipart: { field: 'file', description: 'the CSV file' },
    response: {
      status: 200,
      description: 'What the import did, with every rejected row',
      schema: z.object({
        created: z.number().int(),
        updated: z.number().int(),
        skipped: z.number().int(),
        failed: z.number().int(),
        dry_run: z.boolean(),
        errors: z.array(z.object({ line: z.number().int(), email: z.string().nullable(), reason: z.string() })),
      }),
    },
    handler: async ({ query, request }) => {
      if (!request.isMultipart())
        throw new BadRequestError('send the CSV as multipart/form-data, in a field named "file"');
      const file = await request.file();
      if (!file) throw new BadRequestError('no file: send the CSV in a field named "file"');
      // past the size limit the upload stops with an error (batches written so far stay: a re-run
      // of the whole file skips them)
      file.file.once('limit', () =>
        file.file.destroy(new AppError('too_large', `the file is over ${IMPORT_MAX_BYTES} bytes`, 413)),
      );
      return importCustomers(db, file.file, { dryRun: query.dry_run, updateExisting: query.update_existing });
    },
  });
}
