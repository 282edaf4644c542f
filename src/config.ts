// The environment, read once into a frozen, typed object. Nothing else in the program reads
// process.env: a bad value stops start-up here with a message naming the variable.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** A reply to a ticket closed longer ago than this many days opens a new ticket linked to it. */
export const DEFAULT_REOPEN_DAYS = 30;
/** How long a magic link to a ticket lives. */
export const DEFAULT_TICKET_LINK_DAYS = 30;

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: optionalString.pipe(
    z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
  ),
  DATA_DIR: z.string().trim().min(1).default('./.data'),
  EMBEDDED_PG_PORT: port.default(54329),
  // PostgreSQL's rule of thumb, about twice its cores: more connections than that on the same
  // machine compete for the CPU with the process they serve (the portal list: p99 71 ms with 20,
  // 57 ms with 6, on 2 cores)
  DB_POOL_MAX: positiveInt.max(200).default(Math.max(4, 2 * availableParallelism() + 2)),
  SMTP_HOST: z.string().trim().min(1).default('0.0.0.0'),
  SMTP_PORT: port.default(2525),
  SMTP_HOSTNAME: z.string().trim().min(1).default('localhost'),
  SMTP_TLS_CERT: optionalString,
  SMTP_TLS_KEY: optionalString,
  SMTP_MAX_CLIENTS: positiveInt.default(200),
  HTTP_HOST: z.string().trim().min(1).default('0.0.0.0'),
  HTTP_PORT: port.default(3000),
  PUBLIC_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  TRUST_PROXY: optionalString.pipe(
    z
      .string()
      .regex(/^[0-9a-fA-F:./]+(\s*,\s*[0-9a-fA-F:./]+)*$/, 'must be addresses or CIDRs separated by commas')
      .optional(),
  ),
  OUTBOUND_SMTP_URL: optionalString.pipe(z.url({ protocol: /^smtps?$/ }).optional()),
  MAX_MESSAGE_BYTES: positiveInt.default(25 * 1024 * 1024),
  WORKER_CONCURRENCY: positiveInt.max(64).default(8),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(30_000),
  REOPEN_DAYS: z.coerce.number().int().min(0).max(3650).default(DEFAULT_REOPEN_DAYS),
  ACK_LIMIT_PER_HOUR: z.coerce.number().int().min(0).max(1000).default(5),
  MAIL_CPU_BUDGET_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  TICKET_LINK_DAYS: z.coerce.number().int().min(1).max(3650).default(DEFAULT_TICKET_LINK_DAYS),
  // /metrics of a process without the web role (the web role serves it on HTTP_PORT); unset: none
  METRICS_PORT: optionalString.pipe(z.coerce.number<string>().int().min(1).max(65535).optional()),
  METRICS_TOKEN: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Variables whose value a start-up error does not repeat. */
const SECRETS: ReadonlySet<string> = new Set(['METRICS_TOKEN']);

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  /** Undefined means: run the embedded PostgreSQL under dataDir. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly embeddedPgPort: number;
  readonly dbPoolMax: number;
  readonly smtp: {
    readonly host: string;
    readonly port: number;
    readonly hostname: string;
    readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
    readonly maxClients: number;
    readonly maxMessageBytes: number;
  };
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly publicUrl: string | undefined;
    /** Where links in mail point: PUBLIC_URL, else this machine's HTTP port. No trailing slash. */
    readonly baseUrl: string;
    /** load balancers whose X-Forwarded-For is believed (client addresses for rate limits) */
    readonly trustProxy: readonly string[];
  };
  /** The domain of our Message-IDs: PUBLIC_URL's host, else SMTP_HOSTNAME. */
  readonly messageIdDomain: string;
  readonly outboundSmtpUrl: string | undefined;
  readonly workerConcurrency: number;
  /** A reply to a ticket closed longer ago than this opens a new, linked ticket instead. */
  readonly reopenDays: number;
  /** At most this many acks to one address in an hour (0: no acks at all). */
  readonly ackLimitPerHour: number;
  /** How long the magic link in a mail about a ticket works. */
  readonly ticketLinkDays: number;
  /** How long parsing, classifying and rendering one mail may take before it is quarantined. */
  readonly mailCpuBudgetMs: number;
  readonly shutdownTimeoutMs: number;
  readonly metrics: {
    /** where a process without the web role serves /metrics (on HTTP_HOST); undefined: it serves none */
    readonly port: number | undefined;
    /** when set, /metrics answers only `Authorization: Bearer <token>` */
    readonly token: string | undefined;
  };
  readonly logLevel: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** Parses the given environment (process.env by default). Throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '?');
        const value = SECRETS.has(name) ? '(not shown)' : env[name];
        return `${name}=${JSON.stringify(value ?? '')}: ${issue.message}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (Boolean(e.SMTP_TLS_CERT) !== Boolean(e.SMTP_TLS_KEY)) {
    problems.push('SMTP_TLS_CERT and SMTP_TLS_KEY: set both (STARTTLS) or neither (no TLS offered)');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return deepFreeze({
    env: e.NODE_ENV,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    dbPoolMax: e.DB_POOL_MAX,
    smtp: {
      host: e.SMTP_HOST,
      port: e.SMTP_PORT,
      hostname: e.SMTP_HOSTNAME,
      tls: e.SMTP_TLS_CERT && e.SMTP_TLS_KEY ? { certFile: e.SMTP_TLS_CERT, keyFile: e.SMTP_TLS_KEY } : undefined,
      maxClients: e.SMTP_MAX_CLIENTS,
      maxMessageBytes: e.MAX_MESSAGE_BYTES,
    },
    http: {
      host: e.HTTP_HOST,
      port: e.HTTP_PORT,
      publicUrl: e.PUBLIC_URL,
      baseUrl: (e.PUBLIC_URL ?? `http://localhost:${e.HTTP_PORT}`).replace(/\/+$/, ''),
      trustProxy: e.TRUST_PROXY ? e.TRUST_PROXY.split(',').map((x) => x.trim()) : [],
    },
    messageIdDomain: e.PUBLIC_URL ? new URL(e.PUBLIC_URL).hostname.toLowerCase() : e.SMTP_HOSTNAME.toLowerCase(),
    outboundSmtpUrl: e.OUTBOUND_SMTP_URL,
    workerConcurrency: e.WORKER_CONCURRENCY,
    reopenDays: e.REOPEN_DAYS,
    ackLimitPerHour: e.ACK_LIMIT_PER_HOUR,
    ticketLinkDays: e.TICKET_LINK_DAYS,
    mailCpuBudgetMs: e.MAIL_CPU_BUDGET_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    metrics: { port: e.METRICS_PORT, token: e.METRICS_TOKEN },
    logLevel: e.LOG_LEVEL,
  });
}

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) {
    if (v && typeof v === 'object' && !Object.isFrozen(v)) deepFreeze(v);
  }
  return Object.freeze(value);
}
