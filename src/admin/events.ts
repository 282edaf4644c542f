// Who did what in the admin area, and when: one row in events per action, with the agent.
import type { Db } from '../db/index.ts';

export interface AdminEvent {
  id: number;
  type: string;
  agentId: number | null;
  agentName: string | null;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** Writes the event; pass the action's transaction so the two commit together. */
export async function recordAdminEvent(
  db: Db,
  agentId: number,
  type: string,
  data: Record<string, unknown> = {},
): Promise<void> {
  await db('events').insert({ type: `admin.${type}`, agent_id: agentId, data: JSON.stringify(data) });
}

/** The newest admin events first, `before` an id for the next page. */
export async function listAdminEvents(db: Db, o: { limit?: number; before?: number } = {}): Promise<AdminEvent[]> {
  const rows = await db('events as e')
    .leftJoin('agents as a', 'a.id', 'e.agent_id')
    .whereNotNull('e.agent_id')
    .modify((q) => {
      if (o.before) q.where('e.id', '<', o.before);
    })
    .orderBy('e.id', 'desc')
    .limit(Math.min(o.limit ?? 50, 200))
    .select<
      {
        id: string;
        type: string;
        agent_id: string | null;
        name: string | null;
        data: Record<string, unknown>;
        created_at: Date;
      }[]
    >('e.id', 'e.type', 'e.agent_id', 'a.name', 'e.data', 'e.created_at');
  return rows.map((r) => ({
    id: Number(r.id),
    type: r.type,
    agentId: r.agent_id === null ? null : Number(r.agent_id),
    agentName: r.name,
    data: r.data,
    createdAt: r.created_at,
  }));
}
