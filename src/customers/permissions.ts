// What a customer may do in the portal. A company sets defaults for its customers; a customer's
// own setting wins; with neither, the product default applies. Stored as partial objects, so
// "not set" (inherit) differs from "false".
//
// The product defaults, and why:
//   portal_access         true   an invited customer can sign in
//   view_company_tickets  false  colleagues' tickets are theirs until the company says otherwise
//   create_tickets        true   the portal is another way to write to us
//   close_tickets         true   a customer whose question is answered may say so
//   view_priority         false  priority and tags are the agents' triage, not a promise
//   edit_priority         false
//   view_type             true   the kind of request (question, problem, ...) is the customer's too
//   edit_type             false
//   view_tags             false
//   view_assignee         false  who is on it is the team's routing; replies show their author anyway
// An edit permission includes its view: a customer who may set the priority sees it
// (effectivePermissions). New names go at the end: they are the CSV's columns, in this order.
import { z } from 'zod';

export const PORTAL_PERMISSIONS = {
  /** may sign in to the portal */
  portal_access: true,
  /** sees the tickets of everyone in their company, not only their own */
  view_company_tickets: false,
  /** may open new tickets from the portal */
  create_tickets: true,
  /** sees a ticket's priority */
  view_priority: false,
  /** may choose the priority of a new ticket and change it later (includes view_priority) */
  edit_priority: false,
  /** sees a ticket's type */
  view_type: true,
  /** may choose the type of a new ticket and change it later (includes view_type) */
  edit_type: false,
  /** sees a ticket's tags */
  view_tags: false,
  /** sees the name of the agent a ticket is assigned to */
  view_assignee: false,
  /** may close a ticket from the portal (and confirm that a resolved one is solved) */
  close_tickets: true,
} as const;

export type PortalPermission = keyof typeof PORTAL_PERMISSIONS;
export type PortalPermissions = Partial<Record<PortalPermission, boolean>>;
export const PERMISSION_NAMES = Object.keys(PORTAL_PERMISSIONS) as PortalPermission[];

/** What each permission allows, for the API's document. */
export const PERMISSION_DESCRIPTIONS: Record<PortalPermission, string> = {
  portal_access: 'may sign in to the portal (default true)',
  view_company_tickets: "sees the company's tickets, not only their own and those they follow (default false)",
  create_tickets: 'may open tickets from the portal (default true)',
  view_priority: "sees a ticket's priority (default false)",
  edit_priority: 'chooses and changes the priority; includes view_priority (default false)',
  view_type: "sees a ticket's type (default true)",
  edit_type: 'chooses and changes the type; includes view_type (default false)',
  view_tags: "sees a ticket's tags (default false)",
  view_assignee: 'sees the name of the assigned agent (default false)',
  close_tickets: 'may close a ticket, and confirm a resolved one is solved (default true)',
};

/** What an edit permission includes. */
const INCLUDES: Partial<Record<PortalPermission, PortalPermission>> = {
  edit_priority: 'view_priority',
  edit_type: 'view_type',
};

/** A partial set as sent by clients: true/false sets, null clears (inherit again). */
export const permissionsPatchSchema = z
  .object(
    Object.fromEntries(PERMISSION_NAMES.map((k) => [k, z.boolean().nullable().optional()])) as Record<
      PortalPermission,
      z.ZodOptional<z.ZodNullable<z.ZodBoolean>>
    >,
  )
  .strict();
export type PermissionsPatch = z.infer<typeof permissionsPatchSchema>;

export function applyPermissions(current: PortalPermissions, patch: PermissionsPatch): PortalPermissions {
  const out: PortalPermissions = { ...current };
  for (const k of PERMISSION_NAMES) {
    if (patch[k] === null) delete out[k];
    else if (patch[k] !== undefined) out[k] = patch[k];
  }
  return out;
}

export function effectivePermissions(
  customer: PortalPermissions,
  company: PortalPermissions | null,
): Record<PortalPermission, boolean> {
  const out = {} as Record<PortalPermission, boolean>;
  for (const k of PERMISSION_NAMES) out[k] = customer[k] ?? company?.[k] ?? PORTAL_PERMISSIONS[k];
  for (const [edit, view] of Object.entries(INCLUDES) as [PortalPermission, PortalPermission][])
    if (out[edit]) out[view] = true;
  return out;
}
