// HTML from mail made safe to show an agent or a customer. A pure function without I/O.
//
// sanitize-html decides what HTML survives. The code here configures it, filters style
// attributes itself (filterStyle), and bounds its input: sanitize-html has super-linear corners
// that a hostile mail can reach (see limitNesting in nesting.ts).
import sanitize from 'sanitize-html';
import type { Attributes, IFrame, IOptions, Tag } from 'sanitize-html';
import { limitNesting } from './nesting.ts';

export interface SanitizeOptions {
  /** Maps a cid (without < >, case as in the mail) to the URL the stored attachment is served at; cid: links not in the map are dropped. */
  cidUrl?: (cid: string) => string | undefined;
}

/** Sanitized output nests no deeper: browsers' HTML parsers (Blink) flatten below 512 anyway. */
const MAX_OUTPUT_DEPTH = 512;

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
