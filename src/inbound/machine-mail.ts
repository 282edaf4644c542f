// The rules that tell a machine's mail from a person's, other than bounces (bounce.ts): auto-replies
// (RFC 3834 Auto-Submitted, mailers' own marks, responders' subjects), challenge-response filters,
// mail systems' event reports, read receipts (RFC 8098 MDN), and bulk and list mail. The one place
// for these rules; their tables of words are responder-subjects.ts (responders' subjects per
// language) and challenge-response.ts. Headers come first: a subject counts alone only when it
// starts with what responders write and people do not.
//
// A no-reply sender (noreply@, donotreply@: outbound/no-reply.ts) is no sign of machine mail: a
// purchase order, a monitoring alert or a form submission comes from one, and opens a ticket.
// Nothing is ever mailed back to such an address (outbound/send.ts; plan.ts plans no ack).
import { challengePhrase } from './challenge-response.ts';
import { firstToken, hasPart, type MailView } from './mail-view.ts';
import { hintsAutoReply, responderSubject } from './responder-subjects.ts';

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
  if (isSesNotification(view)) reasons.push('amazon-ses-notification');
  if (challengePhrase(view.subject, view.text)) reasons.push('challenge-response');
  // A customer may well write "out of office" in a subject; only a mailer's marks make it one,
  // or the prefixes responders write and people do not ("Automatic reply:", "AUTO: ... is out of
  // the office").
  const backed =
    suppressing || ['auto_reply', 'bulk', 'junk'].includes(precedence ?? '') || view.nullPathReasons.length > 0;
  if (!backed && responderSubject(view.subject)) reasons.push('subject:responder');
  else if (backed && hintsAutoReply(view.subject)) {
    reasons.push('subject:auto-reply');
    if (precedence && precedence !== 'auto_reply') reasons.push(`precedence:${precedence}`);
    reasons.push(...view.nullPathReasons);
  }
  return reasons;
}

/**
 * An Amazon SES event (bounce, complaint, delivery) delivered by Amazon SNS to a mail endpoint:
 * the raw JSON of a mail system's report, from no-reply@sns.amazonaws.com. Other SNS mail (a
 * CloudWatch alarm, say) is written for people and may well be work: only the SES report is
 * machine mail.
 */
function isSesNotification(view: MailView): boolean {
  if (!view.headers.has('x-amz-sns-message-id')) return false;
  const head = view.text.slice(0, 4096);
  return head.includes('notificationType') && ['Bounce', 'Complaint', 'Delivery'].some((type) => head.includes(type));
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
