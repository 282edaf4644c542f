#!/usr/bin/env node
// npm run bench -- <name> [options]: runs bench/<name>.ts and writes bench/results/<name>.json.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bench');
const name = process.argv[2];
const file = name && path.join(dir, `${name}.ts`);
if (!file || !existsSync(file)) {
  const known = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
    .map((f) => f.slice(0, -3));
  console.error(`usage: npm run bench -- <${known.join('|')}> [options]`);
  process.exit(2);
}
await import(pathToFileURL(file).href);
