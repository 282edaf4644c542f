// The "visible" text of a plain-text reply: quoted history and signature removed. A pure
// function without I/O; the worker stores its result.
//
// Two steps. Our own rules (history.ts, with the tables of quote-rules.ts) find where the earlier
// mail or the signature starts, in every language our customers write in; everything from there on
// is history (an attribution whose quote the sender answers below is left out with that quote, and
// the reply read on). In what is left, email-reply-parser (crisp-oss's port of GitHub's parser)
// tells the reply from the "> " quotes it answers inline; it also still finds a "From: <address>"
// line above a quote. Its signature patterns are not followed: a closing ("Best regards, Ann",
// "Cheers") stays with the reply, and signatures are cut by our rules ("-- ", "Sent from my
// iPhone", ...). Its input is bounded: it has super-linear corners that a hostile mail can reach
// (see libraryParts).
import EmailReplyParser from 'email-reply-parser';
import { ownLines, quoteMarker } from './history.ts';

/**
 * email-reply-parser's header regexes are polynomial (some cubic) in its input without RE2,
 * which we do not ship: a hostile 4 KB costs ~90 ms, 8 KB ~600 ms, a 12 KB line seconds. So it
 * reads at most this much of the reply; beyond that only our own linear rules apply.
 */
const LIBRARY_BUDGET = 4_096;
/** Longer lines are never quote headers or signature markers; the library sees a placeholder. */
const LIBRARY_MAX_LINE = 500;
const MASK = '\uE000';

/** The visible part of a plain-text reply: quoted history ("On ... wrote:" in 31 languages, "> ", "| " and "JD> " quotes, Outlook "-----Original Message-----"/"From: ... Sent: ..." blocks, forwarded headers), and signatures ("-- " delimiter, "Sent from my iPhone"-style lines) removed; a closing such as "Best regards, Ann" kept; trimmed. Falls back to the whole text (trimmed) when stripping would leave nothing. */
export function visibleText(text: string): string {
  const whole = text.replace(/\r\n?/g, '\n');
  const lines = normaliseLines(whole.split('\n'));
  return tidy(withoutQuotes(ownLines(lines))) || whole.trim();
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

interface Part {
  text: string;
  quoted: boolean;
}

/** The reply without the quotes nobody answered, by the library on the first LIBRARY_BUDGET characters. */
function withoutQuotes(lines: readonly string[]): string {
  const { head, tail } = splitAtBudget(lines);
  const parts = libraryParts(head).filter((p) => p.text.trim() !== '');
  const lastVisible = parts.findLastIndex((p) => !p.quoted);
  // Past the budget the reply goes on if it did not end in a quote.
  const rest = lastVisible !== -1 && lastVisible === parts.length - 1 ? tail : [];
  return [keptText(parts.slice(0, lastVisible + 1)), ...rest].join('\n');
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

/**
 * The library's fragments. It sees long lines as placeholders, and lines quoted with '|' or
 * initials ("JD> ") as '>' lines, which is all it knows; the text of each comes back unchanged.
 */
function libraryParts(lines: readonly string[]): Part[] {
  const masked: string[] = [];
  const proxy = lines.map((line) => {
    const marker = quoteMarker(line);
    if (line.length <= LIBRARY_MAX_LINE && marker !== 'other') return line.replaceAll(MASK, '');
    masked.push(line);
    // A quoted line stays quoted for the library ('>' first); the line itself replaces both.
    return `${marker ? '>' : ''}${MASK}${masked.length - 1}${MASK}`;
  });
  const unmask = (text: string): string =>
    text.includes(MASK) ? text.replace(/>?\uE000(\d+)\uE000/g, (_, n: string) => masked[Number(n)] ?? '') : text;
  return new EmailReplyParser()
    .read(proxy.join('\n'))
    .getFragments()
    .map((fragment) => ({ text: unmask(fragment.getContent()), quoted: fragment.isQuoted() }));
}

/**
 * The reply's fragments, plus quote blocks that the sender answered below (inline replies read
 * badly without them). A quote block the library opened with a header of its own ("From: ... <>")
 * is the earlier mail, not a question answered.
 */
function keptText(parts: readonly Part[]): string {
  return (
    parts
      .filter((p) => !p.quoted || isBareQuote(p.text))
      // The library drops the blank lines at fragment edges; put one between kept fragments.
      .map((p) => trimNewlines(p.text))
      .filter((text) => text.trim() !== '')
      .join('\n\n')
  );
}

/** Without newlines at either end; /\n+$/ scanned to the end of the text from each newline of it. */
function trimNewlines(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text[start] === '\n') start++;
  while (end > start && text[end - 1] === '\n') end--;
  return text.slice(start, end);
}

function isBareQuote(text: string): boolean {
  return text.split('\n').every((line) => line.trim() === '' || quoteMarker(line) !== undefined);
}

/** Trailing separator lines ("____", "-----", Gmail's "ᐧ" marker) and excess blank lines go. */
function tidy(text: string): string {
  const lines = normaliseLines(text.split('\n'));
  while (lines.length > 0 && /^[\s\-_=*~+#ᐧ]*$/u.test(lines.at(-1) ?? '')) lines.pop();
  return lines.join('\n').trim();
}
