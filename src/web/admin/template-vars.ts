// The variables an edited template is previewed with: the template's sample with its toggles (so
// every branch can be seen), or a real ticket picked by number (with placeholder links: a preview
// never issues a token). Read from the editor's form or the live preview's JSON alike.
import type { Knex } from 'knex';
import { NotFoundError } from '../../errors.ts';
import { sampleVariables, type TemplateName, type TemplateProblem, ticketVariables } from '../../templates/index.ts';

/** A part (subject, MJML, text) may hold this much: the shipped ones hold a few KB. */
export const TEMPLATE_PART_MAX = 64 * 1024;

export interface PreviewChoice {
  /** a ticket number, or undefined for the sample */
  ticket?: number;
  attachments: boolean;
  customerName: boolean;
  longSubject: boolean;
}

const on = (v: unknown) => v === 'on' || v === true || v === '1' || v === 'true';

/** The choice from form fields or JSON: `ticket`, `no_attachments`, `no_name`, `long_subject`. */
export function previewChoice(fields: Record<string, unknown>): PreviewChoice {
  const n = Number(String(fields.ticket ?? '').replace(/^#/, ''));
  return {
    ...(Number.isSafeInteger(n) && n > 0 && { ticket: n }),
    attachments: !on(fields.no_attachments),
    customerName: !on(fields.no_name),
    longSubject: on(fields.long_subject),
  };
}

/** The variables, or the reason there are none (no such ticket). */
export async function previewVariables(
  db: Knex,
  name: TemplateName,
  choice: PreviewChoice,
  baseUrl: string,
): Promise<{ vars: unknown } | { error: string }> {
  if (choice.ticket === undefined) return { vars: sampleVariables(name, choice) };
  try {
    return { vars: await ticketVariables(db, name, choice.ticket, { baseUrl }) };
  } catch (err) {
    if (err instanceof NotFoundError) return { error: `There is no ticket #${choice.ticket}.` };
    throw err;
  }
}

/** What the editor shows: the source, what it is based on, and what came back from a form. */
export interface EditorState {
  subject: string;
  mjml: string;
  text: string;
  /** what the editor holds: 'draft', 'published' (version n) or 'default' */
  basis: { kind: 'draft' | 'published' | 'default'; version?: number };
  problems?: readonly TemplateProblem[];
  notice?: string;
  error?: string;
  choice?: PreviewChoice;
}
