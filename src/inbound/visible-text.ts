// The "visible" text of a plain-text reply: quoted history and signature removed. A pure
// function without I/O; the worker stores its result.
//
// email-reply-parser (crisp-oss's port of GitHub's parser) decides what is quote and signature.
// The code here adds the few patterns the mail samples showed it misses, and bounds its input:
// it has super-linear corners that a hostile mail can reach (see libraryParts).
import EmailReplyParser from 'email-reply-parser';

/**
 * email-reply-parser's header regexes are polynomial (some cubic) in its input without RE2,
 * which we do not ship: a hostile 4 KB costs ~90 ms, 8 KB ~600 ms, a 12 KB line seconds. So it
 * reads at most this much of the reply; beyond that only our own linear rules apply.
 */
const LIBRARY_BUDGET = 4_096;
/** Longer lines are never quote headers or signature markers; the library sees a placeholder. */
const LIBRARY_MAX_LINE = 500;
const MASK = '\uE000';
/** Quote headers and attribution lines are short; longer lines are not examined as such. */
const MAX_MARKER_LINE = 400;

/** The visible part of a plain-text reply: quoted history ("On ... wrote:", "> " lines, Outlook "-----Original Message-----"/"From: ... Sent: ..." blocks, forwarded headers), and signatures ("-- " delimiter, "Sent from my iPhone"-style lines) removed; trimmed. Falls back to the whole text (trimmed) when stripping would leave nothing. */
export function visibleText(text: string): string {
  const whole = text.replace(/\r\n?/g, '\n');
  const lines = normaliseLines(whole.split('\n'));
  const own = lines.slice(0, historyStart(lines));
  return tidy(withoutQuotesAndSignature(own)) || whole.trim();
}

/** Blank lines made empty and runs of them capped: the library's `^\s*` patterns are quadratic in a run. */
function normaliseLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  let blanks = 0;
  for (const line of lines) {
    const blank = line.trim() === '';
    blanks = blank ? blanks + 1 : 0;
    if (blanks <= 2) out.push(blank ? '' : line);
  }
  return out;
}

// "-----Original Message-----", "---------- Forwarded message ---------" and translations,
// which the library knows only partly; everything below them is the earlier mail.
const SEPARATOR = new RegExp(
  String.raw`^\s*[-_=*]{2,}\s*(?:original message|forwarded message|ursprüngliche nachricht|` +
    `weitergeleitete nachricht|message d'origine|message transféré|mensaje original|` +
    `mensaje reenviado|messaggio originale|messaggio inoltrato|oorspronkelijk bericht|` +
    `doorgestuurd bericht|oprindelig besked|oprindelig meddelelse|videresendt meddelelse|` +
    `opprinnelig melding|ursprungligt meddelande|vidarebefordrat meddelande|` +
    `alkuperäinen viesti|wiadomość oryginalna|исходное сообщение|пересылаемое сообщение)` +
    // after the words: spaces, perhaps a rule and spaces (\s*[-_=*]*\s* let two \s* share a run)
    String.raw`\s*(?:[-_=*]+\s*)?$`,
  'iu',
);
const FORWARD_INTRO =
  /^\s*(?:begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié)\s*:\s*$/iu;

// Header labels of the block Outlook and webmails put above the quoted mail ("From: ...",
// "Sent: ...", also "*From:*" after HTML-to-text conversion), in the languages of the samples.
const FROM_LABELS = new Set([
  'from',
  'von',
  'de',
  'van',
  'da',
  'fra',
  'från',
  'od',
  'от',
  'lähettäjä',
  'feladó',
  'afzender',
  'expéditeur',
  'remitente',
  'mittente',
]);
const OTHER_LABELS = new Set([
  'sent',
  'date',
  'to',
  'cc',
  'subject',
  'gesendet',
  'datum',
  'an',
  'betreff',
  'envoyé',
  'envoyé le',
  'à',
  'objet',
  'enviado',
  'fecha',
  'para',
  'asunto',
  'verzonden',
  'aan',
  'onderwerp',
  'inviato',
  'data',
  'a',
  'oggetto',
  'sendt',
  'til',
  'emne',
  'skickat',
  'till',
  'ämne',
  'wysłano',
  'do',
  'temat',
  'dw',
  'отправлено',
  'кому',
  'тема',
  'дата',
  'lähetetty',
  'vastaanottaja',
  'aihe',
  'elküldve',
  'címzett',
  'tárgy',
  'assunto',
]);

/** Index of the first line of quoted history that the library would miss or read badly; lines.length if none. */
// The line our mails start with ("##- Please type your reply above this line -##" and its
// translations): whatever follows it, quoted or not, is our own mail coming back.
const REPLY_MARKER = /^[>\s]*##- .{1,100} -##\s*$/;

function historyStart(lines: readonly string[]): number {
  const labels = lines.map(headerLabel);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === '' || line.length > MAX_MARKER_LINE) continue;
    if (REPLY_MARKER.test(line)) {
      // with the client's "On ... wrote:" above it, if there is one
      let j = i - 1;
      while (j >= 0 && lines[j] === '') j--;
      return j >= 0 && attributionStart(lines, j) !== undefined ? attributionStart(lines, j)! : i;
    }
    if (SEPARATOR.test(line) || FORWARD_INTRO.test(line) || isHeaderBlock(labels, i)) return i;
    const start = attributionStart(lines, i);
    // An attribution followed by "> " lines is left to the library and to keptText (inline
    // replies may follow); one followed by plain text is followed by the earlier mail itself.
    if (start !== undefined && !isQuoted(nextNonBlank(lines, i + 1))) return start;
  }
  return lines.length;
}

/** At least two header lines in a row, one of them "From:" and one not. */
function isHeaderBlock(labels: readonly (string | undefined)[], start: number): boolean {
  let from = false;
  let other = false;
  for (let i = start; i < Math.min(labels.length, start + 8); i++) {
    const label = labels[i];
    if (label === undefined) break;
    if (FROM_LABELS.has(label)) from = true;
    else other = true;
  }
  return from && other;
}

function headerLabel(line: string): string | undefined {
  const colon = line.indexOf(':');
  if (colon < 1 || colon > 30) return undefined;
  const label = line
    .slice(0, colon)
    .replace(/[*_\s]+/g, ' ')
    .trim()
    .toLowerCase();
  return FROM_LABELS.has(label) || OTHER_LABELS.has(label) ? label : undefined;
}

// Words that end an attribution ("... wrote:", "... a écrit :", "... napisał(a):"); the last
// word is enough for multi-word verbs. Lower case; compared with the line's last word.
const ATTRIBUTION_VERBS = new Set([
  'wrote',
  'writes',
  'écrit',
  'escribió',
  'escreveu',
  'scritto',
  'scrisse',
  'schrieb',
  'schreef',
  'skrev',
  'kirjoitti',
  'napisał',
  'napisał(a)',
  'napisała',
  'pisze',
  'napsal',
  'napísal',
  'írta',
  'написал',
  'написала',
  'написал(а)',
  'yazdı',
  'έγραψε',
]);
// The same verbs anywhere, for attributions that go on after the verb ("X <x@y> schrieb am
// Di., 16. Aug. 2016 um 12:52 Uhr:"). Only tried on short candidate lines.
const ATTRIBUTION_VERB = new RegExp(
  String.raw`(?:^|[\s,])(?:${[...ATTRIBUTION_VERBS].map((v) => v.replace(/[()]/g, '\\$&')).join('|')})(?=[\s:,(]|$)`,
  'iu',
);
/** Gmail's "2016-03-03 17:21 GMT+01:00 Some One <x@y>:", which the samples show cut short. */
const GMAIL_ISO_HEADER = /^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2} GMT[+-]\d{1,2}:\d{2}\s/;
const DATE_OR_TIME = /\d{1,4}[:./-]\d{1,2}/;

/**
 * Start of the attribution line(s) ending at line `end`, if they are one: a quoting verb
 * ("wrote") at the end or, when it ends in ':', anywhere; plus an address or a date/time so
 * that "Here is what I wrote:" stays. Up to three lines, as clients wrap long ones.
 */
function attributionStart(lines: readonly string[], end: number): number | undefined {
  const last = lines[end] ?? '';
  if (GMAIL_ISO_HEADER.test(last)) return end;
  const endsWithColon = last.trimEnd().endsWith(':');
  if (!endsWithColon && !ATTRIBUTION_VERBS.has(lastWord(last))) return undefined;
  let joined = '';
  for (let start = end; start > end - 3 && start >= 0; start--) {
    const line = lines[start] ?? '';
    if (line === '' || isQuoted(line)) return undefined;
    joined = start === end ? line : `${line} ${joined}`;
    if (joined.length > MAX_MARKER_LINE) return undefined;
    if (isAttribution(joined, endsWithColon)) return wrappedStart(lines, start, end);
  }
  return undefined;
}

/** Earlier lines that the attribution was wrapped from ("... Name <" / "name@example.com> wrote:"). */
function wrappedStart(lines: readonly string[], start: number, end: number): number {
  let first = start;
  while (first > 0 && end - first < 2) {
    const previous = lines[first - 1] ?? '';
    if (previous === '' || isQuoted(previous)) break;
    if (!/[<(,]\s*$/.test(previous) && !/^[\p{Ll}<(@]/u.test(lines[first] ?? '')) break;
    first--;
  }
  return first;
}

function isAttribution(text: string, endsWithColon: boolean): boolean {
  const verb = ATTRIBUTION_VERBS.has(lastWord(text)) || (endsWithColon && ATTRIBUTION_VERB.test(text));
  return verb && (text.includes('@') || DATE_OR_TIME.test(text));
}

/** Last word, lower case, without the ':' and '-' that may follow it ("wrote ----"). */
function lastWord(line: string): string {
  let end = line.length;
  while (end > 0 && ' \t:-'.includes(line[end - 1] ?? '')) end--;
  let start = end;
  while (start > 0 && !' \t,'.includes(line[start - 1] ?? '')) start--;
  return line.slice(start, end).toLowerCase();
}

function isQuoted(line: string | undefined): boolean {
  return line?.trimStart().startsWith('>') ?? false;
}

function nextNonBlank(lines: readonly string[], from: number): string | undefined {
  for (let i = from; i < lines.length; i++) if (lines[i] !== '') return lines[i];
  return undefined;
}

interface Part {
  text: string;
  kind: 'visible' | 'quote' | 'hidden';
}

/** The reply without quotes and signature, by the library on the first LIBRARY_BUDGET characters. */
function withoutQuotesAndSignature(lines: readonly string[]): string {
  const { head, tail } = splitAtBudget(lines);
  const parts = libraryParts(head);
  const lastVisible = parts.findLastIndex((p) => p.kind === 'visible' && p.text.trim() !== '');
  const rest =
    lastVisible !== -1 && lastVisible === parts.findLastIndex((p) => p.text.trim() !== '') ? untilSignature(tail) : [];
  return [keptText(parts, lastVisible), ...rest].join('\n');
}

function splitAtBudget(lines: readonly string[]): { head: string[]; tail: string[] } {
  let size = 0;
  for (const [i, line] of lines.entries()) {
    // A long line costs the library only its placeholder.
    size += (line.length > LIBRARY_MAX_LINE ? 8 : line.length) + 1;
    if (size > LIBRARY_BUDGET) return { head: lines.slice(0, i), tail: lines.slice(i) };
  }
  return { head: [...lines], tail: [] };
}

function libraryParts(lines: readonly string[]): Part[] {
  const long: string[] = [];
  const proxy = lines.map((line) => {
    if (line.length <= LIBRARY_MAX_LINE) return line.replaceAll(MASK, '');
    long.push(line);
    // A quoted line stays quoted for the library ('>' first); the line itself replaces both.
    return `${isQuoted(line) ? '>' : ''}${MASK}${long.length - 1}${MASK}`;
  });
  const unmask = (text: string): string =>
    text.includes(MASK) ? text.replace(/>?\uE000(\d+)\uE000/g, (_, n: string) => long[Number(n)] ?? '') : text;
  return new EmailReplyParser()
    .read(proxy.join('\n'))
    .getFragments()
    .map((fragment) => ({
      text: unmask(fragment.getContent()),
      kind: !fragment.isHidden() ? 'visible' : fragment.isQuoted() ? 'quote' : 'hidden',
    }));
}

/**
 * Visible fragments, plus "> " blocks that the sender answered below (inline replies read
 * badly without them) unless an attribution line introduces them: those are the quoted mail.
 * An attribution line the library left at the end of a visible fragment is removed.
 */
function keptText(parts: readonly Part[], lastVisible: number): string {
  const out: string[] = [];
  let attributed = false;
  for (const [i, part] of parts.slice(0, lastVisible + 1).entries()) {
    if (part.kind === 'visible') {
      const text = nextKind(parts, i + 1) === 'quote' ? withoutTrailingAttribution(part.text) : part.text;
      attributed = text !== part.text;
      out.push(text);
    } else if (part.kind === 'quote' && part.text.trim() !== '') {
      if (!attributed && isBareQuote(part.text)) out.push(part.text);
      attributed = false;
    }
  }
  // The library drops the blank lines at fragment edges; put one between kept fragments.
  return out
    .map(trimNewlines)
    .filter((text) => text.trim() !== '')
    .join('\n\n');
}

/** Without newlines at either end; /\n+$/ scanned to the end of the text from each newline of it. */
function trimNewlines(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text[start] === '\n') start++;
  while (end > start && text[end - 1] === '\n') end--;
  return text.slice(start, end);
}

/** Kind of the next part with text in it. */
function nextKind(parts: readonly Part[], from: number): Part['kind'] | undefined {
  for (let i = from; i < parts.length; i++) if ((parts[i]?.text ?? '').trim() !== '') return parts[i]?.kind;
  return undefined;
}

function withoutTrailingAttribution(text: string): string {
  const lines = text.split('\n');
  while (lines.length > 0 && (lines.at(-1) ?? '').trim() === '') lines.pop();
  const start = attributionStart(lines, lines.length - 1);
  return start === undefined ? text : lines.slice(0, start).join('\n');
}

function isBareQuote(text: string): boolean {
  return text.split('\n').every((line) => line.trim() === '' || isQuoted(line));
}

/** Past the library's budget only the RFC 3676 delimiter ("-- ") is recognised. */
function untilSignature(lines: readonly string[]): string[] {
  const end = lines.findIndex((line) => line === '-- ' || line === '--');
  return end === -1 ? [...lines] : lines.slice(0, end);
}

/** Trailing separator lines ("____", "-----", Gmail's "ᐧ" marker) and excess blank lines go. */
function tidy(text: string): string {
  const lines = normaliseLines(text.split('\n'));
  while (lines.length > 0 && /^[\s\-_=*~+#ᐧ]*$/u.test(lines.at(-1) ?? '')) lines.pop();
  return lines.join('\n').trim();
}
