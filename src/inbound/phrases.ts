// Matching the patterns of quote-rules.ts with plain string tests: a fixed start, fixed pieces
// found in order with indexOf, a fixed end. Linear in the line (which callers bound), whatever the
// line holds: there is no backtracking to do.

/**
 * A line as patterns read it: lower case, each run of spaces (no-break and narrow ones too) one
 * space, ' :' and the full-width '：' as ':', trimmed.
 */
export function phraseText(line: string): string {
  return line
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/ ?[:：]/g, ':')
    .trim();
}

interface Compiled<T> {
  row: T;
  /** the fixed start ('#' is any digit), the pieces between '*'s, the fixed end */
  start: string;
  pieces: string[];
  end: string;
  /** a pattern without '*': the whole line */
  exact: boolean;
}

const DIGITS = '0123456789';

/** Rows with patterns, found by the first character of their fixed start or the last of their end. */
export class PhraseSet<T> {
  private readonly byFirst = new Map<string, Compiled<T>[]>();
  private readonly byLast = new Map<string, Compiled<T>[]>();

  constructor(rows: readonly T[], pattern: (row: T) => string) {
    const seen = new Set<string>();
    for (const row of rows) {
      const text = phraseText(pattern(row));
      if (seen.has(text)) continue; // the same pattern in another language's row
      seen.add(text);
      const parts = text.split('*');
      const start = parts[0] ?? '';
      const end = parts.length > 1 ? (parts.at(-1) ?? '') : '';
      const pieces = parts.slice(1, -1).filter((p) => p !== '');
      if ([end, ...pieces].some((p) => p.includes('#'))) throw new Error(`'#' outside the start: ${pattern(row)}`);
      const compiled = { row, start, pieces, end, exact: parts.length === 1 };
      if (start !== '') for (const c of start[0] === '#' ? DIGITS : start[0]!) add(this.byFirst, c, compiled);
      else if (end !== '') add(this.byLast, end.at(-1)!, compiled);
      else throw new Error(`a pattern needs a fixed start or end: ${pattern(row)}`);
    }
  }

  /** The first row whose pattern the text (as phraseText gives it) matches. */
  match(text: string): T | undefined {
    if (text === '') return undefined;
    for (const c of this.byFirst.get(text[0]!) ?? []) if (matches(c, text)) return c.row;
    for (const c of this.byLast.get(text.at(-1)!) ?? []) if (matches(c, text)) return c.row;
    return undefined;
  }
}

function add<T>(map: Map<string, Compiled<T>[]>, key: string, value: Compiled<T>): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function matches<T>(c: Compiled<T>, text: string): boolean {
  if (c.exact) return text === c.start;
  const limit = text.length - c.end.length;
  if (limit < c.start.length || !startsWith(text, c.start) || !text.endsWith(c.end)) return false;
  // Each piece as early as it occurs: what is left for the later ones is then the most there is.
  let at = c.start.length;
  for (const piece of c.pieces) {
    const found = text.indexOf(piece, at);
    if (found === -1 || found + piece.length > limit) return false;
    at = found + piece.length;
  }
  return true;
}

function startsWith(text: string, start: string): boolean {
  if (!start.includes('#')) return text.startsWith(start);
  for (let i = 0; i < start.length; i++) {
    const want = start[i]!;
    const have = text[i]!;
    if (want === '#' ? !DIGITS.includes(have) : want !== have) return false;
  }
  return true;
}
