// Inboxes: the addresses we accept mail for.
import type { Db } from '../db/index.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';

export interface Inbox {
  id: number;
  address: string;
  name: string;
  from_name: string | null;
  enabled: boolean;
  created_at: Date;
}

const COLUMNS = ['id', 'address', 'name', 'from_name', 'enabled', 'created_at'];

/**
 * The per-inbox switches kept in inboxes.settings, as the mail that reads them takes them: acks
 * unless `ack` is false (inbound/write.ts), the portal welcome for a new customer's first ticket
 * when `portal_welcome` is true (inbound/write.ts), automatic mail in `locale` when the customer
 * has none (outbound/send.ts).
 */
export interface InboxSettings {
  ack: boolean;
  portal_welcome: boolean;
  locale: string | null;
}

export interface InboxWithSettings extends Inbox {
  settings: InboxSettings;
}

/** What an admin may change of an inbox (its address stays: replies and tokens name it). */
export interface InboxChange {
  name?: string;
  /** the sender name of mail from this inbox; empty or null: its name */
  from_name?: string | null;
  enabled?: boolean;
  ack?: boolean;
  portal_welcome?: boolean;
  /** a language tag such as en or de-at; empty or null: none (English unless the customer has one) */
  locale?: string | null;
}

const LOCALE = /^[a-z]{2}(-[a-z]{2})?$/;
/** a name goes into a From header: one line, no control characters */
const ONE_LINE = /^[^\p{Cc}]*$/u;

function withSettings(row: Inbox & { settings: Record<string, unknown> | null }): InboxWithSettings {
  const s = row.settings ?? {};
  return {
    ...row,
    id: Number(row.id),
    settings: {
      ack: s.ack !== false && s.ack !== 'false',
      portal_welcome: s.portal_welcome === true || s.portal_welcome === 'true',
      locale: typeof s.locale === 'string' && s.locale ? s.locale : null,
    },
  };
}

/** The change checked and split into columns and settings keys (null: remove the key). */
function cleanChange(c: InboxChange): { columns: Record<string, unknown>; settings: Record<string, unknown> } {
  const columns: Record<string, unknown> = {};
  const settings: Record<string, unknown> = {};
  const line = (what: string, v: string, max: number) => {
    const t = v.trim();
    if (t.length > max || !ONE_LINE.test(t))
      throw new ValidationError(`${what}: one line of at most ${max} characters`);
    return t;
  };
  if (c.name !== undefined) {
    const name = line('name', c.name, 200);
    if (!name) throw new ValidationError('name: 1 to 200 characters');
    columns.name = name;
  }
  if (c.from_name !== undefined) columns.from_name = line('from_name', c.from_name ?? '', 200) || null;
  if (c.enabled !== undefined) columns.enabled = c.enabled;
  if (c.ack !== undefined) settings.ack = c.ack;
  if (c.portal_welcome !== undefined) settings.portal_welcome = c.portal_welcome;
  if (c.locale !== undefined) {
    const locale = (c.locale ?? '').trim().toLowerCase();
    if (locale && !LOCALE.test(locale)) throw new ValidationError('locale: a language tag such as en or de-at');
    settings.locale = locale || null;
  }
  return { columns, settings };
}

const ADDRESS = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.?[^\s@<>()[\]\\,;:"]*$/;

/**
 * The inbox an envelope address is for: lower-cased, and `local+anything@domain` is
 * `local@domain` (the part after + carries reply tokens and user tags).
 */
export function inboxAddressOf(address: string): string {
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf('@');
  if (at <= 0) return a;
  const local = a.slice(0, at);
  const plus = local.indexOf('+');
  return (plus > 0 ? local.slice(0, plus) : local) + a.slice(at);
}

export function createInboxStore(db: Db) {
  /** The new inbox; undefined when the address is an inbox already (made by someone else meanwhile too). */
  async function addIfNew(address: string, name?: string): Promise<Inbox | undefined> {
    const normalized = address.trim().toLowerCase();
    if (!ADDRESS.test(normalized)) throw new ValidationError(`not an email address: ${address}`);
    if (normalized.slice(0, normalized.indexOf('@')).includes('+')) {
      throw new ValidationError(`an inbox address cannot contain '+' (it carries reply tokens): ${address}`);
    }
    const [row] = await db('inboxes')
      .insert({ address: normalized, name: name?.trim() || normalized })
      .onConflict('address')
      .ignore()
      .returning(COLUMNS);
    return row as Inbox | undefined;
  }

  return {
    addIfNew,

    async add(address: string, name?: string): Promise<Inbox> {
      const row = await addIfNew(address, name);
      if (!row) throw new ConflictError(`inbox ${address.trim().toLowerCase()} exists already`);
      return row;
    },

    async list(): Promise<Inbox[]> {
      return db('inboxes').select(COLUMNS).orderBy('id');
    },

    async count(): Promise<number> {
      const [row] = await db('inboxes').count<{ count: number }[]>({ count: '*' });
      return Number(row?.count ?? 0);
    },

    /** Every inbox with its settings, by id. */
    async listWithSettings(): Promise<InboxWithSettings[]> {
      return (
        await db('inboxes')
          .select([...COLUMNS, 'settings'])
          .orderBy('id')
      ).map(withSettings);
    },

    async get(id: number): Promise<InboxWithSettings | undefined> {
      const row = await db('inboxes')
        .select([...COLUMNS, 'settings'])
        .where({ id })
        .first();
      return row && withSettings(row);
    },

    /** Changes an inbox's name, sender name, switches and language; other settings keys stay. */
    async update(id: number, change: InboxChange): Promise<InboxWithSettings> {
      const { columns, settings } = cleanChange(change);
      const removed = Object.keys(settings).filter((k) => settings[k] === null);
      const set = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== null));
      const [row] = await db('inboxes')
        .where({ id })
        .update({
          ...columns,
          settings: db.raw(`(settings${' - ?::text'.repeat(removed.length)}) || ?::jsonb`, [
            ...removed,
            JSON.stringify(set),
          ]),
        })
        .returning([...COLUMNS, 'settings']);
      if (!row) throw new NotFoundError(`no inbox ${id}`);
      return withSettings(row);
    },

    /** The enabled inbox an envelope recipient is for, if any. */
    async findEnabled(recipient: string): Promise<Inbox | undefined> {
      return db('inboxes')
        .select(COLUMNS)
        .where({ address: inboxAddressOf(recipient), enabled: true })
        .first();
    },
  };
}

export type InboxStore = ReturnType<typeof createInboxStore>;

/**
 * Caches positive RCPT answers for a few seconds: a busy MX asks for the same few addresses on
 * every message. Misses always ask the database, so a new inbox works at once; a disabled one
 * may still be accepted for up to `ttlMs`.
 */
export function cachedInboxLookup(store: InboxStore, ttlMs = 5_000) {
  const hits = new Map<string, { inbox: Inbox; until: number }>();
  return async (recipient: string): Promise<Inbox | undefined> => {
    const key = inboxAddressOf(recipient);
    const now = Date.now();
    const hit = hits.get(key);
    if (hit && hit.until > now) return hit.inbox;
    const inbox = await store.findEnabled(key);
    if (inbox) {
      if (hits.size > 10_000) hits.clear();
      hits.set(key, { inbox, until: now + ttlMs });
    } else {
      hits.delete(key);
    }
    return inbox;
  };
}
