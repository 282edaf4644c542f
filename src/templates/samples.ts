// Realistic variables for every template: for previews of an edited template before it is
// published, and for the start-up check, the tests and the benchmark.
import type { TemplateName, TemplateVariables } from './schemas.ts';

const customer = { name: 'Jane Doe', email: 'jane.doe@example.com' };
const inbox = { name: 'Example Support', address: 'support@example.com' };
const ticket = { number: 1042, subject: 'Invoice 2026-118 shows the wrong VAT rate', status: 'open' };
const ticketMail = {
  customer,
  inbox,
  ticket,
  link: 'https://help.example.com/t/9rYx2Qk7vZ3mN8pLwA4s',
  link_expires_days: 30,
};
const reply = {
  ...ticketMail,
  agent: { name: 'Max Mustermann' },
  message: {
    text: 'Hello Jane,\n\nthank you for the hint. We have corrected the invoice; the new one is attached.\n\nBest regards,\nMax',
    html: '<p>Hello Jane,</p><p>thank you for the hint. We have corrected the invoice; the new one is attached.</p><p>Best regards,<br>Max</p>',
    attachments: [
      {
        name: 'invoice-2026-118.pdf',
        size: '84 KB',
        url: 'https://help.example.com/attachments/311/invoice-2026-118.pdf',
      },
    ],
  },
};
const passwordMail = {
  customer,
  inbox,
  link: 'https://help.example.com/password/4fKq8ZpR2nW7yT1c',
  link_expires_hours: 24,
};

const SAMPLES: { [N in TemplateName]: TemplateVariables<N> } = {
  ack: ticketMail,
  agent_reply: reply,
  follower_update: { ...reply, customer: { name: 'Tom Smith', email: 'tom.smith@example.com' } },
  portal_welcome: passwordMail,
  portal_invite: passwordMail,
  password_reset: passwordMail,
  ticket_closed: { ...ticketMail, ticket: { ...ticket, status: 'closed' } },
  ticket_link: ticketMail,
  sign_in_link: {
    customer,
    inbox,
    link: 'https://help.example.com/portal/sign-in/link/7hQm3XvB9kD2sL5n',
    link_expires_minutes: 15,
  },
  signup_link: {
    ...passwordMail,
    link: 'https://help.example.com/portal/sign-up/2kPw8RtY4mZ6qB1x',
    account_exists: false,
    sign_in_link: 'https://help.example.com/portal/sign-in',
  },
};

export interface SampleOptions {
  /** Templates that list message.attachments: with a file (the default) or with none. */
  attachments?: boolean;
  /** false: the customer has no name (as for an address we only know as an address). */
  customerName?: boolean;
  /** A ticket subject of about 200 characters, not all ASCII, for templates about a ticket. */
  longSubject?: boolean;
}

/** The subject a long-winded customer writes, in several scripts: wrapping and encoding show. */
export const LONG_SUBJECT =
  'Réclamation urgente: Überweisung für Rechnung 2026-118 doppelt abgebucht – Straße & Hausnummer falsch, ' +
  'Ελληνικά σχόλια, 日本語の請求書も添付しました 🙂 — bitte dringend prüfen und die korrigierte Gutschrift bestätigen';

/**
 * The sample variables of a template. The options flip the data the templates branch on, so a
 * preview can show each side of an if (files or none, a name or none, a subject that wraps).
 */
export function sampleVariables<N extends TemplateName>(name: N, options: SampleOptions = {}): TemplateVariables<N> {
  const vars = structuredClone(SAMPLES[name]) as Record<string, unknown>;
  const { attachments = true, customerName = true, longSubject = false } = options;
  const message = vars.message as { attachments: unknown[] } | undefined;
  if (message && !attachments) message.attachments = [];
  if (!customerName) (vars.customer as { name: string }).name = '';
  const ticket = vars.ticket as { subject: string } | undefined;
  if (ticket && longSubject) ticket.subject = LONG_SUBJECT;
  return vars as TemplateVariables<N>;
}
