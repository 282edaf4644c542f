// The customers CSV: its columns, and the cell rules that import and export share so an export
// re-imports unchanged.
import { PERMISSION_NAMES, type PortalPermission, type PortalPermissions } from './permissions.ts';

export const CSV_COLUMNS = ['name', 'email', 'alternate_emails', 'company', 'phone', ...PERMISSION_NAMES] as const;
/** columns the portal-users export adds; an import reads past them */
export const PORTAL_USER_COLUMNS = ['portal_status', 'last_sign_in_at'] as const;
export const ALTERNATES_SEPARATOR = ';';

/**
 * Formula injection (OWASP's CSV injection advice): a spreadsheet runs a cell that starts with
 * =, +, -, @, tab or CR (or the full-width ＝ ＋ － ＠ that Apple Numbers folds to them) as a
 * formula. A spreadsheet in a locale that splits on ';' (or a user splitting a cell on ',' or ';')
 * makes a new cell after each of those inside one of ours, so `a;=cmd|' /C calc'!A0` is a
 * formula too. The rule, where a formula could start:
 *
 *   At the start of the cell and right after every ',' or ';' in it, skip any spaces and '"'
 *   (a reader may trim the one and take the other for a quote); if what follows is a run of
 *   apostrophes (possibly none) and then one of the characters above, one more apostrophe is put
 *   in front of that run.
 *
 * So `=x` becomes `'=x`, `a;=x` becomes `a;'=x`, `a, "@x` becomes `a, "'@x`, and `'=x` (an
 * apostrophe that was in the data) becomes `''=x`. The import reverses it exactly: at the same
 * places, a run of one or more apostrophes before one of those characters loses one. Because the
 * escape always adds one where the unescape always takes one, and only apostrophes move, every
 * value re-imports unchanged (given the import's trim: a value without surrounding whitespace).
 *
 * Both regexes run in linear time: the quantified classes are disjoint from what follows them.
 */
const FORMULA_ESCAPE = /(^|[,;])([ "]*)(?='*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/g;
const FORMULA_UNESCAPE = /(^|[,;])([ "]*)'(?='*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/g;

export function escapeCell(value: string): string {
  return value.replace(FORMULA_ESCAPE, "$1$2'");
}

export function unescapeCell(value: string): string {
  return value.replace(FORMULA_UNESCAPE, '$1$2');
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
