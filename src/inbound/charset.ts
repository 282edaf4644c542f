// Charsets by evidence, for mail that leaves them unsaid or says them wrong. mailparser reads a
// text part without a charset, or with one its bytes are not valid in (us-ascii, utf-8), as UTF-8,
// and raw 8-bit header bytes (a Subject, a display name, a filename) as UTF-8 or latin1: non-UTF-8
// text came out as U+FFFD or mojibake. Here each such piece of the raw mail gets the charset the
// evidence supports: its own declaration when its bytes are valid in it; else a charset declared
// elsewhere in the mail (another part, an RFC 2231 parameter, an encoded word); else the
// detector's (jschardet) over all the undeclared bytes of the mail together, the first answer
// its bytes are valid in; else windows-1252, which never yields U+FFFD. The mail is then
// rewritten for the parser: a part's Content-Type names the charset, an RFC 2231 parameter or an
// encoded word gets its charset replaced, and a header field of raw bytes becomes UTF-8, which
// mailsplit and mailparser read as such. The stored raw mail is never changed (DKIM reads it).
import { isAscii, isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import {
  charsetEnd,
  encodedWords,
  escapedInWords,
  fieldText,
  param,
  percentDecoded,
  qp,
  structured,
  walkMime,
  type Field,
  type Param,
  type Part,
  type WalkLimits,
} from './mime-walk.ts';

/** What a declared charset means to mailparser. */
type Label =
  /** decoded as UTF-8: utf-8, and us-ascii in a body (mailparser leaves it alone) */
  | { kind: 'utf8' }
  /**
   * right only for 7-bit bytes: us-ascii in a header (libmime reads it as windows-1252), and the
   * charsets mailparser refuses in a body (UTF-7, base64, hex)
   */
  | { kind: 'seven' }
  /** ISO-2022-JP and its kin, 7-bit by design (libmime decodes them with encoding-japanese) */
  | { kind: 'jis'; name: string }
  | { kind: 'iconv'; name: string }
  | { kind: 'unknown' };

const alnum = (s: string) => {
  let out = '';
  for (const c of s.toLowerCase()) if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out += c;
  return out;
};

function label(declared: string, where: 'body' | 'header' = 'body'): Label {
  const name = declared.trim().slice(0, 64);
  const key = alnum(name);
  if (key === 'utf8') return { kind: 'utf8' };
  if (key === 'ascii' || key === 'usascii') return { kind: where === 'body' ? 'utf8' : 'seven' };
  if (key.endsWith('utf7') || key.endsWith('utf7imap') || key === 'base64' || key === 'hex') return { kind: 'seven' };
  if (key.startsWith('iso2022jp') || key.startsWith('csiso2022jp') || key.startsWith('jis'))
    return { kind: 'jis', name };
  // libmime passes names on to iconv-lite, which knows most spellings; some mailers add an x-
  const bare = name.toLowerCase().startsWith('x-') ? name.slice(2) : name;
  if (iconv.encodingExists(name)) return { kind: 'iconv', name };
  if (iconv.encodingExists(bare)) return { kind: 'iconv', name: bare };
  return { kind: 'unknown' };
}

/** Whether the bytes read right in the charset: nothing undecodable, or 7-bit where it must be. */
function fits(bytes: Buffer, l: Label): boolean {
  switch (l.kind) {
    case 'utf8':
      return isUtf8(bytes);
    case 'seven':
    case 'jis':
      return isAscii(bytes);
    case 'iconv':
      return !iconv.decode(bytes, l.name).includes('\uFFFD');
    case 'unknown':
      return false;
  }
}

/** ISO-2022-JP's escapes (RFC 1468, with JIS X 0212 and half-width katakana): what follows them. */
const JIS_ESCAPES = new Map(
  Object.entries({ '$@': 'kanji', $B: 'kanji', '$(': 'supp', '(I': 'kana', '(B': 'ascii', '(J': 'ascii' }),
);

/** Whether the bytes switch to ISO-2022-JP's Japanese sets anywhere. */
function hasJisEscape(b: Buffer): boolean {
  for (let i = b.indexOf(27); i >= 0 && i + 2 < b.length; i = b.indexOf(27, i + 1)) {
    if ((JIS_ESCAPES.get(b.toString('latin1', i + 1, i + 3)) ?? 'ascii') !== 'ascii') return true;
  }
  return false;
}

/** ISO-2022-JP through EUC-JP, for headers (libmime decodes bodies itself). */
export function decodeJis(b: Buffer): string {
  const euc: number[] = [];
  let mode = 'ascii';
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    const next = c === 27 && i + 2 < b.length ? JIS_ESCAPES.get(b.toString('latin1', i + 1, i + 3)) : undefined;
    if (next) {
      mode = next;
      i += next === 'supp' ? 3 : 2;
    } else if (c < 0x21 || c > 0x7e || mode === 'ascii') euc.push(c);
    else if (mode === 'kana') euc.push(0x8e, c | 0x80);
    else if (i + 1 < b.length) {
      if (mode === 'supp') euc.push(0x8f);
      euc.push(c | 0x80, b[++i]! | 0x80);
    }
  }
  return iconv.decode(Buffer.from(euc), 'euc-jp');
}

/**
 * Whether bytes that are not valid UTF-8 are UTF-8 with a few broken sequences (a cut character,
 * a stray byte): legacy text hardly ever forms four valid sequences for each invalid byte.
 */
function mostlyUtf8(b: Buffer): boolean {
  let valid = 0;
  let invalid = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x80) continue;
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    let k = 1;
    while (k <= n && (b[i + k]! & 0xc0) === 0x80) k++;
    const ok = n > 0 && k > n;
    valid += ok ? 1 : 0;
    invalid += ok ? 0 : 1;
    i += ok ? n : 0;
  }
  return valid >= 2 && invalid * 4 <= valid;
}

/** A part's body as its transfer encoding leaves it. */
function transferDecoded(raw: Buffer, p: Part): Buffer {
  const body = raw.subarray(p.bodyStart, p.bodyEnd);
  if (p.encoding === 'base64') return Buffer.from(body.toString('latin1'), 'base64');
  if (p.encoding === 'quoted-printable') return qp(body, false);
  return body;
}

/** A piece of the mail whose charset is to be chosen, and what to do once it is. */
interface Segment {
  bytes: Buffer;
  declared: Label | undefined;
  apply: (charset: string) => void;
}

/** What becomes of one header field. */
interface FieldEdit {
  /** raw bytes in its Q-encoded words are written =XX first */
  escape?: boolean;
  /** the charset its raw bytes are read in; the field is written out as UTF-8 */
  transcode?: string;
  /** parameter (charset, or the first section of an RFC 2231 value) -> the charset to name */
  params: Map<string, string>;
  /** the charset named by encoded words (lowercased) -> the charset to name instead */
  words: Map<string, string>;
}

/** The sections of each RFC 2231 parameter (`name*`, `name*0*`, `name*1`...), by name. */
function rfc2231(params: Param[]): Map<string, { first: Param; sections: Param[] }> {
  const out = new Map<string, { first: Param; sections: { nr: number; p: Param }[] }>();
  for (const p of params) {
    const star = p.name.indexOf('*');
    if (star <= 0) continue;
    const rest = p.name.slice(star + 1);
    const digits = rest.endsWith('*') ? rest.slice(0, -1) : rest;
    if (digits.length > 4 || [...digits].some((d) => d < '0' || d > '9')) continue;
    const nr = Number(digits);
    const name = p.name.slice(0, star);
    const entry = out.get(name) ?? { first: p, sections: [] };
    if (nr === 0) entry.first = p;
    entry.sections.push({ nr, p });
    out.set(name, entry);
  }
  return new Map(
    [...out].map(([k, v]) => [k, { first: v.first, sections: v.sections.sort((a, b) => a.nr - b.nr).map((s) => s.p) }]),
  );
}

/** The charset prefix of an extended value (`charset'lang'text`), or undefined without one. */
function extendedCharset(p: Param): { charset: string; text: string } | undefined {
  if (!p.name.endsWith('*')) return undefined;
  const a = p.value.indexOf("'");
  const b = a < 0 ? -1 : p.value.indexOf("'", a + 1);
  return b < 0 ? undefined : { charset: p.value.slice(0, a), text: p.value.slice(b + 1) };
}

/** At most this much of the undeclared bytes goes to the detector, from each piece and in all. */
const SAMPLE_PER_PIECE = 16 * 1024;
const SAMPLE_BYTES = 64 * 1024;
/**
 * Each candidate costs a decoding of the piece: a few declared charsets and the detector's first
 * answers are tried, so that a large mail costs a bounded number of passes.
 */
const MAX_DECLARED = 4;
const MAX_ANSWERS = 4;
/** jschardet's answers below this confidence are noise; the first valid answer above it is used. */
const MIN_CONFIDENCE = 0.01;
/**
 * The charsets the detector may answer: those of mail in the wild that iconv-lite decodes.
 * Near twins that mail rarely carries (ISO-8859-5, MacCyrillic, the DOS code pages) are left out:
 * they won short texts from the charsets their writers meant.
 */
const DETECTABLE = (
  'gb18030 big5hkscs cp932 euc-jis-2004 cp949 koi8-r koi8-u windows-1250 windows-1251 windows-1252 ' +
  'windows-1253 windows-1254 windows-1255 windows-1256 windows-1257 cp874 iso-8859-2'
).split(' ');
/** jschardet's names for them as iconv-lite and libmime know them. */
const DETECTED_AS: Record<string, string> = { big5hkscs: 'big5', cp932: 'shift_jis', cp949: 'euc-kr' };
const DETECTED_AS_TOO: Record<string, string> = { 'euc-jis-2004': 'euc-jp', cp874: 'windows-874' };

async function detected(sample: Buffer): Promise<string[]> {
  const { detectAll } = await import('jschardet');
  return detectAll(sample, { detectEncodings: DETECTABLE, minimumThreshold: MIN_CONFIDENCE })
    .map((r) => r.encoding?.toLowerCase() ?? '')
    .map((e) => DETECTED_AS[e] ?? DETECTED_AS_TOO[e] ?? e)
    .filter((e) => e && iconv.encodingExists(e))
    .slice(0, MAX_ANSWERS);
}

/** windows-1252 unless a byte it leaves undefined is there; latin1 reads every byte. */
const lastResort = (b: Buffer) => (fits(b, { kind: 'iconv', name: 'windows-1252' }) ? 'windows-1252' : 'iso-8859-1');

/**
 * The mail with every charset it leaves unsaid or says wrong made explicit, or undefined when
 * there is nothing to change (or its structure is past the limits). Never throws on content.
 */
export async function withCharsets(raw: Buffer, limits: WalkLimits): Promise<Buffer | undefined> {
  const parts = walkMime(raw, limits);
  if (!parts) return undefined;
  const edits = new Map<Field, FieldEdit>();
  const edit = (f: Field) => {
    const e = edits.get(f) ?? { params: new Map(), words: new Map() };
    edits.set(f, e);
    return e;
  };
  const inserts: { at: number; bytes: Buffer }[] = [];
  const segments: Segment[] = [];
  const declared: string[] = [];
  const declare = (l: Label) => {
    const name = l.kind === 'iconv' || l.kind === 'jis' ? l.name.toLowerCase() : undefined;
    if (name && !declared.includes(name) && declared.length < MAX_DECLARED) declared.push(name);
  };

  for (const part of parts) {
    for (const f of part.fields) headerField(raw, f, edit, segments, declare);
    for (const f of [part.contentType, part.fields.find((x) => x.name === 'content-disposition')]) {
      if (f) parameters(raw, f, edit, segments, declare);
    }
    const body = textBody(raw, part, edit, inserts);
    if (body) {
      if (body.declared) declare(body.declared);
      if (body.segment) segments.push(body.segment);
    }
  }
  if (!segments.length && !edits.size && !inserts.length) return undefined;

  const open: Segment[] = [];
  for (const s of segments) {
    const own = s.declared && (s.declared.kind === 'iconv' || s.declared.kind === 'jis') ? [s.declared.name] : [];
    // bytes valid as UTF-8 are UTF-8 but by rare chance: legacy text seldom forms its sequences
    const cs = [...own, 'utf-8', ...declared].find((c) => fits(s.bytes, label(c)));
    if (cs) s.apply(cs);
    else if (mostlyUtf8(s.bytes)) s.apply('utf-8');
    else open.push(s);
  }
  if (open.length) {
    const pieces: Buffer[] = [];
    let size = 0;
    for (const s of open) {
      const piece = s.bytes.subarray(0, Math.min(SAMPLE_PER_PIECE, SAMPLE_BYTES - size));
      pieces.push(piece, Buffer.from('\n'));
      size += piece.length + 1;
      if (size >= SAMPLE_BYTES) break;
    }
    const answers = await detected(Buffer.concat(pieces));
    for (const s of open) s.apply(answers.find((c) => fits(s.bytes, label(c))) ?? lastResort(s.bytes));
  }
  return rewrite(raw, edits, inserts);
}

type EditOf = (f: Field) => FieldEdit;

/** A header field of raw 8-bit bytes that are not UTF-8, or of ISO-2022-JP, and its encoded words. */
function headerField(raw: Buffer, f: Field, edit: EditOf, segments: Segment[], declare: (l: Label) => void): void {
  let bytes = raw.subarray(f.start, f.end);
  if (!isUtf8(bytes)) {
    bytes = Buffer.from(escapedInWords(bytes.toString('latin1')), 'latin1');
    if (bytes.length !== f.end - f.start) edit(f).escape = true;
  }
  if (!isAscii(bytes)) {
    if (!isUtf8(bytes)) {
      const value = bytes.subarray(Math.max(0, bytes.indexOf(58) + 1));
      segments.push({ bytes: value, declared: undefined, apply: (cs) => (edit(f).transcode = cs) });
    }
  } else if (hasJisEscape(bytes)) edit(f).transcode = 'iso-2022-jp';
  if (bytes.indexOf('=?') < 0) return;
  const byCharset = new Map<string, Buffer[]>();
  for (const w of encodedWords(bytes.toString('latin1'))) {
    const l = label(w.charset, 'header');
    declare(l);
    if (l.kind === 'utf8' || l.kind === 'unknown' || l.kind === 'seven') {
      const key = w.charset.toLowerCase();
      const list = byCharset.get(key) ?? [];
      list.push(w.payload);
      byCharset.set(key, list);
    }
  }
  for (const [charset, payloads] of byCharset) {
    const l = label(charset, 'header');
    const joined = Buffer.concat(payloads);
    if (isAscii(joined) && hasJisEscape(joined)) edit(f).words.set(charset, 'iso-2022-jp');
    if (fits(joined, l)) continue;
    segments.push({ bytes: joined, declared: l, apply: (cs) => edit(f).words.set(charset, cs) });
  }
}

/** The charset of a Content-Type, and RFC 2231 names (what mailparser reads) with a charset missing or wrong. */
function parameters(raw: Buffer, f: Field, edit: EditOf, segments: Segment[], declare: (l: Label) => void): void {
  const { text, from } = fieldText(raw, f);
  const { params } = structured(text, from);
  const charset = param(params, 'charset');
  if (charset?.value) declare(label(charset.value));
  for (const [base, { first, sections }] of rfc2231(params)) {
    if (base !== 'filename' && base !== 'name') continue;
    const ext = extendedCharset(first);
    if (ext?.charset) declare(label(ext.charset, 'header'));
    const joined =
      (ext ? ext.text : first.value) +
      sections
        .slice(1)
        .map((s) => s.value)
        .join('');
    const bytes = percentDecoded(joined);
    // libmime reads an empty charset as UTF-8, and a value without one not at all
    const l = ext?.charset ? label(ext.charset, 'header') : undefined;
    if (isAscii(bytes)) {
      const unsaid = !l || l.kind === 'utf8' || l.kind === 'seven';
      if (unsaid && first.name.endsWith('*') && hasJisEscape(bytes)) edit(f).params.set(first.name, 'iso-2022-jp');
      continue;
    }
    if (ext && fits(bytes, l ?? { kind: 'utf8' })) continue;
    if (!ext && !first.name.endsWith('*')) continue;
    segments.push({
      bytes,
      declared: l,
      apply: (cs) => edit(f).params.set(first.name, cs),
    });
  }
}

/** A text part's body, when its declared charset (or its lack of one) misreads it. */
function textBody(
  raw: Buffer,
  part: Part,
  edit: EditOf,
  inserts: { at: number; bytes: Buffer }[],
): { declared: Label | undefined; segment?: Segment } | undefined {
  if (part.type !== 'text/plain' && part.type !== 'text/html') return undefined;
  if (part.bodyStart < 0 || (part.disposition !== '' && part.disposition !== 'inline')) return undefined;
  const ct = part.contentType;
  const field = ct && fieldText(raw, ct);
  const charset = field ? param(structured(field.text, field.from).params, 'charset') : undefined;
  const declared = charset?.value ? label(charset.value) : undefined;
  const body = transferDecoded(raw, part);
  const apply = (cs: string) => {
    if (ct) edit(ct).params.set('charset', cs);
    else {
      const nl = raw[part.headerEnd - 2] === 13 || part.headerEnd === 0 ? '\r\n' : '\n';
      inserts.push({ at: part.headerEnd, bytes: Buffer.from(`Content-Type: text/plain; charset=${cs}${nl}`) });
    }
  };
  if (isAscii(body)) {
    const unsaid = !declared || declared.kind === 'utf8' || declared.kind === 'seven';
    if (unsaid && hasJisEscape(body)) apply('iso-2022-jp');
    return { declared };
  }
  if (declared ? fits(body, declared) : isUtf8(body)) return { declared };
  return { declared, segment: { bytes: body, declared, apply } };
}

/** The field's new text: read in its charset, with its parameters and encoded words renamed. */
function rewriteField(raw: Buffer, f: Field, e: FieldEdit): Buffer {
  let bytes = raw.subarray(f.start, f.end);
  if (e.escape) bytes = Buffer.from(escapedInWords(bytes.toString('latin1')), 'latin1');
  let text = e.transcode
    ? e.transcode === 'iso-2022-jp'
      ? decodeJis(bytes)
      : iconv.decode(bytes, e.transcode)
    : bytes.toString(isUtf8(bytes) ? 'utf8' : 'latin1');
  if (e.params.size) {
    const { params } = structured(text, text.indexOf(':') + 1);
    const cuts: { start: number; end: number; text: string }[] = [];
    for (const [name, cs] of e.params) {
      const p = param(params, name);
      if (name === 'charset' && (!p || p.start < 0)) {
        let end = text.length;
        while (end > 0 && (text[end - 1] === '\n' || text[end - 1] === '\r')) end--;
        cuts.push({ start: end, end, text: `; charset=${cs}` });
      } else if (name === 'charset' && p) cuts.push({ start: p.start, end: p.end, text: cs });
      else if (p && p.start >= 0) {
        const apostrophe = text.indexOf("'", p.start);
        const has = apostrophe >= 0 && apostrophe < p.end && text.indexOf("'", apostrophe + 1) < p.end;
        cuts.push(
          has ? { start: p.start, end: apostrophe, text: cs } : { start: p.start, end: p.start, text: `${cs}''` },
        );
      }
    }
    for (const c of cuts.sort((a, b) => b.start - a.start)) text = text.slice(0, c.start) + c.text + text.slice(c.end);
  }
  if (e.words.size) {
    let out = '';
    let last = 0;
    for (let i = text.indexOf('=?'); i >= 0; i = text.indexOf('=?', i + 2)) {
      const q = charsetEnd(text, i);
      if (q < 0) continue;
      const cs = e.words.get(
        text
          .slice(i + 2, q)
          .split('*')[0]!
          .toLowerCase(),
      );
      if (!cs) continue;
      out += `${text.slice(last, i + 2)}${cs}`;
      last = q;
    }
    text = out + text.slice(last);
  }
  return Buffer.from(text, 'utf8');
}

function rewrite(raw: Buffer, edits: Map<Field, FieldEdit>, inserts: { at: number; bytes: Buffer }[]): Buffer {
  const cuts = [
    ...[...edits].map(([f, e]) => ({ start: f.start, end: f.end, bytes: rewriteField(raw, f, e) })),
    ...inserts.map((i) => ({ start: i.at, end: i.at, bytes: i.bytes })),
  ].sort((a, b) => a.start - b.start);
  const out: Buffer[] = [];
  let at = 0;
  for (const c of cuts) {
    out.push(raw.subarray(at, c.start), c.bytes);
    at = c.end;
  }
  out.push(raw.subarray(at));
  return Buffer.concat(out);
}
