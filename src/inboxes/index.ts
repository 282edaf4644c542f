// Inboxes: the addresses we accept mail for.
import type { Db } from '../db/index.ts';
import { ConflictError, ValidationError } from '../errors.ts';

export interface Inbox {
  id: number;
  address: string;
  name: string;
  from_name: string | null;
  enabled: boolean;
  created_at: Date;
}

const COLUMNS = ['id', 'address', 'name', 'from_name', 'enabled', 'created_at'];

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
