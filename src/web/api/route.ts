// One declaration per API route: its zod schemas validate the request and, the same objects,
// describe it in the OpenAPI document, so the document cannot drift from what is enforced.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z, type ZodType } from 'zod';
import { AppError, ForbiddenError } from '../../errors.ts';
import type { Agent } from '../../agents/index.ts';

export class BadRequestError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('bad_request', message, 400, { details });
  }
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Call<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  agent: Agent;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteSpec<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  /** Fastify style, under /api/v1: '/customers/:id' */
  url: string;
  tag: string;
  summary: string;
  params?: ZodType<P>;
  query?: ZodType<Q>;
  body?: ZodType<B>;
  /** a multipart upload instead of a JSON body (described in the document, parsed by the handler) */
  multipart?: { field: string; description: string };
  response: { status: number; description: string; schema?: ZodType };
  /** only admins may call it */
  admin?: boolean;
  handler(call: Call<P, Q, B>): Promise<unknown>;
}

export class ApiRoutes {
  readonly routes: RouteSpec[] = [];

  add<P = Record<string, never>, Q = Record<string, never>, B = undefined>(spec: RouteSpec<P, Q, B>): void {
    this.routes.push(spec as RouteSpec);
  }

  mount(app: FastifyInstance): void {
    for (const spec of this.routes) {
      app.route({
        method: spec.method,
        url: spec.url,
        handler: async (request, reply) => {
          const agent = request.agent!;
          if (spec.admin && agent.role !== 'admin') throw new ForbiddenError('only admins may do this');
          const params = parse(spec.params, request.params, 'path', BadRequestError);
          const query = parse(spec.query, request.query, 'query', BadRequestError);
          const body = spec.body ? parse(spec.body, request.body ?? {}, 'body', BodyError) : undefined;
          const result = await spec.handler({ params, query, body, agent, request, reply } as Call<
            unknown,
            unknown,
            unknown
          >);
          if (reply.sent) return reply;
          reply.code(spec.response.status);
          return spec.response.status === 204 ? reply.send() : result;
        },
      });
    }
  }

  openapi(info: { title: string; version: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = r.url.replace(/:(\w+)/g, '{$1}');
      const parameters = [...describeParams(r.params, 'path'), ...describeParams(r.query, 'query')];
      const errors = Object.fromEntries(
        errorStatuses(r).map((s) => [String(s), { $ref: '#/components/responses/Error' }]),
      );
      const entry = paths[path] ?? {};
      paths[path] = entry;
      entry[r.method.toLowerCase()] = {
        tags: [r.tag],
        summary: r.summary + (r.admin ? ' (admins only)' : ''),
        ...(parameters.length && { parameters }),
        ...(r.body && {
          requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } },
        }),
        ...(r.multipart && {
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: [r.multipart.field],
                  properties: {
                    [r.multipart.field]: { type: 'string', format: 'binary', description: r.multipart.description },
                  },
                },
              },
            },
          },
        }),
        responses: {
          [String(r.response.status)]: {
            description: r.response.description,
            ...(r.response.schema && {
              content: { 'application/json': { schema: schemaOf(r.response.schema, 'output') } },
            }),
          },
          ...errors,
        },
      };
    }
    return {
      openapi: '3.1.0',
      info,
      servers: [{ url: '/api/v1' }],
      security: [{ bearer: [] }],
      paths,
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API token from `inbound token create --agent <email>`',
          },
        },
        responses: {
          Error: {
            description:
              'An error: 400 malformed request, 401 no or bad token, 403 not allowed, 404 not found, 409 conflict (e.g. an address owned by another customer: `owner_id`), 422 invalid values',
            content: { 'application/json': { schema: schemaOf(errorSchema, 'output') } },
          },
        },
      },
    };
  }
}

const errorSchema = z.object({
  error: z.looseObject({ code: z.string(), message: z.string() }),
});

class BodyError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid', message, 422, { details });
  }
}

function parse<T>(
  schema: ZodType<T> | undefined,
  value: unknown,
  where: string,
  Err: new (m: string, d?: Record<string, unknown>) => AppError,
): T {
  if (!schema) return {} as T;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: [where, ...i.path].join('.'), message: i.message }));
  throw new Err(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
}

function schemaOf(schema: ZodType, io: 'input' | 'output'): unknown {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function describeParams(schema: ZodType | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema || !(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, ZodType>).map(([name, field]) => ({
    name,
    in: where,
    required: where === 'path' || !field.safeParse(undefined).success,
    schema: schemaOf(field, 'input'),
    ...(field.description && { description: field.description }),
  }));
}

function errorStatuses(r: RouteSpec): number[] {
  const out = [401];
  if (r.params || r.query) out.push(400);
  if (r.admin) out.push(403);
  if (r.params) out.push(404);
  if (r.body || r.multipart) out.push(400, 409, 422);
  return [...new Set(out)].sort();
}

/** Cursors are opaque to clients: the position (an id) wrapped so they do not build their own. */
function encodeCursor(id: number): string {
  return Buffer.from(`c${id}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const m = /^c(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new BadRequestError('cursor: not a cursor from this API');
  return Number(m[1]);
}

/** `{ data, next_cursor }` from a page fetched with one extra row, which tells whether more follow. */
export function page<T extends { id: number }>(rows: T[], limit: number): { data: T[]; next_cursor: string | null } {
  const data = rows.slice(0, limit);
  return { data, next_cursor: rows.length > limit ? encodeCursor(data[data.length - 1]!.id) : null };
}

export const idParam = z.object({ id: z.coerce.number().int().positive() });
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('page size, 1-200'),
  cursor: z.string().optional().describe('next_cursor of the previous page'),
};

declare module 'fastify' {
  interface FastifyRequest {
    agent?: Agent;
  }
}
