#!/usr/bin/env node
// Runs the TypeScript sources directly: Node strips the types on load, so there is no build step.
await import('../src/cli/index.ts');
