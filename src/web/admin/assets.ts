// The admin area's stylesheet and scripts (templates/admin/assets), read once at start-up and
// served under a URL that carries their hash, so they are cached for good and a new version is a
// new URL. Scripts are files of ours, which the CSP allows ('self'), never inline.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const dir = path.resolve(import.meta.dirname, '../../../templates/admin/assets');
const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

export interface Assets {
  /** file name -> its versioned URL */
  urls: Record<string, string>;
}

export function loadAssets(app: FastifyInstance): Assets {
  const urls: Record<string, string> = {};
  for (const file of readdirSync(dir)) {
    const type = TYPES[path.extname(file)];
    if (!type) continue;
    const content = readFileSync(path.join(dir, file));
    const hash = createHash('sha256').update(content).digest('base64url').slice(0, 12);
    const url = `/admin/assets/${hash}/${file}`;
    urls[file] = url;
    app.get(url, { config: { adminAccess: 'anyone' } }, async (_request, reply) =>
      reply.header('content-type', type).header('cache-control', 'public, max-age=31536000, immutable').send(content),
    );
  }
  return { urls };
}
