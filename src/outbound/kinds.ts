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
 */
export type OutboundKindSpec = {
  template: TemplateName;
  /**
   * Written by the system, not by a person: it says `Auto-Submitted: auto-replied` (RFC 3834) and
   * asks with `X-Auto-Response-Suppress: All` not to be answered by other automatic mail.
   */
  automatic: boolean;
} & (
  | { link: 'ticket'; replyAddress: boolean; message: boolean }
  | { link: 'password'; replyAddress: false; message: false }
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
} as const satisfies Record<string, OutboundKindSpec>;

export type OutboundKind = keyof typeof OUTBOUND_KINDS;
