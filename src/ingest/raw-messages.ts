// Reading the stored raw mail: listings for the CLI, and the bytes for the worker.
import type { Db } from '../db/index.ts';

export const RAW_STATUSES = ['received', 'processed', 'duplicate', 'quarantined'] as const;
export type RawStatus = (typeof RAW_STATUSES)[number];

/** A raw message without its bytes, as listings show it (JSON names are snake_case, like the API). */
export interface RawMessageSummary {
  id: number;
  received_at: Date;
  mail_from: string;
  rcpt_to: string[];
  remote_address: string | null;
  helo: string | null;
  size: number;
  sha256: string;
  message_id: string | null;
  status: RawStatus;
  duplicate_of: number | null;
  attempts: number;
  error: string | null;
  /** what processing made of it: ticket_created, reply, bounce, auto_reply, ... */
  outcome: string | null;
  processed_at: Date | null;
}

const SUMMARY_COLUMNS = [
  'id',
  'received_at',
  'mail_from',
  'rcpt_to',
  'remote_address',
  'helo',
  'size',
  'sha256',
  'message_id',
  'status',
  'duplicate_of',
  'attempts',
  'error',
  'outcome',
  'processed_at',
];

type SummaryRow = Omit<RawMessageSummary, 'sha256'> & { sha256: Buffer };

const toSummary = (r: SummaryRow): RawMessageSummary => ({ ...r, sha256: r.sha256.toString('hex') });

export function createRawMessageStore(db: Db) {
  return {
    /** Oldest first; all matching rows unless a limit is given. */
    async list(filter: { status?: RawStatus; limit?: number } = {}): Promise<RawMessageSummary[]> {
      const q = db('raw_messages').select(SUMMARY_COLUMNS).orderBy('id');
      if (filter.status) q.where({ status: filter.status });
      if (filter.limit !== undefined) q.limit(filter.limit);
      const rows: SummaryRow[] = await q;
      return rows.map(toSummary);
    },

    async get(id: number): Promise<RawMessageSummary | undefined> {
      const row: SummaryRow | undefined = await db('raw_messages').select(SUMMARY_COLUMNS).where({ id }).first();
      return row && toSummary(row);
    },
  };
}

export type RawMessageStore = ReturnType<typeof createRawMessageStore>;
