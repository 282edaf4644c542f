// What out-of-office and automatic-reply responders put before the subject they answer, per
// language: the table machine-mail.ts reads when a responder sends none of the headers that mark
// automatic mail (those come first: RFC 3834 Auto-Submitted, X-Autoreply, X-Auto-Response-
// Suppress, Exchange's X-MS-Exchange-Inbox-Rules-Loop, iCloud's X-Apple-Action).
//
// Where the strings come from. Microsoft Exchange and Outlook (Exchange Online / Microsoft 365,
// Exchange 2010 and later, Outlook.com) write "Automatic reply: <subject>" in the language of the
// replying mailbox; Exchange 2003 wrote "Out of Office AutoReply:" (German "Abwesenheitsnotiz:").
// The localized strings below are those seen in real replies and widely quoted in mail filters;
// each row says how sure we are. Gmail's vacation responder writes no prefix of its own (the user
// chooses the subject, "Re: <subject>" by default) and sends `Auto-Submitted: auto-replied`;
// Zimbra sends `Auto-Submitted: auto-replied (zimbra; vacation)`; Sieve vacation (RFC 5230, so
// Dovecot, Cyrus, Fastmail) sends Auto-Submitted with "Auto: <subject>"; iCloud sends
// X-Apple-Action: VACATION with "Auto reply: <subject>". Those are known by their headers, and
// their subjects are only hints (AUTO_REPLY_HINTS). Yahoo Mail's vacation response uses the
// subject its user writes: we know no prefix of its own.
//
// How they are matched: the subject and the row are folded alike (text-fold.ts: NFC, case,
// colons, spaces), and the subject must start with the row: plain string comparison, no
// patterns. "Re: Automatic reply: ..." (a person answering a responder) does not start with it.
import { containsWords, foldText, startsWithWord } from './text-fold.ts';

export interface ResponderSubject {
  /** BCP 47 language tag */
  lang: string;
  /** the prefix as the product writes it */
  text: string;
  /** the product that writes it */
  source: string;
  /** how sure we are of the exact string, when not sure */
  unsure?: string;
  /** the rest of the subject must also contain this (Lotus Notes puts its phrase after the name) */
  alsoContains?: string;
}

const EXCHANGE = 'Microsoft Exchange / Outlook / Microsoft 365 automatic replies (2010 and later)';
const EXCHANGE_2003 = 'Microsoft Exchange 2003 / Outlook 2003 out-of-office assistant';

/**
 * Prefixes only responders write: a subject that starts with one is an auto-reply on its own. At
 * least every official EU language, and Russian, Ukrainian, Turkish, Chinese, Japanese, Korean,
 * Brazilian Portuguese.
 */
// biome-ignore format: one row per string reads as a table
export const RESPONDER_SUBJECTS: readonly ResponderSubject[] = [
  { lang: 'en',      text: 'Automatic reply:',          source: EXCHANGE },
  { lang: 'de',      text: 'Automatische Antwort:',     source: EXCHANGE },
  { lang: 'fr',      text: 'Réponse automatique :',     source: EXCHANGE },
  { lang: 'es',      text: 'Respuesta automática:',     source: EXCHANGE },
  { lang: 'it',      text: 'Risposta automatica:',      source: EXCHANGE },
  { lang: 'nl',      text: 'Automatisch antwoord:',     source: EXCHANGE },
  { lang: 'pt',      text: 'Resposta automática:',      source: EXCHANGE },
  { lang: 'pt-BR',   text: 'Resposta automática:',      source: EXCHANGE, unsure: 'assumed the same as pt-PT; no Brazilian reply seen' },
  { lang: 'pl',      text: 'Automatyczna odpowiedź:',   source: EXCHANGE },
  { lang: 'sv',      text: 'Automatiskt svar:',         source: EXCHANGE },
  { lang: 'da',      text: 'Automatisk svar:',          source: EXCHANGE },
  { lang: 'nb',      text: 'Automatisk svar:',          source: EXCHANGE, unsure: 'assumed the same as Danish' },
  { lang: 'fi',      text: 'Automaattinen vastaus:',    source: EXCHANGE },
  { lang: 'cs',      text: 'Automatická odpověď:',      source: EXCHANGE },
  { lang: 'sk',      text: 'Automatická odpoveď:',      source: EXCHANGE, unsure: 'from the Slovak UI term; no reply seen' },
  { lang: 'sl',      text: 'Samodejni odgovor:',        source: EXCHANGE },
  { lang: 'hr',      text: 'Automatski odgovor:',       source: EXCHANGE, unsure: 'from the Croatian UI term; no reply seen' },
  { lang: 'hu',      text: 'Automatikus válasz:',       source: EXCHANGE },
  { lang: 'ro',      text: 'Răspuns automat:',          source: EXCHANGE },
  { lang: 'bg',      text: 'Автоматичен отговор:',      source: EXCHANGE, unsure: 'from the Bulgarian UI term; no reply seen' },
  { lang: 'el',      text: 'Αυτόματη απάντηση:',        source: EXCHANGE, unsure: 'from the Greek UI term; no reply seen' },
  { lang: 'et',      text: 'Automaatvastus:',           source: EXCHANGE, unsure: 'Outlook calls the feature "Automaatvastused"; the prefix may be "Automaatne vastus:" (next row)' },
  { lang: 'et',      text: 'Automaatne vastus:',        source: EXCHANGE, unsure: 'the other candidate for Estonian' },
  { lang: 'lv',      text: 'Automātiskā atbilde:',      source: EXCHANGE, unsure: 'from the Latvian UI term; no reply seen' },
  { lang: 'lt',      text: 'Automatinis atsakymas:',    source: EXCHANGE, unsure: 'from the Lithuanian UI term; no reply seen' },
  { lang: 'ga',      text: 'Freagra uathoibríoch:',     source: EXCHANGE, unsure: 'Irish is a language accessory pack; the string is a translation, not seen in a reply' },
  { lang: 'mt',      text: 'Tweġiba awtomatika:',       source: EXCHANGE, unsure: 'Maltese is a language accessory pack; the string is a translation, not seen in a reply' },
  { lang: 'ru',      text: 'Автоматический ответ:',     source: EXCHANGE },
  { lang: 'uk',      text: 'Автоматична відповідь:',    source: EXCHANGE, unsure: 'from the Ukrainian UI term; no reply seen' },
  { lang: 'tr',      text: 'Otomatik yanıt:',           source: EXCHANGE, unsure: 'from the Turkish UI term; no reply seen' },
  { lang: 'zh-Hans', text: '自动答复:',                  source: EXCHANGE },
  { lang: 'zh-Hant', text: '自動回覆:',                  source: EXCHANGE, unsure: 'Traditional Chinese; Hong Kong builds may differ' },
  { lang: 'ja',      text: '自動応答:',                  source: EXCHANGE },
  { lang: 'ko',      text: '자동 회신:',                 source: EXCHANGE, unsure: 'from the Korean UI term; no reply seen' },
  { lang: 'en',      text: 'Out of Office AutoReply:',  source: EXCHANGE_2003 },
  { lang: 'en',      text: 'Out of Office:',            source: 'Exchange 2007 / Outlook 2007, and Outlook for Mac', unsure: 'the product that writes it exactly so is not certain; people rarely begin a subject with it' },
  { lang: 'de',      text: 'Abwesenheitsnotiz:',        source: `${EXCHANGE_2003}; GMX and WEB.DE`, unsure: 'GMX / WEB.DE: named by the issue, not checked against a reply' },
  { lang: 'pl',      text: '[Automatyczna odpowiedź]',  source: 'WP.pl (Wirtualna Polska) autoresponder, seen in mail-samples autoreplies/bounceparser-perl/polish-autoreply.msg' },
  { lang: 'en',      text: 'AUTO:',                     source: 'IBM Lotus Notes / HCL Domino out-of-office agent ("AUTO: <name> is out of the office (returning <date>)")', alsoContains: 'is out of the office' },
  { lang: 'en',      text: 'AUTO:',                     source: 'IBM Lotus Notes / HCL Domino, shorter wording', alsoContains: 'is out of office' },
];

/**
 * Words that only hint at an automatic reply ("Auto reply:", "out of office", RFC 5230's "Auto:"):
 * people write them too ("Out of office - printer broken"), so they count only beside a mailer's
 * own mark (Precedence: bulk/junk, a null return path: machine-mail.ts). `start`: the subject
 * (after a "[") begins with it; `anywhere`: it occurs as whole words.
 */
export interface AutoReplyHint {
  text: string;
  where: 'start' | 'anywhere';
  source: string;
}

// biome-ignore format: one row per string reads as a table
export const AUTO_REPLY_HINTS: readonly AutoReplyHint[] = [
  { text: 'Auto:',                where: 'start',    source: 'Sieve vacation default (RFC 5230 section 4.5): "Auto: <subject>"' },
  { text: 'Auto reply',           where: 'start',    source: 'iCloud ("Auto reply: <subject>"), managesieve and cPanel autoresponders' },
  { text: 'Autoreply',            where: 'start',    source: 'many autoresponders' },
  { text: 'Auto response',        where: 'start',    source: 'many autoresponders' },
  { text: 'Autoresponse',         where: 'start',    source: 'many autoresponders' },
  { text: 'Automatic reply',      where: 'start',    source: 'Exchange\'s prefix without its colon, and others' },
  { text: 'Automatic response',   where: 'start',    source: 'many autoresponders' },
  { text: 'Automatic answer',     where: 'start',    source: 'many autoresponders' },
  { text: 'Auto answer',          where: 'start',    source: 'many autoresponders' },
  { text: 'Auto antwort',         where: 'start',    source: 'German autoresponders' },
  { text: 'Autoantwort',          where: 'start',    source: 'German autoresponders' },
  { text: 'Autoreply',            where: 'anywhere', source: 'many autoresponders' },
  { text: 'out of office',        where: 'anywhere', source: 'English vacation texts' },
  { text: 'out of the office',    where: 'anywhere', source: 'English vacation texts' },
  { text: 'away from office',     where: 'anywhere', source: 'English vacation texts' },
  { text: 'away from the office', where: 'anywhere', source: 'English vacation texts' },
  { text: 'on vacation',          where: 'anywhere', source: 'English vacation texts' },
  { text: 'vacation reply',       where: 'anywhere', source: 'English vacation texts' },
  { text: 'Abwesenheitsnotiz',    where: 'anywhere', source: 'German vacation texts' },
  { text: 'Automatische Antwort', where: 'anywhere', source: 'German' },
  { text: 'Réponse automatique',  where: 'anywhere', source: 'French' },
  { text: 'Risposta automatica',  where: 'anywhere', source: 'Italian' },
  { text: 'Respuesta automática', where: 'anywhere', source: 'Spanish' },
  { text: 'Resposta automática',  where: 'anywhere', source: 'Portuguese' },
  { text: 'Automatyczna odpowiedź', where: 'anywhere', source: 'Polish' },
  { text: 'Automatisch antwoord', where: 'anywhere', source: 'Dutch' },
  { text: 'Automatiskt svar',     where: 'anywhere', source: 'Swedish' },
  { text: 'Automatisk svar',      where: 'anywhere', source: 'Danish, Norwegian' },
  { text: 'Автоответ',            where: 'anywhere', source: 'Russian (Yandex, Mail.ru vacation texts)' },
];

/** A subject is read up to here: every prefix sits at its start. */
const SUBJECT_SCAN = 512;

const RESPONDERS = RESPONDER_SUBJECTS.map((row) => ({
  row,
  text: foldText(row.text, SUBJECT_SCAN),
  also: row.alsoContains && foldText(row.alsoContains, SUBJECT_SCAN),
}));
const HINTS = AUTO_REPLY_HINTS.map((row) => ({ row, text: foldText(row.text, SUBJECT_SCAN) }));

/** The responder row the subject starts with, if any. */
export function responderSubject(subject: string): ResponderSubject | undefined {
  const s = foldText(subject, SUBJECT_SCAN);
  return RESPONDERS.find(
    ({ text, also }) => startsWithWord(s, text) && (!also || containsWords(s.slice(text.length), also)),
  )?.row;
}

/** Whether the subject carries a responder's prefix or a hint of an automatic reply. */
export function hintsAutoReply(subject: string): boolean {
  const s = foldText(subject, SUBJECT_SCAN);
  const unbracketed = s.startsWith('[') ? s.slice(1) : s;
  return (
    RESPONDERS.some(({ text }) => startsWithWord(s, text)) ||
    HINTS.some(({ row, text }) => (row.where === 'start' ? startsWithWord(unbracketed, text) : containsWords(s, text)))
  );
}
