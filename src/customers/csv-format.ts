// The customers CSV: its columns, and the cell rules that import and export share so an export
// re-imports unchanged.
import { PERMISSION_NAMES, type PortalPermission, type PortalPermissions } from './permissions.ts';

export const CSV_COLUMNS = ['name', 'email', 'alternate_emails', 'company', 'phone', ...PERMISSION_NAMES] as const;
/** columns the portal-users export adds; an import reads past them */
export const PORTAL_USER_COLUMNS = ['portal_status', 'last_sign_in_at'] as const;
export const ALTERNATES_SEPARATOR = ';';

/**
 * A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
 * apostrophe (OWASP's advice); the import takes it off again.
 */
export function escapeCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

export function unescapeCell(value: string): string {
  return /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

export function formatPermission(value: boolean | undefined): string {
  return value === undefined ? '' : value ? 'yes' : 'no';
}

/** '' leaves the permission unset (inherited); yes/no and the usual spellings set it. */
export function parsePermission(value: string): boolean | undefined | Error {
  const v = value.trim().toLowerCase();
  if (v === '') return undefined;
  if (['yes', 'y', 'true', '1'].includes(v)) return true;
  if (['no', 'n', 'false', '0'].includes(v)) return false;
  return new Error(`'${value}' is not yes or no`);
}

export function permissionCells(p: PortalPermissions): Record<PortalPermission, string> {
  return Object.fromEntries(PERMISSION_NAMES.map((k) => [k, formatPermission(p[k])])) as Record<
    PortalPermission,
    string
  >;
}
