// Where the earlier mail starts in a reply, by the tables of quote-rules.ts: the first line, not
// quoted, that begins quoted history or a signature (an attribution, a header block, a separator,
// a signature delimiter or a mobile signature). visible-text.ts leaves out everything from it on,
// except where the sender answers below the quote an attribution introduces (ownLines).
// Lines longer than MAX_MARKER_LINE are never boundaries, so every test here reads a bounded line,
// and no line is read more than a bounded number of times: linear in the text.
import { PhraseSet, phraseText } from './phrases.ts';
import { ATTRIBUTIONS, HEADER_LABELS, MOBILE_SIGNATURES, SEPARATORS, SIGNATURE_LINES } from './quote-rules.ts';

/** Quote headers and attribution lines are short; longer lines are not examined as such. */
const MAX_MARKER_LINE = 400;
const MAX_MOBILE_LINE = 100;
/** A header block is found within this many lines of its first label. */
const HEADER_WINDOW = 8;

// Attributions with a fixed start say where a wrapped one begins; the others are tried after them.
const ANCHORED = new PhraseSet(
  ATTRIBUTIONS.filter((r) => !r.pattern.startsWith('*')),
  (r) => r.pattern,
);
const FLOATING = new PhraseSet(
  ATTRIBUTIONS.filter((r) => r.pattern.startsWith('*')),
  (r) => r.pattern,
);
/** How attributions with a fixed end end: ':' (nearly all), or Zoho's ' wrote ----'. */
const ENDINGS = [
  ...new Set(
    ATTRIBUTIONS.map((r) => phraseText(r.pattern).split('*').at(-1)!)
      .filter((end) => end !== '')
      .map((end) => (end.endsWith(':') ? ':' : end)),
  ),
];
const MOBILE = new PhraseSet(MOBILE_SIGNATURES, (r) => r.pattern);
const SEPARATOR_PHRASES = new Set(SEPARATORS.map((r) => phraseText(r.phrase)));
const FROM_LABELS = new Set<string>();
const OTHER_LABELS = new Set<string>();
for (const row of HEADER_LABELS) {
  for (const [i, field] of row.labels.split(' / ').entries())
    for (const label of field.split(', ')) (i === 0 ? FROM_LABELS : OTHER_LABELS).add(phraseText(label));
}

// The line our mails start with ("##- Please type your reply above this line -##" and its
// translations): whatever follows it, quoted or not, is our own mail coming back.
const REPLY_MARKER = /^[>\s]*##- .{1,100} -##\s*$/;
/** A time or a date in digits ("10:00", "3.12.2024", "2024-12-03"), or a year. */
const DATE_OR_TIME = /\d{1,4}[:./-]\d{1,2}|(?:19|20)\d\d/;
/** What a header label that we do not know looks like: up to 25 letters, spaces and marks. */
const UNKNOWN_LABEL = /^\p{L}[\p{L} .()-]{0,24}$/u;

type Label = 'from' | 'other' | 'unknown';

/** The lines of a reply, each read as patterns read it (phraseText) and as a header label, once. */
class Reply {
  readonly lines: readonly string[];
  private readonly phrases: (string | undefined)[] = [];
  private readonly labels: (Label | null | undefined)[] = [];

  constructor(lines: readonly string[]) {
    this.lines = lines;
  }

  phrase(i: number): string {
    let text = this.phrases[i];
    if (text === undefined) {
      text = phraseText(this.lines[i] ?? '');
      this.phrases[i] = text;
    }
    return text;
  }

  label(i: number): Label | null {
    let label = this.labels[i];
    if (label === undefined) {
      label = headerLabel(this.lines[i] ?? '');
      this.labels[i] = label;
    }
    return label;
  }
}

/**
 * The lines of the reply itself: those above the first line of quoted history or signature (all
 * if there is none). An attribution whose quote the sender answers below (an inline or bottom-posted
 * reply: "On ... wrote:" / "> question" / "answer") is left out with that quote, and reading goes
 * on; the quotes further down are the library's to sort.
 */
export function ownLines(lines: readonly string[]): string[] {
  const reply = new Reply(lines);
  const own: string[] = [];
  let from = 0;
  // A line of dashes or underscores starts a signature if a short block follows it.
  let rule: number | undefined;
  let since = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') continue;
    let start = markerAt(reply, i);
    if (start === undefined) {
      start = attributionStart(reply, i);
      const answer = start === undefined ? undefined : answerAfter(reply, i + 1);
      if (start !== undefined && answer !== undefined) {
        own.push(...lines.slice(from, start));
        if (own.length > 0 && own.at(-1) !== '') own.push('');
        from = answer;
        i = answer - 1;
        rule = undefined;
        continue;
      }
    }
    if (start !== undefined) return [...own, ...lines.slice(from, Math.min(start, rule ?? start))];
    if (rule !== undefined && ++since > SIGNATURE_LINES) rule = undefined;
    if (rule === undefined && isRule(lines[i]!)) {
      rule = i;
      since = 0;
    }
  }
  return [...own, ...lines.slice(from, rule ?? lines.length)];
}

/** Start of the history that line i begins: any boundary but an attribution. */
function markerAt(reply: Reply, i: number): number | undefined {
  const line = reply.lines[i]!;
  if (line.length > MAX_MARKER_LINE) return undefined;
  if (REPLY_MARKER.test(line)) {
    // with the client's "On ... wrote:" above it, if there is one
    let j = i - 1;
    while (j >= 0 && reply.lines[j] === '') j--;
    return (j >= 0 ? attributionStart(reply, j) : undefined) ?? i;
  }
  if (isQuoted(line)) return undefined;
  if (isSeparator(reply.phrase(i)) || isHeaderBlock(reply, i) || line.trim() === '--') return i;
  if (reply.phrase(i).length <= MAX_MOBILE_LINE && MOBILE.match(reply.phrase(i))) return i;
  return undefined;
}

/**
 * The first line of the sender's answer below the quote that an attribution introduces, if the
 * sender wrote one: after the quote (blank lines, quoted lines, and lines a client wrapped out of a
 * long quoted line) comes text that starts no history. Undefined if no quote follows, or nothing
 * but history, or the quote is our own mail (its reply marker).
 */
function answerAfter(reply: Reply, from: number): number | undefined {
  const { lines } = reply;
  let i = from;
  let quoted = false;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    if (REPLY_MARKER.test(line)) return undefined; // our own mail: what follows is never an answer
    if (isQuoted(line)) quoted = true;
    else if (!quoted || !isWrappedOut(lines[i - 1]!, line)) break;
  }
  if (!quoted || i === lines.length) return undefined;
  const history = markerAt(reply, i) !== undefined || isRule(lines[i]!) || attributionStart(reply, i) !== undefined;
  return history ? undefined : i;
}

/** An unquoted line that continues a long quoted line (a client wrapped it without quoting it). */
function isWrappedOut(previous: string, line: string): boolean {
  return previous.length >= 60 && isQuoted(previous) && /^\p{Ll}/u.test(line);
}

/** "-----Original Message-----", "---------- Forwarded message ---------", "Begin forwarded message:". */
function isSeparator(text: string): boolean {
  let start = 0;
  let end = text.length;
  while (start < end && '-_=* '.includes(text[start]!)) start++;
  const colon = text.endsWith(':');
  if (colon) end--;
  while (end > start && '-_=* '.includes(text[end - 1]!)) end--;
  if (!SEPARATOR_PHRASES.has(text.slice(start, end))) return false;
  const ruled = (s: string): boolean => s.replaceAll(' ', '').length >= 2;
  return ruled(text.slice(0, start)) || ruled(text.slice(end, text.length - (colon ? 1 : 0))) || (colon && start === 0);
}

/** A line of three or more dashes or two or more underscores (not the "--" delimiter). */
function isRule(line: string): boolean {
  const text = line.trim();
  const c = text[0];
  if ((c !== '-' && c !== '_') || text.length < (c === '-' ? 3 : 2) || text.length > 80) return false;
  for (const ch of text) if (ch !== c) return false;
  return true;
}

/** A From label and another known one within HEADER_WINDOW lines, in any order; one unknown label and one wrapped value are let pass. */
function isHeaderBlock(reply: Reply, start: number): boolean {
  const first = reply.label(start);
  if (first !== 'from' && first !== 'other') return false;
  let from = false;
  let other = false;
  let unknown = 0;
  let wrapped = 0;
  for (let i = start; i < Math.min(reply.lines.length, start + HEADER_WINDOW); i++) {
    if (reply.lines[i] === '') return false;
    const label = reply.label(i);
    if (label === 'from') from = true;
    else if (label === 'other') other = true;
    else if (label === 'unknown' ? ++unknown > 1 : ++wrapped > 1) return false;
    if (from && other) return true;
  }
  return false;
}

/** The label of a "Label: value" line ("*From:* ...", "De :", "发件人："); null if the line is none. */
function headerLabel(line: string): Label | null {
  let colon = -1;
  for (let i = 1; i < Math.min(line.length, 32); i++) {
    if (line[i] === ':' || line[i] === '：') {
      colon = i;
      break;
    }
  }
  if (colon === -1) return null;
  const label = phraseText(line.slice(0, colon).replaceAll('*', '').replaceAll('_', ''));
  if (FROM_LABELS.has(label)) return 'from';
  if (OTHER_LABELS.has(label)) return 'other';
  return UNKNOWN_LABEL.test(label) && label.split(' ').length <= 3 ? 'unknown' : null;
}

/**
 * Start of the attribution whose last line is line `end`, if it is one: the line alone or joined
 * with up to two lines above it, the fewest that match. Clients wrap long attributions, also before
 * the address ("... Ann <" / "ann@example.com> wrote:") or inside it ("... <ann@example.com" /
 * "> wrote:", which looks quoted).
 */
function attributionStart(reply: Reply, end: number): number | undefined {
  const last = reply.lines[end] ?? '';
  if (last === '' || last.length > MAX_MARKER_LINE) return undefined;
  const continued = isQuoted(last);
  if (continued && !(last.trimStart().startsWith('>') && end > 0 && unclosedAddress(reply.lines[end - 1] ?? ''))) {
    return undefined;
  }
  const joined: string[] = [];
  for (let start = end; start > end - 3 && start >= 0; start--) {
    const line = reply.lines[start]!;
    if (line === '' || line.length > MAX_MARKER_LINE || (start < end && isQuoted(line))) break;
    const text = start === end ? reply.phrase(end) : `${reply.phrase(start)} ${joined.at(-1)}`;
    if (text.length > MAX_MARKER_LINE) break;
    joined.push(text);
    // Most attributions end in ':'; one that does not (the ISO date) is never wrapped.
    if (start === end && !ENDINGS.some((ending) => text.endsWith(ending)) && !continued) {
      return ANCHORED.match(text) && isDated(text) ? end : undefined;
    }
  }
  const from = continued ? 1 : 0; // "> wrote:" alone is no attribution
  for (let k = from; k < joined.length; k++) if (ANCHORED.match(joined[k]!) && isDated(joined[k]!)) return end - k;
  for (let k = from; k < joined.length; k++) {
    if (FLOATING.match(joined[k]!) && isDated(joined[k]!)) return wrappedStart(reply.lines, end - k, end);
  }
  return undefined;
}

/** Lines above a matched attribution that it was wrapped from ("... Ann" / "<ann@example.com> wrote:"). */
function wrappedStart(lines: readonly string[], start: number, end: number): number {
  let first = start;
  while (first > 0 && end - first < 2) {
    const previous = lines[first - 1] ?? '';
    if (previous === '' || previous.length > MAX_MARKER_LINE || isQuoted(previous)) break;
    const joint = previous.trimEnd().at(-1) ?? '';
    if (!'<(,'.includes(joint) && !/^[\p{Ll}<(@"]/u.test(lines[first] ?? '')) break;
    first--;
  }
  return first;
}

function unclosedAddress(line: string): boolean {
  return line.lastIndexOf('<') > line.lastIndexOf('>');
}

/** An address or a date or time: what tells an attribution from "Here is what I wrote:". */
function isDated(text: string): boolean {
  return text.includes('@') || DATE_OR_TIME.test(text);
}

/** A line quoted by one of QUOTE_MARKERS: '>', '|' (not a table row ending in '|'), or initials and '>' ("JD> "). */
export function isQuoted(line: string | undefined): boolean {
  return quoteMarker(line) !== undefined;
}

/** '>' for the markers the library knows; 'other' for '|' and initials, which it is shown as '>'. */
export function quoteMarker(line: string | undefined): '>' | 'other' | undefined {
  if (line === undefined) return undefined;
  const text = line.trimStart();
  const c = text[0];
  if (c === '>') return '>';
  if (c === '|') {
    const trimmed = text.trimEnd();
    return trimmed === '|' || !trimmed.endsWith('|') ? 'other' : undefined;
  }
  let letters = 0;
  while (letters < 3 && isAsciiLetter(text[letters])) letters++;
  return letters > 0 && text[letters] === '>' ? 'other' : undefined;
}

function isAsciiLetter(c: string | undefined): boolean {
  return c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}
