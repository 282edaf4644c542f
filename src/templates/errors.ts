// A template that fails validation, with every problem found: the admin page shows them all at
// once, and start-up lists every broken default in one error.
import { AppError } from '../errors.ts';
import type { Problem } from './syntax.ts';

export interface TemplateProblem extends Problem {
  name: string;
  locale: string;
}

export class TemplateError extends AppError {
  readonly problems: readonly TemplateProblem[];
  constructor(problems: readonly TemplateProblem[]) {
    super('invalid_template', `invalid template:\n${problems.map(describeProblem).join('\n')}`, 422);
    this.problems = problems;
  }
}

/** `ack (de) html line 12: unknown field it.x` */
function describeProblem(p: TemplateProblem): string {
  const where = p.line ? ` line ${p.line}${p.column ? `, column ${p.column}` : ''}` : '';
  return `${p.name} (${p.locale}) ${p.part}${where}: ${p.message}`;
}
