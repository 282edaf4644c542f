// What a customer may do in the portal. A company sets defaults for its customers; a customer's
// own setting wins; with neither, the product default applies. Stored as partial objects, so
// "not set" (inherit) differs from "false".
import { z } from 'zod';

export const PORTAL_PERMISSIONS = {
  /** may sign in to the portal */
  portal_access: true,
  /** sees the tickets of everyone in their company, not only their own */
  view_company_tickets: false,
  /** may open new tickets from the portal */
  create_tickets: true,
} as const;

export type PortalPermission = keyof typeof PORTAL_PERMISSIONS;
export type PortalPermissions = Partial<Record<PortalPermission, boolean>>;
export const PERMISSION_NAMES = Object.keys(PORTAL_PERMISSIONS) as PortalPermission[];

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
  return out;
}
