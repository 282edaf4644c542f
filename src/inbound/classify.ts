// Decides what an inbound mail is before anything is made from it: a customer's mail, or one of the
// automatic kinds that must never open a ticket nor get an answer (our own mail coming back, a
// bounce, an auto-reply, bulk mail). Pure: it reads the parsed mail and the SMTP envelope only.
// Detection follows RFC 3834 (Auto-Submitted), RFC 3464 (DSN), RFC 5965 (ARF), RFC 8098 (MDN)
// and what real mailers send (WildDuck lib/autoreply.js, Zammad's filters, Exim, Exchange).
//
// classify() weighs the detectors against each other: bounce.ts and machine-mail.ts hold their
// rules, mail-view.ts reads the mail once for all of them.
import type { ParsedMail } from 'mailparser';
import { isNoReplyAddress } from '../outbound/index.ts';
import { type Bounce, bounceReasons, describeBounce } from './bounce.ts';
import { autoReplyReasons, bulkReasons } from './machine-mail.ts';
import { type MailView, readMail } from './mail-view.ts';

export type MailKind = 'normal' | 'auto-reply' | 'bulk' | 'bounce' | 'own';

/** The reason a person's mail carries when its sender's address takes no mail. */
export const NO_REPLY_SENDER = 'no-reply sender';

export interface Classification {
  kind: MailKind;
  /**
   * short machine-readable reasons, e.g. ['auto-submitted:auto-replied'], ['precedence:bulk','list-id'],
   * ['null-return-path','report:delivery-status']; for a person's mail, what is to know of it:
   * ['no-reply sender'] (their address takes no mail: outbound/no-reply.ts)
   */
  reasons: string[];
  bounce?: Bounce;
}

export interface ClassifyContext {
  /** SMTP envelope MAIL FROM; '' is the null reverse path <> */
  mailFrom: string;
  /** SMTP envelope recipients as received */
  rcptTo: string[];
  /** domains of the Message-IDs we generate for mail we send, e.g. ['help.example.com'] (lower-case) */
  ownMessageIdDomains: string[];
  /** name of the loop header we put on mail we send, e.g. 'X-Inbound-Loop'; its presence means the mail is ours */
  loopHeader: string;
}

export function classify(mail: ParsedMail, ctx: ClassifyContext): Classification {
  const view = readMail(mail, ctx.mailFrom);
  const own = ownReasons(view, ctx);
  const bounce = bounceReasons(view);
  const auto = autoReplyReasons(view);
  const bulk = bulkReasons(view);
  const reasons = [...new Set([...bounce, ...own, ...auto, ...bulk])];
  // A bounce about our mail carries our headers only inside the returned copy, but some bouncers
  // echo them on top as well: the bounce is what matters then, so it wins over "own".
  if (bounce.length > 0) return { kind: 'bounce', reasons, bounce: describeBounce(mail, view, ctx.rcptTo) };
  if (own.length > 0) return { kind: 'own', reasons };
  if (auto.length > 0) return { kind: 'auto-reply', reasons };
  if (bulk.length > 0) return { kind: 'bulk', reasons };
  // a person's mail from noreply@ (an order, an alert, a form): a ticket, but nothing goes back
  return { kind: 'normal', reasons: isNoReplyAddress(view.fromAddress) ? [NO_REPLY_SENDER] : [] };
}

// ---------------------------------------------------------------------------------------------
// The four detectors (bounceReasons, autoReplyReasons and bulkReasons in bounce.ts and
// machine-mail.ts). Each returns the reasons it found, empty when its kind does not apply.

function ownReasons(view: MailView, ctx: ClassifyContext): string[] {
  const reasons: string[] = [];
  if (ctx.loopHeader && view.headers.has(ctx.loopHeader.toLowerCase())) reasons.push('loop-header');
  const domain = messageIdDomain(view.messageId);
  if (domain && ctx.ownMessageIdDomains.some((d) => d.toLowerCase() === domain)) reasons.push('own-message-id');
  return reasons;
}

function messageIdDomain(messageId: string | undefined): string | undefined {
  const m = /@([^@<>\s]+)>?\s*$/.exec(messageId ?? '');
  return m?.[1]?.toLowerCase();
}
