// Companies as agents manage them: name, email domains, portal permission defaults. A domain
// change re-places the customers matching by domain; customers placed by hand never move.
import type { Db, Knex } from '../db/index.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { isFreeMailDomain } from './domains.ts';

export interface CompanyView {
  id: number;
  name: string;
  domains: string[];
  portal_permissions: Record<string, boolean>;
  created_at: Date;
}

export interface CompanyInput {
  name?: string;
  domains?: string[];
  /** true/false set a default, null clears it; others are kept */
  portal_permissions?: Record<string, boolean | null | undefined>;
}

function withPermissions(
  current: Record<string, boolean>,
  patch: Record<string, boolean | null | undefined>,
): Record<string, boolean> {
  const out = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = v;
  }
  return out;
}

const HOSTNAME = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;

function normalizeDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/^@/, '').replace(/\.$/, '');
  if (!HOSTNAME.test(d)) throw new ValidationError(`not a domain name: ${domain}`);
  // thousands of unrelated people write from free-mail domains: such a domain names nobody's company
  if (isFreeMailDomain(d))
    throw new ValidationError(`${d} is a free-mail or disposable domain and cannot identify a company`);
  return d;
}

const SELECT = `SELECT c.id, c.name, c.portal_permissions, c.created_at,
                       coalesce((SELECT array_agg(d.domain ORDER BY d.domain) FROM company_domains d WHERE d.company_id = c.id), '{}') AS domains
                  FROM companies c`;

export async function getCompany(db: Db, id: number): Promise<CompanyView> {
  const { rows } = await db.raw(`${SELECT} WHERE c.id = ?`, [id]);
  if (!rows[0]) throw new NotFoundError(`no company ${id}`);
  return rows[0];
}

export async function findCompanyByName(db: Db, name: string): Promise<{ id: number; name: string } | undefined> {
  return db('companies').whereRaw('lower(name) = lower(?)', [name.trim()]).first('id', 'name');
}

/** A page of companies by id; `after` is the last id of the previous page. */
export async function listCompanies(
  db: Db,
  page: { after?: number; limit: number; name?: string },
): Promise<CompanyView[]> {
  const where: string[] = [];
  const values: Knex.Value[] = [];
  if (page.after !== undefined) {
    where.push('c.id > ?');
    values.push(page.after);
  }
  if (page.name) {
    where.push(`c.name ILIKE ? ESCAPE '\\'`);
    values.push(`%${page.name.replace(/[\\%_]/g, '\\$&')}%`);
  }
  const { rows } = await db.raw(
    `${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY c.id LIMIT ?`,
    [...values, page.limit],
  );
  return rows;
}

export async function createCompany(db: Db, input: CompanyInput & { name: string }): Promise<CompanyView> {
  return db.transaction(async (trx) => {
    const name = input.name.trim();
    if (!name) throw new ValidationError('a company needs a name');
    const [row] = await trx('companies')
      .insert({ name, portal_permissions: JSON.stringify(withPermissions({}, input.portal_permissions ?? {})) })
      .onConflict(trx.raw('(lower(name))'))
      .ignore()
      .returning('id');
    if (!row) throw await nameTaken(trx, name);
    if (input.domains?.length) await setDomains(trx, row.id, input.domains);
    await trx('events').insert({ type: 'company.created', data: { company_id: row.id, name } });
    return getCompany(trx, row.id);
  });
}

export async function updateCompany(db: Db, id: number, input: CompanyInput): Promise<CompanyView> {
  return db.transaction(async (trx) => {
    const current = await trx('companies').where({ id }).forUpdate().first('id', 'name', 'portal_permissions');
    if (!current) throw new NotFoundError(`no company ${id}`);
    const changes: Record<string, unknown> = {};
    if (input.name !== undefined) {
      const name = input.name.trim();
      if (!name) throw new ValidationError('a company needs a name');
      const other = await findCompanyByName(trx, name);
      if (other && other.id !== id) throw await nameTaken(trx, name);
      changes.name = name;
    }
    if (input.portal_permissions !== undefined)
      changes.portal_permissions = JSON.stringify(
        withPermissions(current.portal_permissions, input.portal_permissions),
      );
    if (Object.keys(changes).length) await trx('companies').where({ id }).update(changes);
    if (input.domains !== undefined) await setDomains(trx, id, input.domains);
    await trx('events').insert({ type: 'company.updated', data: { company_id: id, fields: Object.keys(input) } });
    return getCompany(trx, id);
  });
}

/** Deletes a company; its customers stay, with no company, and its tickets lose the link. */
export async function deleteCompany(db: Db, id: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('customers')
      .where({ company_id: id })
      .update({ company_id: null, company_source: null, updated_at: trx.fn.now() });
    const n = await trx('companies').where({ id }).delete();
    if (n !== 1) throw new NotFoundError(`no company ${id}`);
    await trx('events').insert({ type: 'company.deleted', data: { company_id: id } });
  });
}

/** Replaces a company's domains, then re-places the customers those domains concern. */
async function setDomains(trx: Db, companyId: number, domains: string[]): Promise<void> {
  const wanted = [...new Set(domains.map(normalizeDomain))];
  const taken = await trx('company_domains')
    .whereIn('domain', wanted)
    .whereNot({ company_id: companyId })
    .first('domain', 'company_id');
  if (taken)
    throw new ConflictError(`the domain ${taken.domain} belongs to company ${taken.company_id}`, {
      owner_id: taken.company_id,
    });
  const before = (await trx('company_domains').where({ company_id: companyId }).pluck('domain')) as string[];
  await trx('company_domains').where({ company_id: companyId }).whereNotIn('domain', wanted).delete();
  if (wanted.length)
    await trx('company_domains')
      .insert(wanted.map((domain) => ({ domain, company_id: companyId })))
      .onConflict('domain')
      .ignore();
  const changed = [...wanted.filter((d) => !before.includes(d)), ...before.filter((d) => !wanted.includes(d))];
  if (changed.length) await placeByDomain(trx, changed);
}

/**
 * Customers not placed by hand whose primary address is at one of these domains (or below one)
 * go to the company of their most specific matching domain, or to none.
 */
async function placeByDomain(db: Db, domains: string[]): Promise<number> {
  const { rowCount } = await db.raw(
    `WITH affected AS (
       SELECT c.id, split_part(e.address, '@', 2) AS dom
         FROM customers c JOIN customer_emails e ON e.customer_id = c.id AND e.is_primary
        WHERE c.company_source IS DISTINCT FROM 'manual'
          AND EXISTS (SELECT 1 FROM unnest(?::text[]) d
                       WHERE split_part(e.address, '@', 2) = d OR right(split_part(e.address, '@', 2), length(d) + 1) = '.' || d)
     ), best AS (
       SELECT a.id, (SELECT cd.company_id FROM company_domains cd
                      WHERE a.dom = cd.domain OR right(a.dom, length(cd.domain) + 1) = '.' || cd.domain
                      ORDER BY length(cd.domain) DESC LIMIT 1) AS company_id
         FROM affected a
     )
     UPDATE customers c
        SET company_id = b.company_id, company_source = CASE WHEN b.company_id IS NULL THEN NULL ELSE 'domain' END, updated_at = now()
       FROM best b
      WHERE c.id = b.id AND c.company_id IS DISTINCT FROM b.company_id`,
    [domains],
  );
  return rowCount ?? 0;
}

async function nameTaken(db: Db, name: string): Promise<ConflictError> {
  const other = await findCompanyByName(db, name);
  return new ConflictError(`there is already a company named ${other?.name ?? name}`, { owner_id: other?.id });
}
