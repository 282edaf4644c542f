// CSV export of customers (all, a company's, or the portal users), in the import's columns so a
// file exported re-imports unchanged. Read a page at a time by id and written with backpressure:
// memory stays flat whatever the number of customers.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { Db } from '../db/index.ts';
import { ALTERNATES_SEPARATOR, CSV_COLUMNS, escapeCell, permissionCells, PORTAL_USER_COLUMNS } from './csv-format.ts';
import type { PortalPermissions } from './permissions.ts';

const PAGE = 2000;

export interface ExportOptions {
  companyId?: number;
  /** customers with a portal account, with its status and last sign-in */
  portalUsers?: boolean;
}

interface ExportRow {
  id: number;
  name: string;
  email: string | null;
  alternate_emails: string[];
  company: string | null;
  phone: string | null;
  portal_permissions: PortalPermissions;
  portal_status: string;
  last_sign_in_at: Date | null;
}

export async function exportCustomers(db: Db, out: Writable, opts: ExportOptions = {}): Promise<number> {
  const columns = [...CSV_COLUMNS, ...(opts.portalUsers ? PORTAL_USER_COLUMNS : [])];
  // every cell quoted, the header and empty cells too: a spreadsheet then takes each cell whole
  // as text rather than guessing at it, and the formula escape (escapeCell) covers the rest
  const csv = stringify({
    header: true,
    columns: [...columns],
    record_delimiter: 'unix',
    quoted: true,
    quoted_empty: true,
  });
  csv.pipe(out);
  let after = 0;
  let count = 0;
  for (;;) {
    const { rows } = await db.raw<{ rows: ExportRow[] }>(
      `SELECT c.id, c.name,
              (SELECT e.address FROM customer_emails e WHERE e.customer_id = c.id AND e.is_primary) AS email,
              array(SELECT e.address FROM customer_emails e WHERE e.customer_id = c.id AND NOT e.is_primary ORDER BY e.id) AS alternate_emails,
              co.name AS company, c.phone, c.portal_permissions, c.portal_status, c.last_sign_in_at
         FROM customers c LEFT JOIN companies co ON co.id = c.company_id
        WHERE c.id > ? ${opts.companyId !== undefined ? 'AND c.company_id = ?' : ''} ${opts.portalUsers ? `AND c.portal_status <> 'none'` : ''}
        ORDER BY c.id LIMIT ?`,
      [after, ...(opts.companyId !== undefined ? [opts.companyId] : []), PAGE],
    );
    for (const r of rows) {
      const record: Record<string, string> = {
        name: escapeCell(r.name),
        email: escapeCell(r.email ?? ''),
        alternate_emails: escapeCell(r.alternate_emails.join(ALTERNATES_SEPARATOR)),
        company: escapeCell(r.company ?? ''),
        phone: escapeCell(r.phone ?? ''),
        ...permissionCells(r.portal_permissions),
      };
      if (opts.portalUsers) {
        record.portal_status = r.portal_status;
        record.last_sign_in_at = r.last_sign_in_at?.toISOString() ?? '';
      }
      if (!csv.write(record)) await once(csv, 'drain');
      count++;
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.id;
  }
  csv.end();
  await once(csv, 'end');
  return count;
}
