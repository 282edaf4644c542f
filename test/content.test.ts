// Message content: sanitized HTML (XSS cases, remote resources, cid: images), the visible part
// of replies (unit cases and the shared reply samples), and time bounds on huge and hostile input.
import fs from 'node:fs';
import path from 'node:path';
import { Parser } from 'htmlparser2';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { sanitizeHtml } from '../src/mail/index.ts';
import { visibleText } from '../src/inbound/visible-text.ts';
import { visibleTextFromHtml } from '../src/inbound/html-text.ts';

const ATTACHMENTS: Record<string, string> = {
  'logo@example.com': '/attachments/17/logo.png',
  'Image001.PNG@01D2': '/attachments/17/image001.png',
};
const cidUrl = (cid: string): string | undefined => ATTACHMENTS[cid];
const clean = (html: string): string => sanitizeHtml(html, { cidUrl });

const SAFE_TAGS = new Set([
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
]);
const SAFE_SRC = /^(?:\/attachments\/|data:image\/(?:png|jpe?g|gif|webp);base64,)/;

/** What in sanitized output could run code or load something, read back with a parser. */
function unsafeParts(html: string): string[] {
  const found: string[] = [];
  const parser = new Parser({
    onopentag(name, attribs) {
      if (!SAFE_TAGS.has(name)) found.push(`<${name}>`);
      for (const [attr, value] of Object.entries(attribs)) {
        if (attr.startsWith('on')) found.push(`${name} ${attr}`);
        if (attr === 'href' && !/^(?:https?:|mailto:|tel:|\/attachments\/)/i.test(value)) found.push(`href=${value}`);
        if (attr === 'src' && !SAFE_SRC.test(value)) found.push(`src=${value}`);
        if (attr === 'data-remote-src' && !/^https?:\/\//.test(value)) found.push(`data-remote-src=${value}`);
        if (attr === 'style' && /url|expression|position|import|behavior|binding|\\/i.test(value))
          found.push(`style=${value}`);
        if (['id', 'class', 'name', 'srcset', 'background', 'action', 'formaction'].includes(attr))
          found.push(`${name} ${attr}`);
      }
      if (name === 'a' && (attribs.target !== '_blank' || attribs.rel !== 'noopener noreferrer nofollow')) {
        found.push(`a without target/rel: ${JSON.stringify(attribs)}`);
      }
    },
  });
  parser.write(html);
  parser.end();
  return found;
}

interface XssCase {
  name: string;
  html: string;
  /** Substrings (lower case) that must not survive. */
  absent?: string[];
  /** Substrings that must survive. */
  present?: string[];
}

const XSS_CASES: XssCase[] = [
  {
    name: 'script element',
    html: '<p>hi</p><script>alert(1)</script>',
    absent: ['script', 'alert'],
    present: ['<p>hi</p>'],
  },
  {
    name: 'script with odd case and attributes',
    html: '<ScRiPt type="text/javascript">alert(1)</sCrIpT>ok',
    absent: ['script', 'alert'],
    present: ['ok'],
  },
  {
    name: 'img onerror with relative src',
    html: '<img src=x onerror=alert(1)>text',
    absent: ['onerror', '<img', 'alert'],
    present: ['text'],
  },
  {
    name: 'onclick on a div',
    html: '<div onclick="alert(1)" onmouseover="alert(2)">x</div>',
    absent: ['onclick', 'onmouseover', 'alert'],
    present: ['<div>x</div>'],
  },
  { name: 'javascript: href', html: '<a href="javascript:alert(1)">x</a>', absent: ['javascript', 'href'] },
  { name: 'javascript: href, mixed case', html: '<a href="JaVaScRiPt:alert(1)">x</a>', absent: ['javascript', 'href'] },
  {
    name: 'javascript: href, entity-encoded letters',
    html: '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    absent: ['javascript', 'href', 'alert'],
  },
  {
    name: 'javascript: href, hex entities without semicolons',
    html: '<a href="&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A;alert(1)">x</a>',
    absent: ['href', 'alert'],
  },
  {
    name: 'javascript: href, tab and newline inside',
    html: '<a href="jav&#x09;ascript:alert(1)">a</a><a href="java\nscript:alert(2)">b</a><a href="java&NewLine;script:alert(3)">c</a>',
    absent: ['href', 'alert'],
  },
  {
    name: 'javascript: href, leading whitespace and control characters',
    html: '<a href=" &#14; javascript:alert(1)">x</a><a href="\u0001javascript:alert(2)">y</a>',
    absent: ['href', 'alert'],
  },
  {
    name: 'javascript: href, &colon; entity',
    html: '<a href="javascript&colon;alert(1)">x</a>',
    absent: ['href', 'alert'],
  },
  { name: 'vbscript: href', html: '<a href="vbscript:msgbox(1)">x</a>', absent: ['vbscript', 'href'] },
  {
    name: 'data: href',
    html: '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    absent: ['data:', 'href'],
  },
  {
    name: 'relative and protocol-relative hrefs point into our app',
    html: '<a href="/logout">a</a><a href="//evil.example/x">b</a>',
    absent: ['href'],
  },
  {
    name: 'svg onload',
    html: '<svg onload="alert(1)"><circle r="5"/></svg>after',
    absent: ['svg', 'onload', 'alert'],
    present: ['after'],
  },
  {
    name: 'svg with script and a link',
    html: '<svg><script>alert(1)</script><a xlink:href="javascript:alert(2)"><text>t</text></a></svg>ok',
    absent: ['svg', 'script', 'alert', 'xlink'],
    present: ['ok'],
  },
  {
    name: 'math mutation',
    html: '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    absent: ['math', 'onerror', 'alert', 'style'],
  },
  {
    name: 'noscript mutation',
    html: '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    absent: ['onerror', 'alert', 'noscript'],
  },
  {
    name: 'form with inputs',
    html: '<form action="https://evil.example/steal" method="post"><input name="password" type="password"><button formaction="https://evil.example">Send</button></form>',
    absent: ['form', 'input', 'button', 'evil.example'],
    present: ['Send'],
  },
  {
    name: 'iframe',
    html: '<iframe src="https://evil.example/"></iframe><iframe srcdoc="<script>alert(1)</script>"></iframe>x',
    absent: ['iframe', 'evil', 'srcdoc', 'alert'],
    present: ['x'],
  },
  {
    name: 'object and embed',
    html: '<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/y.swf">z',
    absent: ['object', 'embed', 'evil'],
    present: ['z'],
  },
  {
    name: 'meta refresh',
    html: '<meta http-equiv="refresh" content="0;url=https://evil.example/">text',
    absent: ['meta', 'refresh', 'evil'],
    present: ['text'],
  },
  {
    name: 'base href',
    html: '<base href="https://evil.example/"><a href="https://ok.example/">ok</a>',
    absent: ['base', 'evil'],
    present: ['https://ok.example/'],
  },
  {
    name: 'link stylesheet and prefetch',
    html: '<link rel="stylesheet" href="https://evil.example/x.css"><link rel="dns-prefetch" href="//evil.example">t',
    absent: ['link', 'evil'],
  },
  {
    name: 'style element with @import',
    html: '<style>@import url(https://evil.example/x.css); p { color: red }</style><p>t</p>',
    absent: ['style', 'import', 'evil', 'url('],
  },
  {
    name: 'style attribute with url()',
    html: '<div style="background:url(https://evil.example/p.gif);color:red">t</div>',
    absent: ['url', 'evil', 'background:'],
    present: ['color:red'],
  },
  {
    name: 'style attribute with background-image and escapes',
    html: '<div style="background-image:url(x);color:#00f;background:\\75rl(x)">t</div>',
    absent: ['url', 'background-image', '\\75'],
    present: ['color:#00f'],
  },
  {
    name: 'style attribute with expression() and behavior',
    html: '<p style="width:expression(alert(1));behavior:url(x.htc);-moz-binding:url(x.xml#x)">t</p>',
    absent: ['expression', 'alert', 'behavior', 'binding', 'style='],
  },
  {
    name: 'style attribute with position fixed/absolute',
    html: '<div style="position:fixed;top:0;left:0;z-index:9999">a</div><div style="position:absolute">b</div>',
    absent: ['position', 'z-index', 'top:'],
  },
  {
    name: 'negative margins cannot overlay the page',
    html: '<div style="margin-top:-400px;color:red">t</div>',
    absent: ['margin'],
    present: ['color:red'],
  },
  {
    name: 'style comment cannot hide a declaration',
    html: '<p style="color:red/*;background:url(x)*/">t</p>',
    absent: ['url', 'background', 'style='],
  },
  {
    name: 'unpaired quote in font-family',
    html: '<p style="font-family:&quot;Arial;color:red">t</p>',
    absent: ['font-family'],
    present: ['color:red'],
  },
  {
    name: 'remote image becomes data-remote-src',
    html: '<img src="http://tracker.example/p.gif?u=1" width="1" height="1" alt="">',
    absent: [' src='],
    present: ['data-remote-src="http://tracker.example/p.gif?u=1"'],
  },
  {
    name: 'protocol-relative image is remote too',
    html: '<img src="//tracker.example/p.gif">',
    absent: [' src='],
    present: ['data-remote-src="https://tracker.example/p.gif"'],
  },
  {
    name: 'image srcset, lowsrc and table background',
    html: '<img src="cid:logo@example.com" srcset="https://tracker.example/a.png 1x" lowsrc="https://tracker.example/b.png"><table background="https://tracker.example/bg.png"><tr><td>x</td></tr></table>',
    absent: ['srcset', 'lowsrc', 'background', 'tracker'],
  },
  {
    name: 'a mail cannot bring its own data-remote-src',
    html: '<img src="cid:nope" data-remote-src="javascript:alert(1)">',
    absent: ['<img', 'javascript', 'alert'],
  },
  {
    name: 'cid image through cidUrl',
    html: '<img src="cid:logo@example.com" alt="Logo">',
    present: ['src="/attachments/17/logo.png"', 'alt="Logo"'],
  },
  {
    name: 'cid keeps its case',
    html: '<img src="cid:Image001.PNG@01D2">',
    present: ['src="/attachments/17/image001.png"'],
  },
  {
    name: 'unknown cid image is dropped',
    html: 'a<img src="cid:unknown@example.com">b',
    absent: ['<img', 'cid:'],
    present: ['ab'],
  },
  {
    name: 'cid link through cidUrl, unknown cid link loses href',
    html: '<a href="cid:logo@example.com">file</a><a href="cid:missing">gone</a>',
    absent: ['cid:'],
    present: ['href="/attachments/17/logo.png"', 'gone'],
  },
  {
    name: 'data: image of an allowed type stays',
    html: '<img src="data:image/png;base64,iVBORw0KGgo=">',
    present: ['src="data:image/png;base64,iVBORw0KGgo="'],
  },
  {
    name: 'data: svg image and data: html image are dropped',
    html: '<img src="data:image/svg+xml;base64,PHN2Zz4="><img src="data:text/html,<script>alert(1)</script>">',
    absent: ['<img', 'svg', 'alert'],
  },
  {
    name: 'target and rel cannot be chosen by the mail',
    html: '<a href="https://ok.example/" target="_self" rel="opener" onclick="x()">ok</a>',
    absent: ['_self', 'opener"', 'onclick'],
    present: ['target="_blank"', 'rel="noopener noreferrer nofollow"'],
  },
  {
    name: 'id, class and name are dropped',
    html: '<div id="app" class="btn-danger"><img name="getElementById" src="cid:logo@example.com"><a name="x" href="https://ok.example/">ok</a></div>',
    absent: ['id=', 'class=', 'name='],
  },
  {
    name: 'textarea and select content goes',
    html: '<textarea><img src=x onerror=alert(1)></textarea><select><option>&lt;script&gt;</option></select>t',
    absent: ['textarea', 'onerror', 'alert', 'option', 'script'],
    present: ['t'],
  },
  {
    name: 'entity-encoded markup stays text',
    html: '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>',
    absent: ['<script'],
    present: ['&lt;script&gt;'],
  },
  {
    name: 'unclosed attribute quote',
    html: '<a href="https://ok.example/ onclick="alert(1)">x</a><img src="x" onerror="alert(2)',
    absent: ['onerror', '<img'],
  },
];

describe('sanitizeHtml', () => {
  it.each(XSS_CASES)('$name', ({ html, absent = [], present = [] }) => {
    const out = clean(html);
    expect(unsafeParts(out)).toEqual([]);
    for (const text of absent) expect(out.toLowerCase()).not.toContain(text);
    for (const text of present) expect(out).toContain(text);
  });

  it('keeps tables, lists, headings, quotes and code', () => {
    const html =
      '<h2>Order</h2><table border="1" cellpadding="4"><tr><th colspan="2">Items</th></tr>' +
      '<tr><td valign="top">Tea</td><td align="right">2</td></tr></table>' +
      '<ul><li>one</li></ul><ol start="3"><li>three</li></ol><blockquote>quoted</blockquote>' +
      '<pre><code>let x = 1;</code></pre><p><b>b</b><i>i</i><u>u</u><strong>s</strong><em>e</em><br><span>s</span></p><hr>';
    const out = clean(html);
    expect(unsafeParts(out)).toEqual([]);
    for (const part of [
      '<h2>Order</h2>',
      '<table border="1" cellpadding="4">',
      '<th colspan="2">Items</th>',
      '<td valign="top">Tea</td>',
      '<td align="right">2</td>',
      '<ul><li>one</li></ul>',
      '<ol start="3">',
      '<blockquote>quoted</blockquote>',
      '<pre><code>let x = 1;</code></pre>',
      '<b>b</b><i>i</i><u>u</u><strong>s</strong><em>e</em><br />',
      '<hr />',
    ])
      expect(out).toContain(part);
  });

  it('keeps links with rel and target added', () => {
    const out = clean(
      '<a href="https://example.com/a?b=1&amp;c=2" title="t">site</a> <a href="mailto:help@example.com">mail</a> <a href="tel:+4930123">call</a>',
    );
    expect(out).toContain('href="https://example.com/a?b=1&amp;c=2"');
    expect(out).toContain('title="t"');
    expect(out.match(/ target="_blank" rel="noopener noreferrer nofollow">/g)).toHaveLength(3);
    expect(out).toContain('href="mailto:help@example.com"');
    expect(out).toContain('href="tel:+4930123"');
  });

  it('keeps inline colors, fonts, alignment, spacing, borders and widths', () => {
    const out = clean(
      '<p style="color:#ff0000;background-color:rgb(255, 255, 0);font-family:&quot;Segoe UI&quot;, Arial, sans-serif;' +
        'font-size:14px;font-weight:bold;text-align:center;text-decoration:underline;margin:0 auto;padding:4px 8px;' +
        'border:1px solid #cccccc;width:100%;max-width:600px;color:red !important">x</p>' +
        '<font color="red" face="Arial" size="3">f</font>',
    );
    expect(out).toContain(
      'style="color:#ff0000;background-color:rgb(255, 255, 0);font-family:&quot;Segoe UI&quot;, Arial, sans-serif;' +
        'font-size:14px;font-weight:bold;text-align:center;text-decoration:underline;margin:0 auto;padding:4px 8px;' +
        'border:1px solid #cccccc;width:100%;max-width:600px;color:red"',
    );
    expect(out).toContain('<font color="red" face="Arial" size="3">f</font>');
  });

  it('returns text for text and nothing for nothing', () => {
    expect(clean('')).toBe('');
    expect(clean('plain & simple < 3')).toBe('plain &amp; simple &lt; 3');
  });
});

describe('visibleText', () => {
  const cases: Array<{ name: string; text: string; visible: string }> = [
    {
      name: 'On ... wrote: with > quote',
      text: 'Thanks, that works.\n\nOn Mon, 3 Jun 2024 at 10:00, Support <help@example.com> wrote:\n> Try turning it off and on.\n> Support',
      visible: 'Thanks, that works.',
    },
    {
      name: 'CRLF line ends',
      text: 'Thanks.\r\n\r\nOn Mon, 3 Jun 2024 at 10:00, Support <help@example.com> wrote:\r\n> Hi\r\n',
      visible: 'Thanks.',
    },
    {
      name: 'Outlook original message',
      text: 'Please cancel it.\n\n-----Original Message-----\nFrom: Shop <shop@example.com>\nSent: Monday, June 3, 2024 10:00 AM\nTo: Me\nSubject: Order\n\nYour order',
      visible: 'Please cancel it.',
    },
    {
      name: 'Outlook From/Sent block without separator',
      text: 'Yes please.\n\n________________________________\nFrom: Shop <shop@example.com>\nSent: Monday, June 3, 2024 10:00 AM\nTo: Me <me@example.com>\nSubject: Order\n\nYour order',
      visible: 'Yes please.',
    },
    {
      name: 'Outlook block in bold after HTML conversion',
      text: 'Yes.\n\n*From:* Shop [mailto:shop@example.com]\n*Sent:* Monday, June 3, 2024 10:00 AM\n*Subject:* Order\n\nYour order',
      visible: 'Yes.',
    },
    {
      name: 'German Outlook block',
      text: 'Danke!\n\nVon: Shop <shop@example.com>\nGesendet: Montag, 3. Juni 2024 10:00\nAn: Ich\nBetreff: Bestellung\n\nIhre Bestellung',
      visible: 'Danke!',
    },
    {
      name: 'forwarded message',
      text: 'See below.\n\n---------- Forwarded message ---------\nFrom: A <a@example.com>\nDate: Mon, Jun 3, 2024\nSubject: x\n\nbody',
      visible: 'See below.',
    },
    {
      name: 'signature after "-- "',
      text: 'The printer is broken.\n\n-- \nJane Doe\nACME Inc.',
      visible: 'The printer is broken.',
    },
    { name: 'Sent from my iPhone', text: 'On my way.\n\nSent from my iPhone', visible: 'On my way.' },
    {
      name: 'attribution wrapped over two lines',
      text: 'Sure.\n\nOn Mon, Aug 26, 2019 at 4:37 PM The Hiring Engine <\nlong-address@example.com> wrote:\n\n> Test',
      visible: 'Sure.',
    },
    {
      name: 'attribution the library does not know, followed by a quote',
      text: 'Thank you!\n\n2013.02.08. 7:31 keltezéssel, "Eszter" írta:\n> I really like it',
      visible: 'Thank you!',
    },
    {
      name: 'attribution followed by unquoted history',
      text: 'Fine.\n\nAt 6/16/2016 08:32 PM, you wrote:\nThe earlier mail, not quoted.',
      visible: 'Fine.',
    },
    {
      name: 'inline reply keeps the quotes answered',
      text: '> Can you come?\n\nYes.\n\n> At ten?\n\nAt eleven.\n\n> Bye\n',
      visible: '> Can you come?\n\nYes.\n\n> At ten?\n\nAt eleven.',
    },
    {
      name: '"I wrote:" in own text is not an attribution',
      text: 'Here is what I wrote:\n\nthe summary',
      visible: 'Here is what I wrote:\n\nthe summary',
    },
    { name: 'only a quote falls back to the whole text', text: '> just a quote\n', visible: '> just a quote' },
    { name: 'whitespace only', text: ' \n\t\n', visible: '' },
    { name: 'trailing separator lines go', text: 'Hello\n\nᐧ\n--\nsig', visible: 'Hello' },
    {
      name: 'our reply marker, quoted under an attribution',
      text: 'Thanks, that worked!\n\nOn Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:\n> ##- Please type your reply above this line -##\n>\n> Hello Jane,\n> restart it.\n',
      visible: 'Thanks, that worked!',
    },
    {
      name: 'our reply marker, not quoted (German)',
      text: 'Danke!\n\n##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##\n\nHallo Jane,\nbitte neu starten.\n',
      visible: 'Danke!',
    },
    {
      name: 'marker-like text inside a line is kept',
      text: 'Just text\nwith ##- inline -## marker inside a line',
      visible: 'Just text\nwith ##- inline -## marker inside a line',
    },
  ];
  it.each(cases)('$name', ({ text, visible }) => {
    expect(visibleText(text)).toBe(visible);
  });

  it('keeps long lines (which the library only sees as placeholders)', () => {
    const long = `Intro ${'word '.repeat(300)}end`;
    expect(visibleText(`${long}\n\nOn Mon, 3 Jun 2024, A <a@example.com> wrote:\n> q`)).toBe(long);
  });

  it('reads past the library budget and still cuts at quoted history and "-- "', () => {
    const body = Array.from({ length: 400 }, (_, i) => `Line ${i} of a long report.`).join('\n');
    expect(visibleText(`${body}\n\n-----Original Message-----\nFrom: x`)).toBe(body);
    expect(visibleText(`${body}\n-- \nJane`)).toBe(body);
  });
});

describe('visibleTextFromHtml', () => {
  const cases: Array<{ name: string; html: string; visible: string }> = [
    {
      name: 'Gmail quote',
      html: '<div dir="ltr">Thanks!<br></div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, A &lt;a@example.com&gt; wrote:<br></div><blockquote class="gmail_quote">Hi</blockquote></div>',
      visible: 'Thanks!',
    },
    {
      name: 'blockquote',
      html: '<p>Agreed.</p><blockquote type="cite"><p>Shall we?</p></blockquote>',
      visible: 'Agreed.',
    },
    {
      name: 'Thunderbird',
      html: '<p>Yes</p><div class="moz-cite-prefix">On 03.06.24 10:00, A wrote:<br></div><blockquote type="cite">q</blockquote>',
      visible: 'Yes',
    },
    {
      name: 'Outlook web divRplyFwdMsg: the rest is history',
      html: '<div>Done.</div><hr><div id="divRplyFwdMsg"><b>From:</b> Shop<br><b>Sent:</b> Monday</div><div>Your order shipped.</div>',
      visible: 'Done.',
    },
    {
      name: 'Outlook for Mac',
      html: '<div>Reply</div><span id="OLK_SRC_BODY_SECTION"><div>From: A</div><div>Earlier</div></span>',
      visible: 'Reply',
    },
    {
      name: 'Outlook desktop header block in text',
      html: '<p class="MsoNormal">Ok<o:p></o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt"><p><b>From:</b> Shop &lt;shop@example.com&gt;<br><b>Sent:</b> Monday<br><b>To:</b> Me<br><b>Subject:</b> Order</p></div><p>Your order</p>',
      visible: 'Ok',
    },
    {
      name: 'line breaks of br, p, div and li; entities; nbsp',
      html: '<p>a&amp;b</p><div>c&nbsp;&nbsp;d<br>e</div><ul><li>f</li><li>g</li></ul>h &lt;3',
      visible: 'a&b\nc d\ne\nf\ng\nh <3',
    },
    {
      name: 'head, style, script and hidden text dropped',
      html: '<html><head><title>T</title><style>p{}</style></head><body><span style="display:none">preheader</span><script>x()</script><p>Body</p></body></html>',
      visible: 'Body',
    },
    { name: 'pre keeps its lines', html: '<pre>a\n  b</pre>', visible: 'a\n  b' },
    {
      name: 'a bare forward falls back to the quoted content',
      html: '<blockquote>Forwarded text</blockquote>',
      visible: 'Forwarded text',
    },
  ];
  it.each(cases)('$name', ({ html, visible }) => {
    expect(visibleTextFromHtml(html)).toBe(visible);
  });
});

// ---------------------------------------------------------------------------------------------
// The shared reply samples (see ../shared/mail-samples/README.md and INDEX.tsv)
// ---------------------------------------------------------------------------------------------

const SAMPLES = process.env.MAIL_SAMPLES ?? path.resolve(import.meta.dirname, '../../shared/mail-samples');
const INDEX = path.join(SAMPLES, 'INDEX.tsv');

interface Sample {
  file: string;
  source: string;
  notes: string;
}

function replySamples(): Sample[] {
  const rows = fs.readFileSync(INDEX, 'utf8').split('\n').slice(1);
  return rows
    .map((row) => row.split('\t'))
    .filter((cols) => cols[1] === 'replies' && cols[6] !== 'expected')
    .map((cols) => ({ file: path.join(SAMPLES, cols[0] ?? ''), source: cols[2] ?? '', notes: cols[5] ?? '' }));
}

const normalise = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** Lines that start quoted history, written independently of content.ts's own rules. */
const QUOTE_HEADER = new RegExp(
  String.raw`^\s*(?:-*\s*On\s.*wrote:?|.*\s(?:wrote|écrit|escribió|scritto|escreveu|schrieb|schreef|skrev|kirjoitti|napisał\(a\)|írta|написал)\s*:` +
    String.raw`|-{2,}\s*(?:original message|forwarded message|ursprüngliche nachricht|message d'origine|oprindelig besked)\s*-*` +
    String.raw`|\*?(?:from|von|de)\s?:\*?\s.*[<\[@].*)\s*$`,
  'i',
);

/**
 * For sources whose expectations live in their own test code: the visible text is not empty,
 * its lines come from the input in order, and none of them is a quote header.
 */
function plausibleProblems(input: string, visible: string): string[] {
  if (visible.trim() === '') return ['empty'];
  const source = input
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => normalise(line));
  const problems: string[] = [];
  let at = 0;
  for (const line of visible
    .split('\n')
    .map((l) => normalise(l))
    .filter((l) => l !== '')) {
    const found = source.indexOf(line, at);
    if (found === -1) problems.push(`not from the input in order: ${line.slice(0, 80)}`);
    else at = found + 1;
    if (QUOTE_HEADER.test(line)) problems.push(`quote header: ${line.slice(0, 80)}`);
  }
  return problems;
}

describe.skipIf(!fs.existsSync(INDEX))('visible text of the shared reply samples', () => {
  const samples = fs.existsSync(INDEX) ? replySamples() : [];
  const from = (repo: string): Sample[] => samples.filter((s) => s.source === repo);

  // Failing at the time of writing (22 of 26 match):
  // - embedded_email_17: starts with an attribution line above unquoted text; we keep it all.
  // - embedded_email_2: "Best Regards" is a signature to email-reply-parser, not to the trimmer.
  // - forwarded_message, spam_1: nothing is left after stripping, so the whole text is returned
  //   (our contract), where the trimmer returns the forwarded body / nothing.
  it('email_reply_trimmer: at least 80% match X.trimmed.txt', () => {
    const bodies = from('discourse/email_reply_trimmer');
    expect(bodies.length).toBeGreaterThan(20);
    const failed = bodies
      .filter((s) => {
        const expected = fs.readFileSync(s.file.replace(/\.txt$/, '.trimmed.txt'), 'utf8');
        return normalise(visibleText(fs.readFileSync(s.file, 'utf8'))) !== normalise(expected);
      })
      .map((s) => path.basename(s.file));
    expect((bodies.length - failed.length) / bodies.length, `failed: ${failed.join(', ')}`).toBeGreaterThanOrEqual(0.8);
  });

  it('talon: the visible reply of each message, from its text and from its HTML part', async () => {
    const messages = from('mailgun/talon');
    expect(messages.length).toBeGreaterThan(0);
    for (const sample of messages) {
      const mail = await simpleParser(fs.readFileSync(sample.file), { skipHtmlToText: true, keepCidLinks: true });
      const replyFile = sample.file.replace(/\.eml$/, '_reply_text');
      const expected = fs.existsSync(replyFile)
        ? fs.readFileSync(replyFile, 'utf8')
        : /expected visible reply: '([^']*)'/.exec(sample.notes)?.[1];
      const visible = [
        ...(mail.text ? [visibleText(mail.text)] : []),
        ...(typeof mail.html === 'string' ? [visibleTextFromHtml(mail.html)] : []),
      ];
      expect(visible.length, sample.file).toBeGreaterThan(0);
      for (const text of visible) {
        if (expected !== undefined) expect(normalise(text), sample.file).toBe(normalise(expected));
        // No stated reply (the shared-block case): talon's test asks for text without "From".
        else expect([text.trim() !== '', text.includes('From')], sample.file).toEqual([true, false]);
      }
    }
  });

  it.each([['github/email_reply_parser'], ['zapier/email-reply-parser'], ['crisp-oss/email-reply-parser']])(
    '%s: visible text is a non-empty part of the input without quote headers',
    (repo) => {
      const bodies = from(repo);
      expect(bodies.length).toBeGreaterThan(0);
      const problems = bodies.flatMap((s) => {
        const input = fs.readFileSync(s.file, 'utf8');
        return plausibleProblems(input, visibleText(input)).map((p) => `${path.basename(s.file)}: ${p}`);
      });
      expect(problems).toEqual([]);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Size and hostile input: everything stays (close to) linear
// ---------------------------------------------------------------------------------------------

/** Generous for CI noise: on the 2-core development machine each call took 5-500 ms. */
const BOUND_MS = 3_000;

function timed<T>(work: () => T): { result: T; ms: number } {
  const start = performance.now();
  const result = work();
  return { result, ms: performance.now() - start };
}

function newsletter(bytes: number): string {
  const parts = ['<html><head><style>p{margin:0}</style></head><body><table>'];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const row =
      `<tr><td style="padding:8px 12px;font-family:Arial,sans-serif;font-size:14px;color:#333333;border-bottom:1px solid #eeeeee">` +
      `<p style="margin:0 0 8px 0">Paragraph ${i} with <a href="https://example.com/item/${i}?utm=1" style="color:#0066cc">a link</a>` +
      ` &amp; <b>bold</b> text&nbsp;and an image <img src="https://cdn.example.com/img/${i}.png" width="20" height="20" alt=""></p></td></tr>\n`;
    parts.push(row);
    size += row.length;
  }
  parts.push('</table></body></html>');
  return parts.join('');
}

function maxDepth(html: string): number {
  let depth = 0;
  let max = 0;
  const parser = new Parser({
    onopentag: () => (max = Math.max(max, ++depth)),
    onclosetag: () => depth--,
  });
  parser.write(html);
  parser.end();
  return max;
}

describe('performance on large and hostile input', () => {
  const big = newsletter(5 * 1024 * 1024);
  const links = `<div>${Array.from({ length: 2_000 }, (_, i) => `<p><a href="https://example.com/${i}">Link ${i}</a></p>`).join('')}</div>`;

  it.each([
    ['a 5 MB HTML newsletter', big],
    ['a mail with 2,000 links', links],
  ])('%s: sanitizeHtml and visibleTextFromHtml finish in time', (_, html) => {
    const sanitized = timed(() => sanitizeHtml(html));
    expect(sanitized.ms).toBeLessThan(BOUND_MS);
    expect(sanitized.result).toContain('rel="noopener noreferrer nofollow"');
    const text = timed(() => visibleTextFromHtml(html));
    expect(text.ms).toBeLessThan(BOUND_MS);
    expect(text.result).toMatch(/^Paragraph 0 with a link & bold text and an image|^Link 0\nLink 1/);
  });

  it('100,000 nested tags: sanitized output is capped in depth, text survives', () => {
    const nested = `${'<div>'.repeat(100_000)}deep${'</div>'.repeat(100_000)}`;
    const sanitized = timed(() => sanitizeHtml(nested));
    expect(sanitized.ms).toBeLessThan(BOUND_MS);
    expect(sanitized.result).toContain('deep');
    expect(maxDepth(sanitized.result)).toBeLessThanOrEqual(512);
    const text = timed(() => visibleTextFromHtml(nested));
    expect(text.ms).toBeLessThan(BOUND_MS);
    expect(text.result).toBe('deep');
  });

  it.each([
    ['100,000 unclosed <b>', `${'<b>'.repeat(100_000)}x`],
    ['100,000 self-closed <div/> (open in HTML)', `${'<div/>'.repeat(100_000)}x`],
    ['100,000 end tags that close nothing', `${'<div>'.repeat(200)}${'</span>'.repeat(100_000)}`],
    ['a 1 MB line of text without markup', 'on at 2020-01-01 10:10 from x <x> '.repeat(30_000)],
    ['200,000 unclosed comments', '<!--'.repeat(200_000)],
    ['100,000 unclosed attribute quotes', '<a title="'.repeat(100_000)],
    ['a 3 MB data: image', `<img src="data:image/png;base64,${'A'.repeat(3_000_000)}">`],
    ['a 500 KB style attribute', `<p style="margin:${'1'.repeat(500_000)}px;color:red">a</p>`],
  ])('HTML with %s', (_, html) => {
    expect(timed(() => sanitizeHtml(html)).ms).toBeLessThan(BOUND_MS);
    expect(timed(() => visibleTextFromHtml(html)).ms).toBeLessThan(BOUND_MS);
  });

  it.each([
    [
      'a 1 MB line without newline',
      'on at 2020-01-01 10:10 x from x <x> 01.01.2020 10:10 "x" <x> Am x schrieb x < x > '.repeat(12_000),
    ],
    ['50,000 "> " lines', `Hi\n${'> quoted line\n'.repeat(50_000)}`],
    ['50,000 ">" lines only', '>\n'.repeat(50_000)],
    ['1 MB of "Op ... schreef" lines (cubic in the library)', 'Op x schreef y\n'.repeat(70_000)],
    ['1 MB of "abc. skrev" lines (cubic in the library)', 'abc. skrev skrev :x\n'.repeat(50_000)],
    ['500,000 blank lines', `x\n${' \n'.repeat(500_000)}y`],
    ['lines that almost look like attributions', 'x 12:30 a@b.c foo bar baz:\n'.repeat(40_000)],
    ['100,000 header-like lines', 'From: x\nTo: y\n'.repeat(50_000)],
  ])('visibleText on %s', (_, text) => {
    const { result, ms } = timed(() => visibleText(text));
    expect(ms).toBeLessThan(BOUND_MS);
    expect(result.length).toBeGreaterThan(0);
  });
});
