// /portal-settings: the customer portal's settings and branding, and its logo (admins only). A
// change is validated whole by the portal domain (updatePortalSettings): colour pairs people could
// not read are refused with the pair named, custom CSS that would load from elsewhere is refused.
// The logo is size-checked and typed by its own bytes (PNG, JPEG, GIF, WebP; never SVG).
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { z } from 'zod';
import { AppError, ForbiddenError, ValidationError } from '../../errors.ts';
import { createInboxStore } from '../../inboxes/index.ts';
import {
  getPortalSettings,
  LOGO_MAX_BYTES,
  LOGO_TYPES,
  type PortalSettings,
  portalSettingsSchema,
  removeLogo,
  setLogo,
  updatePortalSettings,
} from '../../portal/index.ts';
import { type ApiRoutes, BadRequestError } from './route.ts';

const TAG = 'portal settings';
const shape = portalSettingsSchema.shape;
const brandingShape = shape.branding.unwrap().shape;

const logo = z
  .object({
    content_type: z.enum(LOGO_TYPES),
    bytes: z.number().int(),
    url: z.string().describe('where the portal serves it'),
  })
  .nullable()
  .describe('the uploaded logo (PUT /portal-settings/logo), shown in the portal header');

const settingsOut = z.object({
  enabled: z.boolean(),
  self_signup: z.boolean(),
  auto_invite: z.boolean(),
  inbox_ids: z.array(z.number().int()),
  help_docs: z.boolean(),
  language: shape.language.unwrap(),
  branding: z.object({
    name: z.string(),
    primary_color: z.string(),
    background_color: z.string(),
    text_color: z.string(),
    custom_css: z.string(),
    header_html: z.string(),
    footer_html: z.string(),
  }),
  logo,
});

// A patch names only what changes: the fields without their defaults (which would reset what is
// left out). The result is validated whole by updatePortalSettings.
const brandingPatch = z
  .object({
    name: brandingShape.name.unwrap().optional().describe("the portal's name, in the header and the tab title"),
    primary_color: brandingShape.primary_color
      .unwrap()
      .optional()
      .describe('#rrggbb: buttons (white text on it) and links (on white and on the background)'),
    background_color: brandingShape.background_color.unwrap().optional().describe('#rrggbb: the page background'),
    text_color: brandingShape.text_color
      .unwrap()
      .optional()
      .describe('#rrggbb: text, on the background and on white panels'),
    custom_css: brandingShape.custom_css
      .unwrap()
      .optional()
      .describe('added to the page style; nothing may load from elsewhere (@import, url(https:...) are refused)'),
    header_html: brandingShape.header_html.unwrap().optional().describe('under the header; sanitized as mail is'),
    footer_html: brandingShape.footer_html.unwrap().optional().describe('the page footer; sanitized as mail is'),
  })
  .strict();

const settingsPatch = z
  .object({
    enabled: z.boolean().optional().describe('the portal is open (/ leads to it)'),
    self_signup: z.boolean().optional().describe('anyone may ask for an account with their address'),
    auto_invite: z.boolean().optional().describe("a new customer's first ticket brings the portal welcome"),
    inbox_ids: shape.inbox_ids.unwrap().optional().describe('the inboxes customers may open tickets in'),
    help_docs: z.boolean().optional().describe('the help articles are shown (/portal/help)'),
    language: shape.language.unwrap().optional().describe("a fixed language, or 'browser': Accept-Language"),
    branding: brandingPatch.optional(),
  })
  .strict();

function view(s: PortalSettings) {
  const { logo: l, ...rest } = s;
  return {
    ...rest,
    logo: l && { content_type: l.type, bytes: l.bytes, url: `/portal/logo?v=${l.version}` },
  };
}

export function portalSettingsRoutes(api: ApiRoutes, { db }: { db: Knex }): void {
  api.add({
    method: 'GET',
    url: '/portal-settings',
    tag: TAG,
    admin: true,
    summary: "The customer portal's settings and branding",
    response: { status: 200, description: 'The settings', schema: settingsOut },
    handler: async () => view(await getPortalSettings(db, { fresh: true })),
  });

  api.add({
    method: 'PATCH',
    url: '/portal-settings',
    tag: TAG,
    admin: true,
    summary: 'Change some settings; colours people could not read (under WCAG AA, 4.5:1) are refused, the pair named',
    body: settingsPatch,
    response: { status: 200, description: 'The settings', schema: settingsOut },
    handler: async ({ body }) => {
      if (body.inbox_ids?.length) {
        const known = new Set((await createInboxStore(db).list()).map((i) => Number(i.id)));
        const unknown = body.inbox_ids.filter((id) => !known.has(id));
        if (unknown.length) throw new ValidationError(`inbox_ids: no inbox ${unknown.join(', ')}`);
      }
      return view(await updatePortalSettings(db, body));
    },
  });

  api.add({
    method: 'DELETE',
    url: '/portal-settings/logo',
    tag: TAG,
    admin: true,
    summary: 'Remove the logo',
    response: { status: 204, description: 'Removed' },
    handler: () => removeLogo(db),
  });
}

/**
 * PUT /portal-settings/logo, mounted beside the declared routes (their methods are GET, POST,
 * PATCH and DELETE), in a scope of its own so that only it reads raw image bodies.
 */
export async function logoUploadRoute(app: FastifyInstance, { db }: { db: Knex }): Promise<void> {
  await app.register(async (scope) => {
    // the declared type is not believed: setLogo reads the type from the bytes
    scope.addContentTypeParser(
      /^(image\/[\w.+-]+|application\/octet-stream)$/,
      { parseAs: 'buffer', bodyLimit: LOGO_MAX_BYTES },
      (_req, body, done) => done(null, body),
    );
    scope.put('/portal-settings/logo', async (request, reply) => {
      if (request.agent?.role !== 'admin') throw new ForbiddenError('only admins may do this');
      let bytes: Buffer;
      if (request.isMultipart()) {
        const file = await request.file({ limits: { files: 1, fileSize: LOGO_MAX_BYTES } });
        if (!file) throw new BadRequestError('no file: send the image in a field named "file"');
        bytes = await file.toBuffer().catch((err: { statusCode?: number }) => {
          throw err.statusCode === 413
            ? new AppError('too_large', `the logo is over ${LOGO_MAX_BYTES / 1024} KB`, 413)
            : err;
        });
      } else if (Buffer.isBuffer(request.body)) bytes = request.body;
      else
        throw new BadRequestError(
          'send the image as the body (Content-Type: image/png, image/jpeg, image/gif or image/webp) or as multipart/form-data in a field named "file"',
        );
      const l = await setLogo(db, bytes);
      return reply.code(200).send(view({ ...(await getPortalSettings(db)), logo: l }).logo);
    });
  });
}

/** PUT /portal-settings/logo in the OpenAPI document. */
export const logoUploadDoc = {
  tags: [TAG],
  summary: `Upload the logo: PNG, JPEG, GIF or WebP (by its bytes; never SVG), at most ${LOGO_MAX_BYTES / 1024} KB (admins only)`,
  requestBody: {
    required: true,
    content: {
      'image/png': { schema: { type: 'string', format: 'binary' } },
      'image/jpeg': { schema: { type: 'string', format: 'binary' } },
      'image/gif': { schema: { type: 'string', format: 'binary' } },
      'image/webp': { schema: { type: 'string', format: 'binary' } },
      'multipart/form-data': {
        schema: {
          type: 'object',
          required: ['file'],
          properties: { file: { type: 'string', format: 'binary', description: 'the image' } },
        },
      },
    },
  },
  responses: {
    '200': {
      description: 'The logo',
      content: { 'application/json': { schema: z.toJSONSchema(logo.unwrap(), { io: 'output' }) } },
    },
    ...Object.fromEntries(
      ['400', '401', '403', '413', '422'].map((s) => [s, { $ref: '#/components/responses/Error' }]),
    ),
  },
};
