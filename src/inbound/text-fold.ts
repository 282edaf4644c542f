// Text folded for comparison with the phrase tables (responder-subjects.ts, challenge-response.ts):
// plain string comparison on attacker text, no patterns. One pass over at most `max` characters.

/**
 * NFC, lower case (Turkish dotted and dotless i both as "i"), full-width and small colons as
 * ":", the typographic apostrophe as "'", hyphens and underscores as spaces, every run of white space (NBSP, the narrow NBSP
 * French puts before a colon, the ideographic space, line ends) as one space, none at the start,
 * none before ":" or "]" and none after "[". So "Réponse automatique :", "RÉPONSE AUTOMATIQUE:"
 * and "Réponse\u00a0automatique :" all read "réponse automatique:".
 */
export function foldText(text: string, max: number): string {
  const lower = text.slice(0, max).normalize('NFC').toLowerCase();
  const out: string[] = [];
  const last = () => out[out.length - 1];
  for (const ch of lower) {
    let c = ch;
    if (c === '\u0307') continue; // the dot toLowerCase leaves after the "i" of "İ"
    if (c === 'ı') c = 'i';
    else if (c === '\uff1a' || c === '\ufe55') c = ':';
    else if (c === '\u2019') c = "'";
    else if (c === '-' || c === '_' || c === '\u2010' || c === '\u2011') c = ' ';
    if (isSpace(c)) {
      if (out.length > 0 && last() !== ' ' && last() !== '[') out.push(' ');
      continue;
    }
    if ((c === ':' || c === ']') && last() === ' ') out.pop();
    out.push(c);
  }
  return out.join('');
}

/** Whether the folded text starts with the folded phrase, ending at the end of a word. */
export function startsWithWord(folded: string, phrase: string): boolean {
  return folded.startsWith(phrase) && wordEndsAt(folded, phrase.length);
}

/** Whether the folded phrase occurs in the folded text as whole words. */
export function containsWords(folded: string, phrase: string): boolean {
  for (let at = folded.indexOf(phrase); at !== -1; at = folded.indexOf(phrase, at + 1)) {
    if ((at === 0 || !isWordChar(folded[at - 1]!)) && wordEndsAt(folded, at + phrase.length)) return true;
  }
  return false;
}

/** A phrase ending in punctuation ends a word wherever it ends; else the next character must not be a letter. */
function wordEndsAt(folded: string, end: number): boolean {
  return end >= folded.length || !isWordChar(folded[end - 1]!) || !isWordChar(folded[end]!);
}

const WORD_CHAR = /[\p{L}\p{N}]/u;
const SPACE = /\s/;

function isWordChar(c: string): boolean {
  return WORD_CHAR.test(c);
}

function isSpace(c: string): boolean {
  return SPACE.test(c);
}
