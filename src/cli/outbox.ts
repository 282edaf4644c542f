// `inbound outbox list|show`: what Inbound sent, is sending, kept (dev outbox) or gave up on.
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { listOutbound, OUTBOUND_STATUSES } from '../outbound/index.ts';
import { parseLimit, printJson, printTable, UsageError, withDatabase } from './common.ts';

export async function outboxCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = parseArgs({
      args: rest,
      options: { status: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' } },
    });
    if (values.status && !(OUTBOUND_STATUSES as readonly string[]).includes(values.status)) {
      throw new UsageError(`--status must be one of ${OUTBOUND_STATUSES.join(', ')}`);
    }
    const limit = parseLimit(values.limit) ?? 1000;
    return withDatabase(config, async (db) => {
      const rows = await listOutbound(db, { status: values.status, limit });
      if (values.json) printJson(rows);
      else
        printTable(
          rows.map((r) => ({
            id: r.id,
            created: r.created_at.toISOString(),
            kind: r.kind,
            to: r.recipient,
            ticket: r.ticket_id ?? '',
            status: r.status,
            attempts: r.attempts,
            subject: r.subject ?? '',
            'error/answer': r.last_error ?? r.smtp_response ?? '',
          })),
        );
      return 0;
    });
  }
  if (sub === 'show') {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { raw: { type: 'boolean' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1 || !/^\d+$/.test(positionals[0]!))
      throw new UsageError('usage: inbound outbox show <id> [--raw]');
    return withDatabase(config, async (db) => {
      const row = await db('outbound_messages')
        .where({ id: Number(positionals[0]) })
        .first();
      if (!row) {
        console.error(`inbound: no outbound mail ${positionals[0]}`);
        return 1;
      }
      if (values.raw) {
        if (!row.raw) {
          console.error(
            `inbound: outbound mail ${row.id} is not kept (${row.status}): only the dev outbox (no OUTBOUND_SMTP_URL) keeps whole mails, since they carry live links`,
          );
          return 1;
        }
        process.stdout.write(row.raw);
        return 0;
      }
      const { raw, ...rest } = row;
      printJson({ ...rest, size: raw?.length ?? null });
      return 0;
    });
  }
  throw new UsageError('usage: inbound outbox list [--status S] [--json] [--limit N] | outbox show <id> [--raw]');
}
