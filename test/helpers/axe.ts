// axe-core run in a page: the violations, and how many rules passed (a page of ours passes dozens,
// which shows the check looked). The pages' CSP forbids inline script, so a context that runs this
// is made with bypassCSP (the test's own browser only).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

export async function axe(page: Page): Promise<{ violations: Violation[]; passed: number }> {
  await page.addScriptTag({ content: AXE });
  const result = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] })`)) as {
    violations: Violation[];
    passes: unknown[];
  };
  return { violations: result.violations, passed: result.passes.length };
}

/** The serious and critical violations, one line each. */
export function serious(violations: Violation[]): string[] {
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}
