// Every kind of outbound mail, one row each: the template it renders, whether it is automatic, and
// what it carries. send.ts composes a mail from its row alone, so a new kind is a new row (and its
// template in templates/mail).
import type { TemplateName } from '../templates/index.ts';

/**
 * One kind of outbound mail. The link decides the template's variables:
 * - `ticket`: the mail is about the row's ticket and goes to one of its customers; `link` is the
 *   recipient's magic link to the ticket page (`link_expires_days`), beside `ticket`. With
 *   `replyAddress`, replies come back to an address issued to this recipient alone (else to the
 *   inbox); with `message`, it carries the agent's message (the row's message_ref) as `agent` and
 *   `message`, its files attached.
 * - `password`: `link` sets the customer's portal password (`link_expires_hours`); replies go to
 *   the inbox.
 * - `sign_in`: `link` opens the page whose button signs the customer in to the portal
 *   (`link_expires_minutes`, single use); replies go to the inbox.
 * - `signup`: `link` completes a portal sign-up (`link_expires_hours`); it names the recipient's
 *   address, which need not be a customer's yet (one is found or made when the link is used). For
 *   an address whose account is active already, `account_exists` and `link` sets a new password
 *   instead.
 * - `none` (`template: null`): the template and its variables are the row's own, stored beside it
 *   (template_test_mails): an admin's test of a template being edited, sent to that admin. No
 *   customer, no link is issued, no file attached; the subject starts with "[Test] ".
 */
export type OutboundKindSpec = {
  /**
   * Written by the system, not by a person: it says `Auto-Submitted: auto-replied` (RFC 3834) and
   * asks with `X-Auto-Response-Suppress: All` not to be answered by other automatic mail.
   */
  automatic: boolean;
} & (
  | { template: TemplateName; link: 'ticket'; replyAddress: boolean; message: boolean }
  | { template: TemplateName; link: 'password' | 'sign_in' | 'signup'; replyAddress: false; message: false }
  | { template: null; link: 'none'; replyAddress: false; message: false }
);

// biome-ignore format: one row per kind reads as a table
export const OUTBOUND_KINDS = {
  ack:              { template: 'ack',             automatic: true,  link: 'ticket',   replyAddress: true,  message: false },
  agent_reply:      { template: 'agent_reply',     automatic: false, link: 'ticket',   replyAddress: true,  message: true  },
  follower_update:  { template: 'follower_update', automatic: true,  link: 'ticket',   replyAddress: true,  message: true  },
  portal_welcome:   { template: 'portal_welcome',  automatic: true,  link: 'password', replyAddress: false, message: false },
  portal_invite:    { template: 'portal_invite',   automatic: true,  link: 'password', replyAddress: false, message: false },
  password_reset:   { template: 'password_reset',  automatic: true,  link: 'password', replyAddress: false, message: false },
  ticket_closed:    { template: 'ticket_closed',   automatic: true,  link: 'ticket',   replyAddress: true,  message: false },
  // a fresh magic link, asked for on the page of an expired one
  ticket_link:      { template: 'ticket_link',     automatic: true,  link: 'ticket',   replyAddress: true,  message: false },
  // "email me a sign-in link" on the portal's sign-in page
  sign_in_link:     { template: 'sign_in_link',    automatic: true,  link: 'sign_in',  replyAddress: false, message: false },
  // the portal's self sign-up (or, to an address with an account already, a note saying so)
  signup_link:      { template: 'signup_link',     automatic: true,  link: 'signup',   replyAddress: false, message: false },
  // the template editor's "send me a test": the source and variables are the row's (template_test_mails)
  template_test:    { template: null,              automatic: true,  link: 'none',     replyAddress: false, message: false },
} as const satisfies Record<string, OutboundKindSpec>;

export type OutboundKind = keyof typeof OUTBOUND_KINDS;
