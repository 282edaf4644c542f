// The nesting limit on HTML from mail, applied before an HTML parser reads it: sanitizeHtml
// (sanitize.ts) and inbound's HTML-to-text both parse with htmlparser2, whose cost grows with the
// square of the nesting depth, a corner that a hostile mail can reach. Pure, without I/O.

/**
 * Deeper markup loses its tags, text stays. A long thread quoting itself in nested divs reached
 * 513 levels among the samples; this is only a bound on parsing cost (see Nesting).
 */
const MAX_PARSE_DEPTH = 1_000;

const VOID_ELEMENTS = new Set([
  'area',
  'base',
  'basefont',
  'br',
  'col',
  'command',
  'embed',
  'frame',
  'hr',
  'img',
  'input',
  'isindex',
  'keygen',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
]);
/** Elements whose content htmlparser2 reads as text up to their end tag. */
const RAW_TEXT_ELEMENTS = new Set(['script', 'style', 'title', 'textarea', 'xmp']);
// htmlparser2's own table (Parser.js, openImpliesClose): opening the key closes these while one
// is the innermost open element. Copied so that our stack is the parser's stack, and an end tag
// we call stray is one the parser ignores too.
const CLOSES_P = new Set(['p']);
const CLOSES_FORM_CONTROLS = new Set(['input', 'option', 'optgroup', 'select', 'button', 'datalist', 'textarea']);
const IMPLIED_CLOSE = new Map<string, ReadonlySet<string>>([
  ['tr', new Set(['tr', 'th', 'td'])],
  ['th', new Set(['th'])],
  ['td', new Set(['thead', 'th', 'td'])],
  ['body', new Set(['head', 'link', 'script'])],
  ['li', new Set(['li'])],
  ['option', new Set(['option'])],
  ['optgroup', new Set(['optgroup', 'option'])],
  ['dd', new Set(['dd', 'dt'])],
  ['dt', new Set(['dd', 'dt'])],
  ['rt', new Set(['rt', 'rp'])],
  ['rp', new Set(['rt', 'rp'])],
  ['tbody', new Set(['thead', 'tbody'])],
  ['tfoot', new Set(['thead', 'tbody'])],
  ...['select', 'input', 'output', 'button', 'datalist', 'textarea'].map((name): [string, ReadonlySet<string>] => [
    name,
    CLOSES_FORM_CONTROLS,
  ]),
  ...[
    'p',
    'h1',
    'h2',
    'h3',
    'h4',
    'h5',
    'h6',
    'address',
    'article',
    'aside',
    'blockquote',
    'details',
    'div',
    'dl',
    'fieldset',
    'figcaption',
    'figure',
    'footer',
    'form',
    'header',
    'hr',
    'main',
    'nav',
    'ol',
    'pre',
    'section',
    'table',
    'ul',
  ].map((name): [string, ReadonlySet<string>] => [name, CLOSES_P]),
]);

interface TagToken {
  name: string;
  closing: boolean;
  /** Index just after the tag's '>'. */
  end: number;
}

/**
 * Open-element bookkeeping with O(1) push/pop. htmlparser2 keeps its stack with
 * Array#unshift, which is linear in the depth: 100,000 nested tags take ~8 s there.
 */
class Nesting {
  private readonly stack: string[] = [];
  private readonly open = new Map<string, number>();
  /** Tags opened beyond MAX_PARSE_DEPTH and removed; their end tags are removed too. */
  private readonly dropped = new Map<string, number>();

  /** False when the tag is to be removed from the markup. */
  accept(token: TagToken): boolean {
    return token.closing ? this.close(token.name) : this.enter(token.name);
  }

  private enter(name: string): boolean {
    const implied = IMPLIED_CLOSE.get(name);
    while (implied?.has(this.stack.at(-1) ?? '')) this.pop();
    if (VOID_ELEMENTS.has(name)) return true;
    if (this.stack.length >= MAX_PARSE_DEPTH) {
      count(this.dropped, name, 1);
      return false;
    }
    this.stack.push(name);
    count(this.open, name, 1);
    return true;
  }

  private close(name: string): boolean {
    if ((this.dropped.get(name) ?? 0) > 0) {
      count(this.dropped, name, -1);
      return false;
    }
    // An end tag with nothing to close is dropped, so the parser never searches its stack for
    // it; </p> and </br> are the exceptions, the parser turns them into elements.
    if (!this.open.get(name)) return name === 'p' || name === 'br';
    while (this.pop() !== name);
    return true;
  }

  private pop(): string | undefined {
    const name = this.stack.pop();
    if (name !== undefined) count(this.open, name, -1);
    return name;
  }
}

function count(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/**
 * The markup with tags nested deeper than MAX_PARSE_DEPTH removed, so htmlparser2 (inside
 * sanitize-html too) stays linear. Only a scan for tag boundaries, not a parser: whatever it
 * gets wrong still goes through sanitize-html, which decides what is safe.
 */
export function limitNesting(html: string): string {
  const nesting = new Nesting();
  const kept: string[] = [];
  let copied = 0;
  let at = html.indexOf('<');
  while (at !== -1) {
    const token = readTag(html, at);
    if (typeof token === 'number') {
      if (token === -1) break;
      at = html.indexOf('<', token);
      continue;
    }
    const accepted = nesting.accept(token);
    if (!accepted) {
      kept.push(html.slice(copied, at));
      copied = token.end;
    }
    const resume =
      accepted && !token.closing && RAW_TEXT_ELEMENTS.has(token.name)
        ? rawTextEnd(html, token.name, token.end)
        : token.end;
    if (resume === -1) break;
    at = html.indexOf('<', resume);
  }
  if (copied === 0) return html;
  kept.push(html.slice(copied));
  return kept.join('');
}

const TAG_NAME = /<(\/?)([a-z][^\s/>]*)/iy;

/** The tag at `start` (a '<'), or the index to resume scanning at; -1 when the rest is not markup. */
function readTag(html: string, start: number): TagToken | number {
  if (html.startsWith('<!--', start)) {
    const close = html.indexOf('-->', start + 4);
    return close === -1 ? -1 : close + 3;
  }
  TAG_NAME.lastIndex = start;
  const match = TAG_NAME.exec(html);
  if (!match) {
    const next = html[start + 1];
    if (next !== '!' && next !== '?' && next !== '/') return start + 1;
    const close = html.indexOf('>', start);
    return close === -1 ? -1 : close + 1;
  }
  const end = tagEnd(html, TAG_NAME.lastIndex);
  if (end === -1) return -1;
  return { name: (match[2] ?? '').toLowerCase(), closing: match[1] === '/', end };
}

/** Index after the '>' that ends the tag, skipping quoted attribute values; -1 if none. */
function tagEnd(html: string, from: number): number {
  for (let i = from; i < html.length; i++) {
    const c = html[i];
    if (c === '>') return i + 1;
    if (c !== '=') continue;
    let j = i + 1;
    while (j < html.length && ' \t\n\r\f'.includes(html[j] ?? '')) j++; // HTML whitespace only
    const quote = html[j];
    if (quote === '"' || quote === "'") {
      const close = html.indexOf(quote, j + 1);
      if (close === -1) return -1;
      i = close;
    }
  }
  return -1;
}

function rawTextEnd(html: string, name: string, from: number): number {
  const end = new RegExp(`</${name}`, 'gi');
  end.lastIndex = from;
  return end.exec(html)?.index ?? -1;
}
