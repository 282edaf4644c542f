// What a stored mail shows: HTML made safe to render, and the "visible" reply text with quoted
// history and signature removed. Pure functions without I/O; the worker stores their results.
//
// sanitize-html decides what HTML survives, email-reply-parser (crisp-oss's port of GitHub's
// parser) decides what is quote and signature. The code here configures them, adds the few
// patterns the mail samples showed they miss, and bounds their input: both have super-linear
// corners that a hostile mail can reach (see limitNesting and libraryParts).
import sanitize from 'sanitize-html';
import type { Attributes, IFrame, IOptions, Tag } from 'sanitize-html';
import EmailReplyParser from 'email-reply-parser';
// htmlparser2 is the parser sanitize-html itself uses (a dependency of it, not of ours).
import { Parser } from 'htmlparser2';

export interface SanitizeOptions {
  /** Maps a cid (without < >, case as in the mail) to the URL the stored attachment is served at; cid: links not in the map are dropped. */
  cidUrl?: (cid: string) => string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Nesting limit, shared by sanitizeHtml and visibleTextFromHtml
// ---------------------------------------------------------------------------------------------

/**
 * Deeper markup loses its tags, text stays. A long thread quoting itself in nested divs reached
 * 513 levels among the samples; this is only a bound on parsing cost (see Nesting).
 */
const MAX_PARSE_DEPTH = 1_000;
/** Sanitized output nests no deeper: browsers' HTML parsers (Blink) flatten below 512 anyway. */
const MAX_OUTPUT_DEPTH = 512;

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
function limitNesting(html: string): string {
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

// ---------------------------------------------------------------------------------------------
// sanitizeHtml
// ---------------------------------------------------------------------------------------------

const ALLOWED_TAGS = [
  'table',
  'thead',
  'tbody',
  'tfoot',
  'tr',
  'td',
  'th',
  'caption',
  'colgroup',
  'col',
  'ul',
  'ol',
  'li',
  'dl',
  'dt',
  'dd',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'blockquote',
  'pre',
  'code',
  'img',
  'a',
  'span',
  'div',
  'p',
  'br',
  'hr',
  'b',
  'i',
  'u',
  'strong',
  'em',
  'font',
  's',
  'strike',
  'sub',
  'sup',
  'small',
  'center',
];

// No class or id anywhere: the agent UI's own CSS and scripts must not be reachable from a
// mail (style hijacking, DOM clobbering through id/name).
const CELL = ['colspan', 'rowspan', 'valign', 'width', 'height', 'bgcolor', 'nowrap'];
const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  '*': ['style', 'dir', 'lang', 'title', 'align'],
  a: ['href', 'target', 'rel'],
  img: ['src', 'data-remote-src', 'alt', 'width', 'height'],
  font: ['color', 'face', 'size'],
  table: ['border', 'cellpadding', 'cellspacing', 'width', 'bgcolor'],
  tr: ['valign', 'bgcolor'],
  td: CELL,
  th: CELL,
  col: ['span', 'width'],
  colgroup: ['span', 'width'],
  ol: ['start', 'type'],
  li: ['value'],
};

// Content of these goes with the tag. <style> blocks are dropped whole: their rules would
// apply to the page around the mail, and filtering them needs a CSS parser we do not have.
const NON_TEXT_TAGS = [
  'script',
  'style',
  'textarea',
  'option',
  'select',
  'noscript',
  'title',
  'iframe',
  'object',
  'svg',
  'math',
  'template',
  'noembed',
  'noframes',
  'xmp',
];

// Style values are allowlisted whole, so url(), expression(), escapes and position cannot pass.
// Bounded quantifiers and tokens that cannot overlap keep these linear on hostile values; no
// negative lengths, which could pull content over the surrounding page like position could.
const LENGTH = String.raw`(?:\d{1,6}(?:\.\d{1,4})?|\.\d{1,4})(?:px|pt|pc|em|rem|ex|ch|%|cm|mm|in)?`;
const COLOR = String.raw`#[0-9a-f]{3,8}|rgba?\(\s{0,3}\d{1,3}%?(?:\s{0,3},\s{0,3}\d{1,3}%?){2}(?:\s{0,3},\s{0,3}(?:\d|\d?\.\d{1,4}))?\s{0,3}\)|[a-z]{3,24}`;
const BORDER_STYLE = 'none|hidden|solid|dashed|dotted|double|groove|ridge|inset|outset';
const FONT_NAME = String.raw`[\p{L}\p{N} ._-]`;

const whole = (source: string, flags = 'i'): RegExp => new RegExp(`^(?:${source})$`, flags);
const upTo = (max: number, item: string): RegExp => whole(`(?:${item})(?:\\s+(?:${item})){0,${max - 1}}`);

const COLOR_VALUE = whole(COLOR);
const SIZE_VALUE = whole(`${LENGTH}|auto`);
const BOX_VALUE = upTo(4, `${LENGTH}|auto`);
const BORDER_VALUE = upTo(3, `${LENGTH}|thin|medium|thick|${BORDER_STYLE}|${COLOR}`);

const ALLOWED_STYLES = new Map<string, RegExp>([
  ['color', COLOR_VALUE],
  ['background-color', COLOR_VALUE],
  ['background', COLOR_VALUE],
  // Quotes must pair up, so a value cannot open a string that runs into the next declaration.
  ['font-family', whole(`(?:${FONT_NAME}|,|"${FONT_NAME}*"|'${FONT_NAME}*')+`, 'u')],
  ['font-size', whole(`${LENGTH}|xx-small|x-small|small|medium|large|x-large|xx-large|smaller|larger`)],
  ['font-weight', whole('normal|bold|bolder|lighter|[1-9]00')],
  ['font-style', whole('normal|italic|oblique')],
  ['text-align', whole('left|right|center|justify|start|end')],
  ['text-decoration', upTo(3, 'none|underline|overline|line-through')],
  ['vertical-align', whole('baseline|top|middle|bottom|sub|super|text-top|text-bottom')],
  ['line-height', whole(`normal|${LENGTH}`)],
  ['width', SIZE_VALUE],
  ['min-width', SIZE_VALUE],
  ['max-width', SIZE_VALUE],
  ['height', SIZE_VALUE],
  ['border-collapse', whole('collapse|separate')],
  ['border-color', upTo(4, COLOR)],
  ['border-style', upTo(4, BORDER_STYLE)],
  ['border-width', upTo(4, `${LENGTH}|thin|medium|thick`)],
  ['border-radius', upTo(4, LENGTH)],
]);
for (const box of ['margin', 'padding']) {
  ALLOWED_STYLES.set(box, BOX_VALUE);
  for (const side of ['top', 'right', 'bottom', 'left']) ALLOWED_STYLES.set(`${box}-${side}`, SIZE_VALUE);
}
for (const side of ['', '-top', '-right', '-bottom', '-left']) ALLOWED_STYLES.set(`border${side}`, BORDER_VALUE);

/** Longer declarations are never needed for the allowed properties. */
const MAX_DECLARATION = 300;

/**
 * The style attribute reduced to allowed declarations. This replaces sanitize-html's
 * allowedStyles: that one runs postcss on every style attribute, ~9 µs each, which made a 5 MB
 * newsletter take 700 ms instead of 300. Splitting on ';' is safe here because every kept value
 * matches an allowlist that admits no ';', comment, escape or unpaired quote.
 */
function filterStyle(style: string, cache: Map<string, string>): string {
  let filtered = cache.get(style);
  if (filtered === undefined) {
    filtered = style.split(';').flatMap(allowedDeclaration).join(';');
    // Mail repeats the same few style attributes thousands of times.
    if (cache.size < 10_000) cache.set(style, filtered);
  }
  return filtered;
}

function allowedDeclaration(declaration: string): string[] {
  const colon = declaration.indexOf(':');
  if (colon === -1 || declaration.length > MAX_DECLARATION) return [];
  const property = declaration.slice(0, colon).trim().toLowerCase();
  const value = withoutImportant(declaration.slice(colon + 1).trim());
  return ALLOWED_STYLES.get(property)?.test(value) ? [`${property}:${value}`] : [];
}

/**
 * "red ! important" -> "red". Only the last '!' can be followed by nothing but "important", so
 * the pattern is tried there alone: /\s*!\s*important$/i started at every space of a run.
 */
function withoutImportant(value: string): string {
  const bang = value.lastIndexOf('!');
  return bang !== -1 && /^!\s*important$/i.test(value.slice(bang)) ? value.slice(0, bang).trimEnd() : value;
}

function withFilteredStyle(attribs: Attributes, cache: Map<string, string>): Attributes {
  const style = attribs.style;
  if (style === undefined) return attribs;
  const filtered = filterStyle(style, cache);
  if (filtered === '') delete attribs.style;
  else attribs.style = filtered;
  return attribs;
}

const LINK_PROTOCOLS: ReadonlySet<string> = new Set(['http:', 'https:', 'mailto:', 'tel:']);
const WEB_PROTOCOLS: ReadonlySet<string> = new Set(['http:', 'https:']);
const DATA_IMAGE = /^data:image\/(?:png|jpe?g|gif|webp);base64,[a-z0-9+/=\s]*$/i;
const CID = /^cid:/i;

/** Safe HTML to show an agent or customer: no scripts, event handlers, forms, iframes/objects/embeds, meta/base/link, style tags with remote imports, javascript:/vbscript:/data: URLs (except data:image/png|jpeg|gif|webp in img src), no remote-resource tricks (remote images are kept as <img data-remote-src="..."> without src so nothing loads until a viewer chooses to), CSS limited to a safe inline subset (colors, fonts, text alignment/decoration, margins/padding, borders, widths) with no url(), expression(), or position:fixed/absolute. Links get rel="noopener noreferrer nofollow" and target="_blank". Tables, lists, headings, blockquote, pre/code, img, a, span/div/p/br/hr, b/i/u/strong/em, font (color/face/size) are kept. */
export function sanitizeHtml(html: string, options: SanitizeOptions = {}): string {
  return sanitize(limitNesting(html), sanitizerOptions(options.cidUrl));
}

function sanitizerOptions(cidUrl: SanitizeOptions['cidUrl']): IOptions {
  const styles = new Map<string, string>();
  return {
    allowedTags: ALLOWED_TAGS,
    allowedAttributes: ALLOWED_ATTRIBUTES,
    // Styles are filtered by the '*' transform (filterStyle), which runs on every tag.
    parseStyleAttributes: false,
    allowedSchemes: ['http', 'https', 'mailto', 'tel'],
    // data: only for the image types imageAttributes lets through; http(s) only for cidUrl results.
    allowedSchemesByTag: { img: ['http', 'https', 'data'] },
    allowProtocolRelative: false,
    nonTextTags: NON_TEXT_TAGS,
    nestingLimit: MAX_OUTPUT_DEPTH,
    transformTags: {
      a: (tagName, attribs): Tag => ({ tagName, attribs: linkAttributes(attribs, cidUrl) }),
      img: (tagName, attribs): Tag => ({ tagName, attribs: imageAttributes(attribs, cidUrl) }),
      '*': (tagName, attribs): Tag => ({ tagName, attribs: withFilteredStyle(attribs, styles) }),
    },
    // An image left with nothing to show (unknown cid, javascript: src, ...) goes entirely.
    exclusiveFilter: (frame: IFrame) => frame.tag === 'img' && !frame.attribs.src && !frame.attribs['data-remote-src'],
  };
}

// The transforms below change the attribute object in place: htmlparser2 makes a fresh one per
// tag, and on a 5 MB newsletter copying them was a tenth of the time.
function linkAttributes(attribs: Attributes, cidUrl: SanitizeOptions['cidUrl']): Attributes {
  const href = (attribs.href ?? '').trim();
  delete attribs.href;
  // Relative links are dropped too: in a mail they would point into our own application.
  const target = CID.test(href) ? attachmentUrl(href, cidUrl) : absoluteUrl(href, LINK_PROTOCOLS);
  if (target !== undefined) attribs.href = target;
  attribs.target = '_blank';
  attribs.rel = 'noopener noreferrer nofollow';
  return attribs;
}

function imageAttributes(attribs: Attributes, cidUrl: SanitizeOptions['cidUrl']): Attributes {
  const src = (attribs.src ?? '').trim();
  delete attribs.src;
  delete attribs['data-remote-src']; // only ever set below, from a checked URL
  if (CID.test(src)) {
    const url = attachmentUrl(src, cidUrl);
    if (url !== undefined) attribs.src = url;
  } else if (DATA_IMAGE.test(src)) {
    attribs.src = src;
  } else {
    // A remote image would tell the sender when and where the mail is read (tracking pixels),
    // so it keeps its address in data-remote-src without src: nothing loads until a viewer
    // chooses to show remote images, and the UI copies it into src then.
    const remote = absoluteUrl(src.startsWith('//') ? `https:${src}` : src, WEB_PROTOCOLS);
    if (remote !== undefined) attribs['data-remote-src'] = remote;
  }
  return attribs;
}

/** cid:... through the caller's map; RFC 2392 cids may be %-encoded, so the decoded form is tried too. */
function attachmentUrl(value: string, cidUrl: SanitizeOptions['cidUrl']): string | undefined {
  const cid = value.slice(4).trim();
  if (!cid || !cidUrl) return undefined;
  return cidUrl(cid) ?? (cid.includes('%') ? cidUrl(decodeOrSelf(cid)) : undefined);
}

function decodeOrSelf(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The URL as the browser will read it (the WHATWG parser strips the tabs, newlines and control
 * characters used to hide "javascript:"), or undefined unless absolute with an allowed protocol.
 */
function absoluteUrl(value: string, protocols: ReadonlySet<string>): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined; // relative or not a URL
  }
  return protocols.has(url.protocol) ? url.href : undefined;
}

// ---------------------------------------------------------------------------------------------
// visibleText
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// visibleTextFromHtml
// ---------------------------------------------------------------------------------------------

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
