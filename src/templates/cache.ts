// Compiled templates, kept for the life of the process. A default is compiled once; a stored
// version once per (name, locale, version). Versions are never edited, so an entry never goes
// stale: publishing makes a new key, and the superseded entry is dropped.
import type { Db } from '../db/index.ts';
import type { CompiledTemplate } from './compile.ts';

type Entries = Map<string, Promise<CompiledTemplate>>;

const defaults: Entries = new Map();
// Stored versions per database (tests and benchmarks may open several in one process): keyed by
// the knex config, which a transaction shares with the instance it came from.
let stored = new WeakMap<object, Entries>();

export function cachedDefault(
  name: string,
  locale: string,
  compile: () => Promise<CompiledTemplate>,
): Promise<CompiledTemplate> {
  return through(defaults, `${name}/${locale}`, compile);
}

/**
 * `versionId` is the version row's id, never reused even when the transaction that took it rolled
 * back, so a version number handed out twice cannot find the other one's compiled template.
 */
export function cachedVersion(
  db: Db,
  t: { name: string; locale: string; version: number; versionId: number },
  compile: () => Promise<CompiledTemplate>,
): Promise<CompiledTemplate> {
  const owner = db.client.config as object;
  let entries = stored.get(owner);
  if (!entries) {
    entries = new Map();
    stored.set(owner, entries);
  }
  const prefix = `${t.name}/${t.locale}/`;
  const key = `${prefix}${t.version}#${t.versionId}`;
  if (!entries.has(key)) for (const k of entries.keys()) if (k.startsWith(prefix)) entries.delete(k);
  return through(entries, key, compile);
}

// The promise is cached, so parallel sends of a new version compile it once; a failure is not
// cached, so it is reported again (and retried) on the next send.
function through(entries: Entries, key: string, compile: () => Promise<CompiledTemplate>): Promise<CompiledTemplate> {
  let hit = entries.get(key);
  if (!hit) {
    hit = compile();
    entries.set(key, hit);
    hit.catch(() => entries.get(key) === hit && entries.delete(key));
  }
  return hit;
}

/** Forget everything compiled (tests that measure compiling). */
export function clearTemplateCache(): void {
  defaults.clear();
  stored = new WeakMap();
}
