// The visible text of an HTML-only mail: the HTML as text, without the sections that the markup
// marks as quoted, then visibleText (visible-text.ts). A pure function without I/O.
// htmlparser2 is the parser sanitize-html itself uses (a dependency of it, not of ours).
import { Parser } from 'htmlparser2';
import { limitNesting } from '../mail/index.ts';
import { visibleText } from './visible-text.ts';

const BLOCK_ELEMENTS = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'caption',
  'center',
  'dd',
  'div',
  'dl',
  'dt',
  'figcaption',
  'figure',
  'footer',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hr',
  'li',
  'main',
  'nav',
  'ol',
  'p',
  'pre',
  'section',
  'table',
  'tbody',
  'tfoot',
  'thead',
  'tr',
  'ul',
]);
const NEVER_TEXT = new Set(['script', 'style', 'title', 'template', 'head']);
/** Classes of quoted sections: Gmail (gmail_quote, gmail_quote_container), Thunderbird, Yahoo. */
const QUOTE_CLASS = /(?:^|\s)(?:gmail_quote\S*|moz-cite-prefix|yahoo_quoted)(?:\s|$)/;
/** Outlook ids after which the rest of the body is the quoted mail. */
const HISTORY_IDS = new Set(['divRplyFwdMsg', 'appendonsend']);
const HIDDEN = /display\s*:\s*none/i;

/** Visible text of an HTML-only mail: convert to text (keep line breaks of <br>, <p>, <div>, <li>; drop <style>/<script>/<head>; decode entities; drop <blockquote> content and gmail_quote / divRplyFwdMsg / "OLK_SRC_BODY_SECTION" / moz-cite-prefix quoted sections first), then visibleText(). */
export function visibleTextFromHtml(html: string): string {
  const markup = limitNesting(html);
  // If dropping the quoted sections leaves nothing (a bare forward), the quotes are the content.
  return visibleText(htmlToText(markup, true)) || visibleText(htmlToText(markup, false));
}

function htmlToText(html: string, dropQuotes: boolean): string {
  const text = new TextCollector(dropQuotes);
  const parser = new Parser(
    {
      onopentag: (name, attribs) => text.open(name, attribs),
      onclosetag: (name) => text.close(name),
      ontext: (data) => text.add(data),
    },
    { decodeEntities: true },
  );
  parser.write(html);
  parser.end();
  return text.toString();
}

class TextCollector {
  private readonly parts: string[] = [];
  private depth = 0;
  /** Depth of the element whose content is being skipped; 0 when none. */
  private skipping = 0;
  private preformatted = 0;
  private lineStart = true;
  private spaceEnded = false;
  private history = false;

  private readonly dropQuotes: boolean;

  constructor(dropQuotes: boolean) {
    this.dropQuotes = dropQuotes;
  }

  open(name: string, attribs: Record<string, string>): void {
    this.depth++;
    if (this.skipping || this.history) return;
    if (this.dropQuotes && HISTORY_IDS.has(attribs.id ?? '')) {
      this.history = true;
    } else if (this.skips(name, attribs)) {
      this.skipping = this.depth;
    } else if (name === 'br') {
      this.parts.push('\n');
      this.lineStart = true;
      this.spaceEnded = false;
    } else if (BLOCK_ELEMENTS.has(name)) {
      this.newLine();
      if (name === 'pre') this.preformatted++;
    } else if (name === 'td' || name === 'th') {
      this.add(' ');
    }
  }

  close(name: string): void {
    if (this.skipping === this.depth) this.skipping = 0;
    else if (!this.skipping && !this.history && BLOCK_ELEMENTS.has(name)) {
      this.newLine();
      if (name === 'pre') this.preformatted = Math.max(0, this.preformatted - 1);
    }
    this.depth--;
  }

  add(data: string): void {
    if (this.skipping || this.history) return;
    let text = this.preformatted ? data.replace(/\u00a0/g, ' ') : data.replace(/\s+/g, ' ');
    // Entities arrive as text pieces of their own, so collapsing has to span pieces.
    if (!this.preformatted && (this.lineStart || this.spaceEnded)) text = text.trimStart();
    if (text === '') return;
    this.parts.push(text);
    this.lineStart = text.endsWith('\n');
    this.spaceEnded = text.endsWith(' ');
  }

  toString(): string {
    return this.parts
      .join('')
      .split('\n')
      .map((line) => line.trimEnd())
      .join('\n');
  }

  private skips(name: string, attribs: Record<string, string>): boolean {
    if (NEVER_TEXT.has(name) && (this.dropQuotes || name !== 'head')) return true;
    if (HIDDEN.test(attribs.style ?? '')) return true; // preheaders and other text nobody sees
    if (!this.dropQuotes) return false;
    return name === 'blockquote' || attribs.id === 'OLK_SRC_BODY_SECTION' || QUOTE_CLASS.test(attribs.class ?? '');
  }

  private newLine(): void {
    if (this.lineStart) return;
    this.parts.push('\n');
    this.lineStart = true;
    this.spaceEnded = false;
  }
}
