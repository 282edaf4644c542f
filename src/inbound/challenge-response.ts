// Challenge-response mail: a spam filter's answer that holds our mail until we prove we are a
// person or ask to be added to the owner's allowed senders ("click the link below"). A machine
// wrote it, nobody waits for an answer from us, and it must neither open a ticket nor get an ack
// (our ack would be challenged again). machine-mail.ts counts it as an automatic reply.
//
// No header marks these mails reliably: TMDA puts `X-Delivery-Agent: TMDA` on everything its
// users send, their own mail too, and Boxbe and Spam Arrest add nothing of their own that we know
// of. So the table is of phrases: a subject the system always writes, or a sentence of its body
// in the owner's voice ("my approved senders list") that a customer writing to us has no reason
// to write. The body is read only up to the first quoted or forwarded part, and not at all in a
// forward, so that a customer who forwards such a mail to ask about it still opens a ticket.
import { containsWords, foldText, startsWithWord } from './text-fold.ts';

export interface ChallengePhrase {
  /** BCP 47 language tag */
  lang: string;
  /** subject: the subject starts with it; body: the mail's own text contains it as whole words */
  where: 'subject' | 'body';
  text: string;
  /** the system that writes it, or where the wording comes from */
  source: string;
  /** how sure we are of the exact wording, when not sure */
  unsure?: string;
}

const GENERIC = 'the wording of challenge-response filters in general (the issue), no single product';
const TRANSLATED = 'our translation of the owner-voice sentence; no product checked';

// biome-ignore format: one row per phrase reads as a table
export const CHALLENGE_PHRASES: readonly ChallengePhrase[] = [
  { lang: 'en', where: 'subject', text: 'Please confirm your message', source: 'TMDA (templates/confirm_request.txt)' },
  { lang: 'en', where: 'body',    text: 'This confirmation verifies that your message is legitimate and not junk-mail', source: 'TMDA (templates/confirm_request.txt)' },
  { lang: 'en', where: 'body',    text: 'Please add yourself to my Boxbe Guest List', source: 'Boxbe (mail-samples bounces/bounceparser-perl/boxbe-cr.msg)' },
  { lang: 'en', where: 'body',    text: 'I now allow incoming messages only from senders I have approved beforehand', source: 'Spam Arrest and EarthLink spamBlocker challenges', unsure: 'quoted from memory of real challenges, not from a saved one' },
  { lang: 'en', where: 'body',    text: 'to be added to my approved senders list', source: GENERIC },
  { lang: 'en', where: 'body',    text: 'to be added to my list of approved senders', source: GENERIC },
  { lang: 'en', where: 'body',    text: 'confirm you are a human', source: GENERIC },
  { lang: 'en', where: 'body',    text: 'confirm that you are a human', source: GENERIC },
  { lang: 'en', where: 'body',    text: 'confirm you are a person', source: GENERIC },
  { lang: 'en', where: 'body',    text: 'please verify your email address by clicking', source: GENERIC },
  { lang: 'de', where: 'body',    text: 'auf meine Liste zugelassener Absender', source: TRANSLATED },
  { lang: 'de', where: 'body',    text: 'bestätigen Sie, dass Sie ein Mensch sind', source: TRANSLATED },
  { lang: 'fr', where: 'body',    text: "à ma liste d'expéditeurs autorisés", source: TRANSLATED },
  { lang: 'es', where: 'body',    text: 'a mi lista de remitentes autorizados', source: TRANSLATED },
  { lang: 'it', where: 'body',    text: 'alla mia lista di mittenti autorizzati', source: TRANSLATED },
  { lang: 'nl', where: 'body',    text: 'aan mijn lijst met goedgekeurde afzenders', source: TRANSLATED },
  { lang: 'pt', where: 'body',    text: 'à minha lista de remetentes autorizados', source: TRANSLATED },
];

/**
 * Where the mail's own text ends: a quoted line or the separator of a quoted or forwarded mail
 * (Outlook "-----Original Message-----" and its translations, Gmail "---------- Forwarded
 * message ---------", Apple Mail "Begin forwarded message:"), as folded text.
 */
// biome-ignore format: one marker per line reads as a table
export const QUOTE_MARKERS: readonly string[] = [
  'original message', 'ursprüngliche nachricht', "message d'origine", 'mensaje original',
  'messaggio originale', 'oorspronkelijk bericht', 'mensagem original', 'forwarded message',
  'weitergeleitete nachricht', 'message transféré', 'mensaje reenviado', 'messaggio inoltrato',
  'doorgestuurd bericht', 'begin forwarded message',
];

/**
 * Subject prefixes of a forward (the customer sends us someone else's mail): English, and
 * Outlook's German WG, French TR, Spanish RV, Portuguese ENC, Italian I, Finnish VS, Dutch
 * Doorst, Polish PD.
 */
export const FORWARD_PREFIXES: readonly string[] = [
  'fwd:',
  'fw:',
  'wg:',
  'tr:',
  'rv:',
  'enc:',
  'i:',
  'vs:',
  'doorst:',
  'pd:',
];

/** Phrases sit near the top: a challenge is short. */
const BODY_SCAN = 8 * 1024;
const SUBJECT_SCAN = 512;

const SUBJECTS = CHALLENGE_PHRASES.filter((p) => p.where === 'subject').map((p) => ({
  row: p,
  text: foldText(p.text, SUBJECT_SCAN),
}));
const BODIES = CHALLENGE_PHRASES.filter((p) => p.where === 'body').map((p) => ({
  row: p,
  text: foldText(p.text, BODY_SCAN),
}));

/** The phrase that makes the mail a challenge, if any. */
export function challengePhrase(subject: string, text: string): ChallengePhrase | undefined {
  const s = foldText(subject, SUBJECT_SCAN);
  const bySubject = SUBJECTS.find(({ text: t }) => startsWithWord(s, t));
  if (bySubject) return bySubject.row;
  if (FORWARD_PREFIXES.some((p) => s.startsWith(p))) return undefined;
  const own = ownText(text);
  return BODIES.find(({ text: t }) => containsWords(own, t))?.row;
}

/** The mail's text up to its first quoted line or quoted mail, folded. */
function ownText(text: string): string {
  let end = Math.min(text.length, BODY_SCAN);
  if (text.startsWith('>')) end = 0;
  const quoted = text.indexOf('\n>');
  if (quoted !== -1 && quoted < end) end = quoted;
  let own = foldText(text.slice(0, end), BODY_SCAN);
  for (const marker of QUOTE_MARKERS) {
    const at = own.indexOf(marker);
    if (at !== -1) own = own.slice(0, at);
  }
  return own;
}
