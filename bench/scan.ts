// An automated scan of the portal and the admin area with wapiti (Debian's `wapiti` package), signed
// in: the whole system (`inbound start`, every role) on a database of its own with a company, a
// customer who came in by mail (a ticket with a file) and has a portal password, a help article and
// an admin; wapiti crawls and attacks /portal/ with the customer's session cookie and /admin/ with
// the admin's, each run capped by --max-scan-time. Its JSON reports and a summary go to
// bench/results/scan/ (portal.json, admin.json, summary.json), and the findings are printed.
//
//   npm run scan [-- --max-scan-time 300] [--modules LIST] [--keep]
//
// scripts/scan.sh is the documented entry point (it checks that wapiti is there). The database is
// DATABASE_URL's server (or the embedded PostgreSQL), and is dropped at the end unless --keep.
// Sign-out and the admin's actions that would end the scan's own sessions (deactivating the
// customer, the second factor) are left out: wapiti's own exclusion (-x) fails on the Python of
// Debian 12 (its wildcard regex has its flags at the end), so wapiti goes through a proxy here that
// answers those posts with a 403 and passes everything else on. Both stay signed in throughout.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchDatabase, log } from './_support.ts';
import { freePort } from '../test/helpers/ports.ts';
import { sendRaw } from '../test/helpers/smtp-client.ts';
import { createAgent, createApiToken } from '../src/agents/index.ts';
import { createDb } from '../src/db/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { createArticle, setPassword, updatePortalSettings } from '../src/portal/index.ts';

const { values: opts } = parseArgs({
  options: {
    'max-scan-time': { type: 'string', default: '300' },
    // the default modules without ssrf (it asks a server on the internet), and csrf, crlf, methods,
    // htaccess; not xxe either (it asks that server too, and nothing here reads XML)
    modules: {
      type: 'string',
      default:
        'blindsql,cookieflags,crlf,csp,csrf,exec,file,htaccess,http_headers,methods,permanentxss,redirect,sql,xss',
    },
    keep: { type: 'boolean', default: false },
  },
});

/** Posts that would end the scan's own sessions or lock its admin out. */
const LEFT_OUT =
  /^\/(portal\/sign-out|admin\/sign-out|admin\/portal-users\/[^/]+\/deactivate|admin\/account\/totp\/[a-z]+)\/?$/;
const OUT = path.resolve(import.meta.dirname, 'results', 'scan');
const PASSWORD = 'scan password 12345';
const root = path.resolve(import.meta.dirname, '..');

const database = await benchDatabase();
const db = createDb(database.url, { poolMax: 4, log });
const [httpPort, smtpPort] = [await freePort(), await freePort()];
const base = `http://127.0.0.1:${httpPort}`;
let server: ReturnType<typeof spawn> | undefined;
/** wapiti's sessions and the cookie file (the signed-in sessions' secrets): removed at the end */
const work = path.join(os.tmpdir(), `inbound-scan-${process.pid}`);
// the server goes with this process, however it ends
process.on('exit', () => server?.kill('SIGTERM'));

try {
  // what there is to see: an inbox the portal opens, a help article, an admin and an API token
  const inbox = await createInboxStore(db).add('support@scan.test', 'Scan Support');
  await updatePortalSettings(db, { enabled: true, self_signup: true, help_docs: true, inbox_ids: [Number(inbox.id)] });
  await createArticle(db, { title: 'Printer offline', locale: 'en', body: 'Turn it **off** and on.', published: true });
  const admin = await createAgent(db, {
    email: 'admin@scan.test',
    name: 'Scan Admin',
    role: 'admin',
    password: PASSWORD,
  });
  const token = (await createApiToken(db, admin.id)).token;

  server = spawn(process.execPath, [path.join(root, 'bin/inbound.js'), 'start'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtpPort),
      PUBLIC_URL: base,
      LOG_LEVEL: 'error',
    },
  });
  await until(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok, 60_000, 'the server to start');

  const api = async (method: string, url: string, body: unknown) => {
    const r = await fetch(`${base}/api/v1${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${await r.text()}`);
    return (await r.json()) as { id: number };
  };
  await api('POST', '/companies', {
    name: 'Acme Scan',
    domains: ['acme-scan.test'],
    portal_permissions: { view_priority: true, edit_priority: true, edit_type: true, view_company_tickets: true },
  });

  // the customer comes in by mail, with a file
  const mail = [
    'From: Carla Customer <carla@acme-scan.test>',
    'To: support@scan.test',
    'Subject: The printer is offline',
    `Message-ID: <scan-${Date.now()}@acme-scan.test>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>Hello, the <b>printer</b> says <i>offline</i>.</p>',
    '--b',
    'Content-Type: text/plain',
    'Content-Disposition: attachment; filename="error-log.txt"',
    '',
    'E42 offline',
    '--b--',
    '',
  ].join('\r\n');
  const sent = await sendRaw(smtpPort, 'carla@acme-scan.test', ['support@scan.test'], mail);
  if (sent.code !== 250) throw new Error(`the mail was refused: ${sent.code} ${sent.text}`);
  const customerId = await until(
    async () =>
      (await db('customer_emails').where({ address: 'carla@acme-scan.test' }).first('customer_id'))?.customer_id,
    60_000,
    'the mail to become a ticket',
  );
  await until(async () => db('tickets').where({ requester_id: customerId }).first('id'), 60_000, 'the ticket');
  await setPassword(db, Number(customerId), PASSWORD);

  const portalCookie = await signIn('/portal/sign-in', 'carla@acme-scan.test', 'inbound_portal');
  const adminCookie = await signIn('/admin/sign-in', 'admin@scan.test', 'inbound_admin');

  await mkdir(OUT, { recursive: true });
  await mkdir(work, { recursive: true });
  const cookie = (value: string) => ({ value, expires: null, secure: false, port: null, version: 0 });
  const cookies = path.join(work, 'cookies.json');
  await writeFile(
    cookies,
    JSON.stringify({
      '127.0.0.1': {
        '/portal': { inbound_portal: cookie(portalCookie) },
        '/admin': { inbound_admin: cookie(adminCookie) },
      },
    }),
  );

  const proxy = await leftOutProxy();
  const version = (await run('wapiti', ['--version'], { quiet: true })).trim().split('\n').at(-1) ?? 'wapiti';
  const reports: Record<string, Report> = {};
  const traffic: Record<string, { requests: number; paths: number }> = {};
  for (const area of ['portal', 'admin'] as const) {
    proxy.traffic.requests = 0;
    proxy.traffic.paths.clear();
    // the base is a page of the area (the scope is its folder, /portal/ or /admin/), where the header
    // and cookie checks look; the crawl starts from these too
    const [first, ...start] =
      area === 'portal'
        ? ['/portal/tickets', '/portal/help', '/portal/tickets/new?subject=Printer']
        : ['/admin/portal', '/admin', '/admin/help', '/admin/templates', '/admin/inboxes', '/admin/portal-users'];
    const report = path.join(OUT, `${area}.json`);
    console.log(`scan: ${version} on ${base}/${area}/, signed in (at most ${opts['max-scan-time']} s)`);
    await run('wapiti', [
      '-u',
      `${base}${first}`,
      ...start.flatMap((s) => ['-s', `${base}${s}`]),
      '--scope',
      'folder',
      '-c',
      cookies,
      '-m',
      opts.modules!,
      '--max-scan-time',
      opts['max-scan-time']!,
      // every module gets its share of the time
      '--max-attack-time',
      String(Math.max(10, Math.floor(Number(opts['max-scan-time']) / opts.modules!.split(',').length))),
      '-d',
      '6',
      '--flush-session',
      '--store-session',
      path.join(work, area),
      '--store-config',
      path.join(work, `${area}-config`),
      '-p',
      proxy.url,
      '--no-bugreport',
      '-f',
      'json',
      '-o',
      report,
      '-v',
      '1',
    ]);
    reports[area] = JSON.parse(await readFile(report, 'utf8')) as Report;
    traffic[area] = { requests: proxy.traffic.requests, paths: proxy.traffic.paths.size };
    // still signed in at the end: the scan saw the signed-in pages throughout
    const still = await fetch(`${base}/${area === 'portal' ? 'portal/tickets' : 'admin'}`, {
      headers: { cookie: area === 'portal' ? `inbound_portal=${portalCookie}` : `inbound_admin=${adminCookie}` },
      redirect: 'manual',
    });
    console.log(
      `scan: the ${area} session ${still.status === 200 ? 'was still signed in' : `had ended (${still.status})`}`,
    );
  }

  const summary = {
    scanner: version,
    at: new Date().toISOString(),
    target: base,
    max_scan_time_s: Number(opts['max-scan-time']),
    left_out: proxy.blocked,
    // what the server answered the scanner's posts, by path and status
    posts: proxy.posts,
    modules: opts.modules!.split(','),
    areas: Object.fromEntries(
      Object.entries(reports).map(([area, r]) => [area, { ...traffic[area], findings: findings(r) }]),
    ),
  };
  await writeFile(path.join(OUT, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  for (const [area, s] of Object.entries(summary.areas)) {
    console.log(`\n${area}: ${s.findings.length} findings (${s.requests} requests to ${s.paths} paths)`);
    for (const f of s.findings)
      console.log(
        `  [${f.kind}] ${f.category}: ${f.method} ${f.path}${f.parameter ? ` (${f.parameter})` : ''} - ${f.info}`,
      );
  }
  console.log(`\nscan: reports in ${path.relative(root, OUT)}/`);
} finally {
  server?.kill('SIGTERM');
  await rm(work, { recursive: true, force: true });
  await db.destroy();
  if (!opts.keep) await database.drop();
  else console.log(`scan: kept the database ${database.url}`);
}

interface Finding {
  method: string;
  path: string;
  info: string;
  level?: number;
  parameter?: string;
}

interface Report {
  vulnerabilities?: Record<string, Finding[]>;
  anomalies?: Record<string, Finding[]>;
  additionals?: Record<string, Finding[]>;
}

/** Every vulnerability, anomaly and additional finding of a report, flat. */
function findings(r: Report) {
  return (['vulnerabilities', 'anomalies', 'additionals'] as const).flatMap((kind) =>
    Object.entries(r[kind] ?? {}).flatMap(([category, list]) =>
      list.map((f) => ({
        kind,
        category,
        method: f.method,
        path: f.path,
        parameter: f.parameter || undefined,
        level: f.level,
        info: f.info,
      })),
    ),
  );
}

/**
 * An HTTP proxy for wapiti: the posts LEFT_OUT get a 403, anything else goes to the server. It
 * counts the server's answers to posts by path and status, to read the findings against.
 */
async function leftOutProxy(): Promise<{
  url: string;
  blocked: Record<string, number>;
  posts: Record<string, Record<number, number>>;
  /** what the scanner asked for since the last reset: requests, and distinct paths */
  traffic: { requests: number; paths: Set<string> };
}> {
  const blocked: Record<string, number> = {};
  const posts: Record<string, Record<number, number>> = {};
  const traffic = { requests: 0, paths: new Set<string>() };
  const proxy = http.createServer((req, res) => {
    const target = new URL(req.url!, base);
    traffic.requests++;
    traffic.paths.add(target.pathname);
    if (req.method === 'POST' && LEFT_OUT.test(target.pathname)) {
      blocked[target.pathname] = (blocked[target.pathname] ?? 0) + 1;
      req.resume();
      res.writeHead(403, { 'content-type': 'text/plain' }).end('left out of the scan');
      return;
    }
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: httpPort,
        method: req.method,
        path: target.pathname + target.search,
        headers: req.headers,
      },
      (answer) => {
        if (req.method === 'POST') {
          const counts = posts[target.pathname] ?? {};
          counts[answer.statusCode!] = (counts[answer.statusCode!] ?? 0) + 1;
          posts[target.pathname] = counts;
        }
        res.writeHead(answer.statusCode!, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
  proxy.unref();
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`, blocked, posts, traffic };
}

/** Signs in through the form as a browser would; the session cookie's value. */
async function signIn(page: string, email: string, cookieName: string): Promise<string> {
  const first = await fetch(base + page);
  const pre = first.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(await first.text())?.[1];
  if (!csrf) throw new Error(`no form on ${page}`);
  const r = await fetch(base + page, {
    method: 'POST',
    headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, email, password: PASSWORD }),
    redirect: 'manual',
  });
  const session = r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith(`${cookieName}=`));
  if (r.status !== 303 || !session) throw new Error(`sign-in at ${page} failed: ${r.status}`);
  return session.slice(cookieName.length + 1);
}

/** Runs a command, its output shown (or only returned when quiet); fails on a non-zero exit. */
function run(cmd: string, args: string[], o: { quiet?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!o.quiet) process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (!o.quiet) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

async function until<T>(fn: () => Promise<T | undefined | null | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
