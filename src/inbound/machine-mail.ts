// The rules that tell a machine's mail from a person's, other than bounces (bounce.ts): auto-replies
// (RFC 3834 Auto-Submitted, mailers' own marks, responders' subjects), read receipts (RFC 8098 MDN),
// no-reply senders, and bulk and list mail. The one place for these rules and their tables.
import { firstToken, hasPart, localPart, type MailView } from './mail-view.ts';

const NO_REPLY_LOCAL = /^(no-?reply|do-?not-?reply|donotreply|no_reply|noreply-[\w.-]+|[\w.-]+[-.]noreply)$/i;

// Subjects of vacation and out-of-office replies: Exchange, Gmail, Zimbra, Apple and their translations.

/** Subjects only auto-responders write: a fixed prefix with a fixed phrase. */
const RESPONDER_SUBJECT =
  /^\s*(auto:\s.*\bis out of (the )?office\b|out of office auto-?reply\s*:|automatic reply\s*:|auto-?reply\s*:|abwesenheitsnotiz\s*:|automatische antwort\s*:|réponse automatique\s*:|risposta automatica\s*:|respuesta automática\s*:)/i;

const AUTO_REPLY_SUBJECT = new RegExp(
  [
    '^\\s*\\[?auto(matic)?[ -]?(reply|response|antwort|answer)\\b',
    '^\\s*auto\\s*:',
    'out of (the )?office',
    '\\bautoreply\\b',
    'abwesenheitsnotiz',
    'automatische antwort',
    'réponse automatique',
    'risposta automatica',
    'respuesta automática',
    'resposta automática',
    'automatyczna odpowiedź',
    'automatisch antwoord',
    'automatiskt svar',
    'automatisk svar',
    'автоответ',
    'on vacation',
    'vacation reply',
    'away from (the )?office',
  ].join('|'),
  'i',
);

export function autoReplyReasons(view: MailView): string[] {
  const reasons: string[] = [];
  const autoSubmitted = firstToken(view.headers.get('auto-submitted'));
  if (autoSubmitted && autoSubmitted !== 'no') reasons.push(`auto-submitted:${autoSubmitted}`);
  for (const name of ['x-autoreply', 'x-autorespond', 'x-autoresponder']) {
    const value = firstToken(view.headers.get(name));
    if (value !== undefined && value !== 'no' && value !== 'false') reasons.push(name);
  }
  const suppress = firstToken(view.headers.get('x-auto-response-suppress'));
  const suppressing = suppress !== undefined && suppress !== 'none';
  if (suppressing) reasons.push('x-auto-response-suppress');
  if (view.headers.has('x-ms-exchange-inbox-rules-loop')) reasons.push('x-ms-exchange-inbox-rules-loop');
  // iCloud's vacation responder marks its replies with this, and with nothing standard
  if (firstToken(view.headers.get('x-apple-action')) === 'vacation') reasons.push('x-apple-action:vacation');
  if (isMdn(view)) reasons.push('report:disposition-notification');
  const precedence = firstToken(view.headers.get('precedence'));
  if (precedence === 'auto_reply') reasons.push('precedence:auto_reply');
  // No-reply senders are machines by their own account (notifications, alerts): nobody reads an
  // answer to them, and they must never open a conversation.
  if (NO_REPLY_LOCAL.test(localPart(view.fromAddress))) reasons.push('from:no-reply');
  // A customer may well write "out of office" in a subject; only a mailer's marks make it one,
  // or the fixed prefixes responders write and people do not ("AUTO: ... is out of the office").
  const backed =
    suppressing || ['auto_reply', 'bulk', 'junk'].includes(precedence ?? '') || view.nullPathReasons.length > 0;
  if (!backed && RESPONDER_SUBJECT.test(view.subject)) reasons.push('subject:responder');
  else if (backed && AUTO_REPLY_SUBJECT.test(view.subject)) {
    reasons.push('subject:auto-reply');
    if (precedence && precedence !== 'auto_reply') reasons.push(`precedence:${precedence}`);
    reasons.push(...view.nullPathReasons);
  }
  return reasons;
}

export function isMdn(view: MailView): boolean {
  if (view.contentType === 'multipart/report' && view.reportType === 'disposition-notification') return true;
  return view.contentType === 'message/disposition-notification' || hasPart(view, ['message/disposition-notification']);
}

// Vendor marks such as X-Mailchimp-* or Feedback-ID are left out on purpose: Feedback-ID is set by
// ESPs (Amazon SES, SendGrid) on one-to-one transactional mail too, so it does not mean "bulk".
export function bulkReasons(view: MailView): string[] {
  const reasons: string[] = [];
  const precedence = firstToken(view.headers.get('precedence'));
  if (precedence === 'bulk' || precedence === 'list' || precedence === 'junk') reasons.push(`precedence:${precedence}`);
  // RFC 2369/2919 list fields, and the headers of list servers that predate them (fml, Mailman)
  for (const name of [
    'list-id',
    'list-unsubscribe',
    'list-post',
    'list-subscribe',
    'list-help',
    'list-owner',
    'x-mlserver',
    'x-mailman-version',
  ]) {
    if (view.headers.has(name)) reasons.push(name);
  }
  return reasons;
}
