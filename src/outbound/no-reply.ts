// Addresses that say by their name that nobody reads what is sent to them: noreply@, no-reply@,
// donotreply@ and their kin. Mail from them is often real work (a purchase order, a monitoring
// alert, a form submission) and opens a ticket like anyone's; but we never mail them anything,
// of any kind: send.ts refuses every outbound row to such an address (status 'suppressed', with
// the reason), whoever made the row. Inbound plans no ack and no welcome for them, the ticket's
// read model and its public page say why. The one table of these names, read with plain string
// comparisons (an address is attacker text).

/** How a row compares with the local part (lower-case, without a +tag). */
export type NoReplyMatch = 'exact' | 'prefix' | 'suffix';

export interface NoReplyLocalPart {
  text: string;
  match: NoReplyMatch;
  /** who uses it, or why it is here */
  note: string;
}

// biome-ignore format: one row per name reads as a table
export const NO_REPLY_LOCAL_PARTS: readonly NoReplyLocalPart[] = [
  { text: 'noreply',      match: 'exact',  note: 'the common form (GitHub, Google, AWS, shops, forms)' },
  { text: 'no-reply',     match: 'exact',  note: 'the common form (Amazon SNS, Apple, banks)' },
  { text: 'no_reply',     match: 'exact',  note: 'seen with underscores as well' },
  { text: 'no.reply',     match: 'exact',  note: 'seen with a dot as well' },
  { text: 'donotreply',   match: 'exact',  note: 'banks, airlines, public offices' },
  { text: 'do-not-reply', match: 'exact',  note: 'as donotreply' },
  { text: 'do_not_reply', match: 'exact',  note: 'as donotreply' },
  { text: 'do.not.reply', match: 'exact',  note: 'as donotreply' },
  { text: 'donot-reply',  match: 'exact',  note: 'as donotreply, half hyphenated' },
  { text: 'do-notreply',  match: 'exact',  note: 'as donotreply, half hyphenated' },
  { text: 'dontreply',    match: 'exact',  note: 'as donotreply' },
  { text: 'noreply-',     match: 'prefix', note: 'noreply-<service>@, e.g. noreply-dmarc-support@google.com' },
  { text: 'noreply.',     match: 'prefix', note: 'noreply.<service>@' },
  { text: 'no-reply-',    match: 'prefix', note: 'no-reply-<service>@' },
  { text: 'no-reply.',    match: 'prefix', note: 'no-reply.<service>@' },
  { text: '-noreply',     match: 'suffix', note: '<service>-noreply@, e.g. gmail-noreply@, dmarc-noreply@' },
  { text: '.noreply',     match: 'suffix', note: '<service>.noreply@' },
  { text: '_noreply',     match: 'suffix', note: '<service>_noreply@' },
  { text: '-no-reply',    match: 'suffix', note: '<service>-no-reply@' },
];

/** Why nothing is mailed to such an address: what send.ts records and the ticket shows. */
export const NO_REPLY_REASON = 'no-reply address';

/** Whether the address's local part (case aside, without a +tag) is one of the table's names. */
export function isNoReplyAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  let local = address.slice(0, at).trim().toLowerCase();
  const plus = local.indexOf('+');
  if (plus > 0) local = local.slice(0, plus);
  return NO_REPLY_LOCAL_PARTS.some((row) => {
    if (row.match === 'exact') return local === row.text;
    // a prefix or a suffix must leave a name of its own beside it
    if (local.length <= row.text.length) return false;
    return row.match === 'prefix' ? local.startsWith(row.text) : local.endsWith(row.text);
  });
}

/** Why nothing may be mailed to the address, or undefined when it takes mail (as far as its name tells). */
export function mailRefusal(address: string | null | undefined): string | undefined {
  return address && isNoReplyAddress(address) ? NO_REPLY_REASON : undefined;
}
