// The MIME structure of a raw mail in byte offsets, read as mailparser's splitter
// (@zone-eu/mailsplit) reads it: a part's header block runs to its first empty line, a delimiter
// line of the part's own boundary or of any open ancestor's ends it, and only a message/rfc822
// part marked inline is read as a message. With it, the syntax inside header values that
// charset.ts looks at: parameters, encoded words and transfer encodings. No regex; one pass
// each, so linear in the size of the mail, with the nesting depth bounded.

/** A header field: its lowercased name and its bytes, folded lines and line ending included. */
export interface Field {
  name: string;
  start: number;
  end: number;
}

export interface Part {
  fields: Field[];
  /** where a new field can go: the end of the last field (the start of the part if none) */
  headerEnd: number;
  /** the decoded body's offsets in the raw mail; bodyStart is -1 for a part without a body */
  bodyStart: number;
  bodyEnd: number;
  /** the media type as the splitter sees it ('text/plain' without a Content-Type), lowercased */
  type: string;
  /** the Content-Type field, when there is one */
  contentType: Field | undefined;
  /** the Content-Transfer-Encoding, lowercased ('' when none) */
  encoding: string;
  /** the Content-Disposition value, lowercased ('' when none) */
  disposition: string;
}

/** A parameter of a structured header value and where its value is in the text. */
export interface Param {
  name: string;
  value: string;
  /** the value's span in the text: inside the quotes of a quoted string */
  start: number;
  end: number;
}

/** The most SP and HTAB that a delimiter line may carry before its line ending (as mailsplit). */
const DELIMITER_TRAILING_WSP = 998;

const isWsp = (c: number) => c === 32 || c === 9 || c === 13 || c === 10 || c === 12 || c === 11;

/** The end of the comment that opens at `at` (the index of its ')'), or -1 when it never closes. */
function commentEnd(text: string, at: number): number {
  let depth = 0;
  for (let i = at; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 40) depth++;
    else if (c === 41 && --depth === 0) return i;
  }
  return -1;
}

/**
 * A structured value (`type; name=value; ...`) as libmime's parseHeaderValue reads it with
 * comments stripped: the first value of a name wins, and each value's span is kept so that it
 * can be rewritten. `from` is where the value starts in `text` (after the colon).
 */
export function structured(text: string, from: number): { value: string; params: Param[] } {
  const params: Param[] = [];
  let main = '';
  let inKey = false;
  let key: string | undefined;
  let value = '';
  let valueEnd = 0;
  let spanStart = -1;
  let spanEnd = -1;
  let quote = false;
  let quoteClosed = false;
  let escaped = false;
  let tokenOpen = false;
  let stripComments = true;
  const seen = new Set<string>();
  const commit = () => {
    const collected = value.slice(0, valueEnd);
    if (inKey) {
      const name = collected.toLowerCase();
      if (name && !seen.has(name)) {
        seen.add(name);
        params.push({ name, value: '', start: -1, end: -1 });
      }
    } else if (key === undefined) main = collected;
    else if (!seen.has(key)) {
      seen.add(key);
      params.push({ name: key, value: collected, start: spanStart, end: spanEnd < 0 ? spanStart : spanEnd });
    }
    value = '';
    valueEnd = 0;
    spanStart = -1;
    spanEnd = -1;
  };
  const add = (i: number, c: string, significant: boolean) => {
    if (spanStart < 0) spanStart = i;
    value += c;
    if (significant) {
      valueEnd = value.length;
      spanEnd = i + 1;
    }
  };
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const c = text[i]!;
    if (stripComments && code === 40 && !quote && !escaped && !tokenOpen) {
      let end = commentEnd(text, i);
      if (end < 0 && text.indexOf(';', i) < 0) end = text.length - 1;
      if (end >= 0) {
        i = end;
        continue;
      }
      stripComments = false;
    }
    if (inKey) {
      if (c === '=') {
        key = value.slice(0, valueEnd).toLowerCase();
        value = '';
        valueEnd = 0;
        spanStart = -1;
        spanEnd = -1;
        inKey = false;
        tokenOpen = true;
      } else if (c === ';') commit();
      else if (!isWsp(code) || value.length) add(i, c, !isWsp(code));
      continue;
    }
    if (quoteClosed && c !== ';') {
      escaped = false;
      continue;
    }
    if (escaped) {
      add(i, c, true);
      tokenOpen = key !== undefined && !quote;
    } else if (c === '\\') {
      if (spanStart < 0) spanStart = i;
      escaped = true;
      continue;
    } else if (c === '"') {
      quoteClosed = quote;
      if (quote) spanEnd = i;
      else if (!value.length) spanStart = i + 1;
      quote = !quote;
      tokenOpen = false;
    } else if (!quote && c === ';') {
      commit();
      inKey = true;
      tokenOpen = false;
      quoteClosed = false;
    } else if (!quote && isWsp(code)) {
      if (value.length) add(i, c, false);
      tokenOpen = false;
    } else {
      add(i, c, true);
      tokenOpen = key !== undefined && !quote;
    }
    escaped = false;
  }
  commit();
  return { value: main.trim().toLowerCase(), params };
}

export const param = (p: Param[], name: string): Param | undefined => p.find((x) => x.name === name);

/** The text of a field from `raw`, one char per byte, and where its value starts. */
export function fieldText(raw: Buffer, f: Field): { text: string; from: number } {
  const text = raw.toString('latin1', f.start, f.end);
  return { text, from: text.indexOf(':') + 1 };
}

interface Node {
  part: Part;
  boundary: Buffer | undefined;
  /** the node whose delimiter lines also end this one (mailsplit's _parentBoundaryOwner) */
  owner: Node | undefined;
  parent: Node | undefined;
  depth: number;
  inHead: boolean;
}

/** 1: next part, 2: last part; as mailsplit's compareBoundary. */
function delimiter(raw: Buffer, start: number, end: number, boundary: Buffer): 0 | 1 | 2 {
  const len = end - start;
  if (len < boundary.length + 3 || len > boundary.length + 6 + DELIMITER_TRAILING_WSP) return 0;
  // byte by byte: a native compare per "--" line and open boundary costs more than the bytes do
  for (let k = 0; k < boundary.length; k++) if (raw[start + 2 + k] !== boundary[k]) return 0;
  let i = start + 2 + boundary.length;
  let result: 1 | 2 = 1;
  if (raw[i] === 45) {
    if (raw[i + 1] !== 45) return 0;
    result = 2;
    i += 2;
  }
  while (i < end && (raw[i] === 32 || raw[i] === 9)) i++;
  if (i === end) return result === 2 ? 2 : 0;
  while (i < end && raw[i] === 13) i++;
  if (i < end && raw[i] === 10) i++;
  return i === end ? result : 0;
}

export type WalkLimits = { parts: number; headerBytes: number; depth: number };

/** The parts of a mail in order (the message itself first), or undefined past the limits. */
export function walkMime(raw: Buffer, limits: WalkLimits): Part[] | undefined {
  const parts: Part[] = [];
  const open = (parent: Node | undefined, at: number): Node => {
    const part: Part = {
      fields: [],
      headerEnd: at,
      bodyStart: -1,
      bodyEnd: -1,
      type: 'text/plain',
      contentType: undefined,
      encoding: '',
      disposition: '',
    };
    parts.push(part);
    return { part, boundary: undefined, owner: parent, parent, depth: parent ? parent.depth + 1 : 0, inHead: true };
  };
  /** the body of the node being left ends before the line ending in front of the delimiter */
  const close = (n: Node, at: number) => {
    const p = n.part;
    if (p.bodyStart < 0) return;
    let end = at;
    if (end > p.bodyStart && raw[end - 1] === 10) end--;
    if (end > p.bodyStart && raw[end - 1] === 13) end--;
    p.bodyEnd = end;
  };
  let node = open(undefined, 0);
  let inEpilogue = false;
  let headerBytes = 0;
  for (let pos = 0; pos < raw.length; ) {
    const nl = raw.indexOf(10, pos);
    const end = nl < 0 ? raw.length : nl + 1;
    const at = raw[pos] === 13 ? pos + 1 : pos;
    if (end - at >= 3 && raw[at] === 45 && raw[at + 1] === 45) {
      let found: { owner: Node; kind: 0 | 1 | 2 } | undefined;
      let kind: 0 | 1 | 2 = 0;
      if (!inEpilogue && node.boundary) kind = delimiter(raw, at, end, node.boundary);
      if (kind) found = { owner: node, kind };
      for (let o = node.owner; !found && o; o = o.owner) {
        kind = o.boundary ? delimiter(raw, at, end, o.boundary) : 0;
        if (kind) found = { owner: o, kind };
      }
      if (found) {
        if (found.owner === node && found.kind === 1) {
          close(node, pos);
          node = open(node, end);
          inEpilogue = false;
          if (node.depth > limits.depth || parts.length > limits.parts) return undefined;
          headerBytes = 0;
        } else if (found.owner !== node) {
          close(node, pos);
          if (found.kind === 1) {
            node = open(found.owner, end);
            inEpilogue = false;
            if (parts.length > limits.parts) return undefined;
            headerBytes = 0;
          } else {
            node = found.owner;
            inEpilogue = true;
            node.inHead = false;
          }
        }
        pos = end;
        continue;
      }
    }
    if (node.inHead) {
      headerBytes += end - pos;
      if (headerBytes > limits.headerBytes) return undefined;
      const blank = end - pos === 1 || (end - pos === 2 && raw[pos] === 13);
      if (blank || end === raw.length) {
        if (!blank) addLine(raw, node.part, pos, end);
        node = headerDone(raw, node, end, open);
        if (node.depth > limits.depth || parts.length > limits.parts) return undefined;
      } else addLine(raw, node.part, pos, end);
    }
    pos = end;
  }
  close(node, raw.length);
  return parts;
}

function addLine(raw: Buffer, part: Part, start: number, end: number): void {
  const last = part.fields.at(-1);
  if (last && (raw[start] === 32 || raw[start] === 9)) last.end = end;
  else {
    // searched within the line only: a long block of lines without a colon stays linear
    const colon = raw.subarray(start, end).indexOf(58);
    const name =
      colon < 0
        ? ''
        : raw
            .toString('latin1', start, start + colon)
            .trim()
            .toLowerCase();
    part.fields.push({ name, start, end });
  }
  part.headerEnd = end;
}

/** The header block of `node` ended at `end`: what its fields say, and where the reading goes on. */
function headerDone(raw: Buffer, node: Node, end: number, open: (p: Node | undefined, at: number) => Node): Node {
  const part = node.part;
  node.inHead = false;
  const first = (name: string) => part.fields.find((f) => f.name === name);
  const ct = first('content-type');
  const cd = first('content-disposition');
  const cte = first('content-transfer-encoding');
  const disposition = cd ? structuredOf(raw, cd) : undefined;
  part.disposition = disposition?.value ?? '';
  if (cte) {
    const { text, from } = fieldText(raw, cte);
    const comment = text.indexOf('(', from);
    part.encoding = text
      .slice(from, comment < 0 ? text.length : comment)
      .trim()
      .toLowerCase();
  }
  part.contentType = ct;
  if (ct) {
    const { value, params } = structuredOf(raw, ct);
    part.type = value;
    const b = (param(params, 'boundary')?.value ?? '').trimEnd();
    // a boundary that is not ASCII counts as none (mailsplit)
    let ascii = true;
    for (let i = 0; i < b.length; i++) if (b.charCodeAt(i) > 127) ascii = false;
    node.boundary = b && ascii ? Buffer.from(b, 'latin1') : undefined;
  } else {
    const named = disposition && param(disposition.params, 'filename')?.value.includes('.');
    part.type = named
      ? 'application/octet-stream'
      : part.disposition === 'attachment'
        ? 'application/octet-stream'
        : 'text/plain';
  }
  if (
    part.type === 'message/rfc822' &&
    ['', '7bit', '8bit', 'binary'].includes(part.encoding) &&
    part.disposition === 'inline'
  ) {
    const inner = open(node, end);
    if (node.parent) inner.owner = node.parent;
    return inner;
  }
  part.bodyStart = end;
  return node;
}

function structuredOf(raw: Buffer, f: Field) {
  const { text, from } = fieldText(raw, f);
  return structured(text, from);
}

const hex = (c: number) => (c >= 48 && c <= 57 ? c - 48 : (c | 32) >= 97 && (c | 32) <= 102 ? (c | 32) - 87 : -1);

/** Quoted-printable (RFC 2045), or the Q encoding of encoded words (`_` is a space). */
export function qp(b: Buffer, q: boolean): Buffer {
  const out = Buffer.alloc(b.length);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 61 && hex(b[i + 1] ?? 0) >= 0 && hex(b[i + 2] ?? 0) >= 0) {
      out[n++] = hex(b[i + 1]!) * 16 + hex(b[i + 2]!);
      i += 2;
    } else if (c === 61 && (b[i + 1] === 10 || (b[i + 1] === 13 && b[i + 2] === 10))) i += b[i + 1] === 10 ? 1 : 2;
    else out[n++] = q && c === 95 ? 32 : c;
  }
  return out.subarray(0, n);
}

/** RFC 2231 percent-encoding; other text as its UTF-8 bytes. */
export function percentDecoded(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && hex(s.charCodeAt(i + 1)) >= 0 && hex(s.charCodeAt(i + 2)) >= 0) {
      out.push(hex(s.charCodeAt(i + 1)) * 16 + hex(s.charCodeAt(i + 2)));
      i += 2;
    } else if (c < 128) out.push(c);
    else out.push(...Buffer.from(s[i]!, 'utf8'));
  }
  return Buffer.from(out);
}

/** An encoded word's charset and payload, as found in a header's text. */
export interface Word {
  charset: string;
  payload: Buffer;
  /** where its payload is in the text, and whether it is Q-encoded */
  start: number;
  end: number;
  q: boolean;
}

/** Where the charset of an encoded word opening at `i` ends (its "?"), or -1: at most 64 chars. */
export function charsetEnd(text: string, i: number): number {
  for (let j = i + 2; j < text.length && j < i + 66; j++) if (text[j] === '?') return j;
  return -1;
}

/**
 * The encoded words of a field (`=?charset?B|Q?payload?=`). Where the next "?=" and the next
 * whitespace are is kept as the scan goes on, so that no part of the text is searched twice.
 */
export function encodedWords(text: string): Word[] {
  const words: Word[] = [];
  let end = -2;
  let space = -2;
  for (let i = text.indexOf('=?'); i >= 0; i = text.indexOf('=?', i + 2)) {
    const q1 = charsetEnd(text, i);
    if (q1 < 0 || text[q1 + 2] !== '?') continue;
    const enc = text[q1 + 1]!.toUpperCase();
    if (end !== -1 && end < q1 + 3) end = text.indexOf('?=', q1 + 3);
    if (end < 0) break;
    if (space !== -1 && space < q1 + 3) space = firstSpace(text, q1 + 3);
    // a word holds no whitespace: this "=?" opened none
    if ((enc !== 'B' && enc !== 'Q') || (space >= 0 && space < end)) continue;
    const body = text.slice(q1 + 3, end);
    const payload = enc === 'B' ? Buffer.from(body, 'base64') : qp(Buffer.from(body, 'latin1'), true);
    words.push({ charset: text.slice(i + 2, q1).split('*')[0]!, payload, start: q1 + 3, end, q: enc === 'Q' });
    i = end;
  }
  return words;
}

/** Raw 8-bit bytes inside Q-encoded words as =XX: they are in the word's charset, not the field's. */
export function escapedInWords(text: string): string {
  let out = '';
  let last = 0;
  for (const w of encodedWords(text)) {
    for (let i = w.start; w.q && i < w.end; i++) {
      const c = text.charCodeAt(i);
      if (c < 128) continue;
      out += `${text.slice(last, i)}=${c.toString(16).toUpperCase()}`;
      last = i + 1;
    }
  }
  return out + text.slice(last);
}

function firstSpace(text: string, from: number): number {
  for (let j = from; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 32 || c === 9 || c === 10 || c === 13) return j;
  }
  return -1;
}
