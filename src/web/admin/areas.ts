// The admin pages that set up the portal and the inboxes, one file each.
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from './context.ts';
import { helpPages } from './help.ts';
import { inboxPages } from './inboxes.ts';
import { previewPages } from './portal-preview.ts';
import { portalSettingsPages } from './portal-settings.ts';
import { portalUserPages } from './portal-users.ts';

export async function areaPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  await portalSettingsPages(app, ctx);
  await previewPages(app, ctx);
  await helpPages(app, ctx);
  await portalUserPages(app, ctx);
  await inboxPages(app, ctx);
}
