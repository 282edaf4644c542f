// Statements on one pipelined node-postgres connection, for the hot paths (SMTP ingest, inbound
// processing). Syscalls are what a statement costs most here: a round trip is about ten times
// the price of a statement sent in a batch, so these paths send many statements per write and
// read the answers together.
import { createHash } from 'node:crypto';
import type pg from 'pg';

/** A statement on one connection: prepared by name, sent without waiting for earlier answers. */
export type Sql = <R extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  values?: unknown[],
) => Promise<pg.QueryResult<R>>;

const statementNames = new Map<string, string>();

/**
 * Runs queries as named prepared statements on one connection: PostgreSQL parses and plans each
 * distinct text once per connection instead of once per use.
 */
export function prepared(client: pg.ClientBase): Sql {
  return <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
    let name = statementNames.get(text);
    if (!name) {
      name = `inbound_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      statementNames.set(text, name);
    }
    return client.query<R>({ name, text, values });
  };
}

/**
 * Runs `send` with the connection's socket corked, so that every statement it sends leaves in one
 * write (node-postgres writes each statement on its own otherwise).
 */
export function corked<T>(client: pg.ClientBase, send: () => T): T {
  const stream = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
  stream.cork();
  try {
    return send();
  } finally {
    stream.uncork();
  }
}
