// `inbound admin create` and `inbound token create`: the first admin, and API tokens.
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { issueToken } from '../access/index.ts';
import { createAgent, createApiToken, findAgentByEmail, AGENT_ROLES, type AgentRole } from '../agents/index.ts';
import { UsageError, withDatabase } from './common.ts';

const PASSWORD_LINK_SECONDS = 24 * 3600;

export async function adminCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = 'usage: inbound admin create <email> [--name N] [--role admin|agent] [--password-stdin]';
  if (sub !== 'create') throw new UsageError(usage);
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      role: { type: 'string', default: 'admin' },
      'password-stdin': { type: 'boolean' },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError(usage);
  if (!(AGENT_ROLES as readonly string[]).includes(values.role!))
    throw new UsageError(`--role must be one of ${AGENT_ROLES.join(', ')}`);
  const password = values['password-stdin'] ? await readPassword() : undefined;
  return withDatabase(config, async (db) => {
    const agent = await createAgent(db, {
      email: positionals[0]!,
      name: values.name,
      role: values.role as AgentRole,
      password,
    });
    console.log(`created ${agent.role} ${agent.email} (id ${agent.id})`);
    if (password === undefined) {
      const { secret, expiresAt } = await issueToken(db, 'password_set', { agentId: agent.id }, PASSWORD_LINK_SECONDS);
      console.log(`set the password within 24 hours (until ${expiresAt.toISOString()}), once, at:`);
      console.log(`${config.http.baseUrl}/admin/password/${secret}`);
    }
    return 0;
  });
}

export async function tokenCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const usage = 'usage: inbound token create --agent <email> [--name N]';
  if (sub !== 'create') throw new UsageError(usage);
  const { values } = parseArgs({ args: rest, options: { agent: { type: 'string' }, name: { type: 'string' } } });
  if (!values.agent) throw new UsageError(usage);
  return withDatabase(config, async (db) => {
    const agent = await findAgentByEmail(db, values.agent!);
    if (!agent || agent.disabled) {
      console.error(`inbound: no active agent ${values.agent}`);
      return 1;
    }
    const { token } = await createApiToken(db, agent.id, values.name ?? '');
    // alone on stdout, so `TOKEN=$(inbound token create ...)` works; the rest goes to stderr
    process.stdout.write(`${token}\n`);
    console.error(`a new API token for ${agent.email}; it is shown this once`);
    return 0;
  });
}

/** The first line of stdin, without its line end. */
async function readPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]!;
  if (!password) throw new UsageError('--password-stdin: no password on stdin');
  return password;
}
