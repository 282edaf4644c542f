// `npm start` in a clone that the postgres user cannot enter (under /root, or a `mktemp -d`): as
// root, the embedded PostgreSQL then keeps its cluster under /var/lib/inbound, says so, and the
// whole system comes up and takes mail. Only root can make (and needs) that arrangement.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports.ts';

const root = path.resolve(import.meta.dirname, '..');
const isRoot = process.getuid?.() === 0;
const isClone = existsSync(path.join(root, '.git'));
const cleanup: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

describe.skipIf(!isRoot || !isClone)(
  'npm start in a directory only root can enter (needs root and a git checkout)',
  () => {
    it('runs the embedded PostgreSQL from a place the postgres user can reach, and takes mail', async () => {
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'inbound-private-'));
      cleanup.push(() => rm(tmp, { recursive: true, force: true }));
      expect((await stat(tmp)).mode & 0o077).toBe(0); // closed to everyone but root
      const clone = path.join(tmp, 'inbound');
      await promisify(execFile)('git', ['clone', '--quiet', root, clone]);
      // the packages, as `npm ci` would install them (the test must not need the registry)
      await symlink(path.join(root, 'node_modules'), path.join(clone, 'node_modules'));

      const env: NodeJS.ProcessEnv = {
        ...process.env,
        EMBEDDED_PG_PORT: String(await freePort()),
        SMTP_PORT: '0',
        HTTP_PORT: '0',
      };
      for (const name of ['DATABASE_URL', 'DATA_DIR', 'npm_config_prefix']) delete env[name];
      const child = spawn('npm', ['start'], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      cleanup.push(() => stop(child));
      let stderr = '';
      let stdout = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const ready = await new Promise<{ smtp: string; http: string; database: string }>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          stdout += `${line}\n`;
          if (line.includes('"inbound ready"')) resolve(JSON.parse(line));
        });
        child.once('exit', (code) => reject(new Error(`npm start exited ${code}: ${stderr}`)));
      });

      const cluster = (await readFile(path.join(clone, '.data/pg-location'), 'utf8')).trim();
      cleanup.push(() => rm(path.dirname(cluster), { recursive: true, force: true }));
      expect(cluster.startsWith('/var/lib/inbound/inbound-')).toBe(true);
      expect(existsSync(path.join(cluster, 'PG_VERSION'))).toBe(true);
      expect(ready.database).toBe(`embedded (${cluster})`);
      // the line for people: where to send mail, where the pages are, where the data lives
      expect(stderr).toMatch(
        /Inbound is running: mail for support@localhost to smtp:\/\/localhost:\d+; web pages and API at http:\/\/localhost:\d+; data in \S+ \(embedded PostgreSQL\)\./,
      );
      expect(stderr).toContain(cluster);
      expect(stderr).not.toMatch(/DeprecationWarning|ExperimentalWarning|FastifyDeprecation/);

      const port = Number(ready.smtp.split(':').at(-1));
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
      const info = await transport.sendMail({
        from: 'ann@example.com',
        to: 'support@localhost',
        subject: 'Hello',
        text: 'First mail.',
      });
      transport.close();
      expect(info.response).toMatch(/^250 /);
      const health = await fetch(`http://127.0.0.1:${ready.http.split(':').at(-1)}/readyz`);
      expect(health.status).toBe(200);

      // Ctrl-C in a terminal signals the whole foreground group: npm and inbound alike
      await stop(child);
      expect(stdout).toContain('"msg":"stopped"');
      // the server stopped with us: no postmaster is left on the cluster
      expect(existsSync(path.join(cluster, 'postmaster.pid'))).toBe(false);
    }, 120_000);
  },
);

/** SIGTERM to npm's process group; resolves once every process in it has closed its output. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.stdout!.closed) return;
  const closed = new Promise<void>((r) => child.stdout!.once('close', () => r()));
  try {
    process.kill(-child.pid!, 'SIGTERM');
  } catch {
    return; // the group is gone already
  }
  await closed;
}
