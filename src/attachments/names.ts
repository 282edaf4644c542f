// The name each file of a message is shown, linked and downloaded under: the one rule that the
// inbound pipeline, agents' replies, the API, the public page and outbound mail all read (it is
// stored with the file, `message_attachments.display_name`). A name is always there, safe to put
// on a disk or in a header, and unique within its message.

/** A file of a message, as far as its name goes. */
export interface NameSource {
  /** the name the mail (or the agent) gave it; null, undefined or blank: none */
  filename: string | null | undefined;
  /** its MIME type; parameters are ignored */
  contentType: string;
  /** its Content-ID, with or without the angle brackets */
  contentId?: string | null | undefined;
}

/**
 * A file with neither a name nor a Content-ID that reads as one is called after its type: the
 * word and a counter per word within the message (image-1.gif, image-2.png, document-1.html),
 * then the extension. A type not in the table takes the word of its top-level type (image,
 * audio, video, text, message; anything else `file`) and `.bin` (`.txt` for text/*): we
 * never make up an extension from a subtype we do not know.
 */
export const NAME_BY_TYPE: Readonly<Record<string, readonly [word: string, extension: string]>> = {
  'image/png': ['image', 'png'],
  'image/jpeg': ['image', 'jpg'],
  'image/gif': ['image', 'gif'],
  'image/webp': ['image', 'webp'],
  'image/bmp': ['image', 'bmp'],
  'image/tiff': ['image', 'tif'],
  'image/svg+xml': ['image', 'svg'],
  'image/heic': ['image', 'heic'],
  'image/avif': ['image', 'avif'],
  'text/plain': ['text', 'txt'],
  'text/markdown': ['text', 'md'],
  'text/html': ['document', 'html'],
  'application/pdf': ['document', 'pdf'],
  'application/rtf': ['document', 'rtf'],
  'text/rtf': ['document', 'rtf'],
  'application/msword': ['document', 'doc'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['document', 'docx'],
  'application/vnd.oasis.opendocument.text': ['document', 'odt'],
  'text/csv': ['table', 'csv'],
  'application/vnd.ms-excel': ['spreadsheet', 'xls'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['spreadsheet', 'xlsx'],
  'application/vnd.oasis.opendocument.spreadsheet': ['spreadsheet', 'ods'],
  'application/vnd.ms-powerpoint': ['presentation', 'ppt'],
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ['presentation', 'pptx'],
  'message/rfc822': ['message', 'eml'],
  'message/global': ['message', 'eml'],
  'message/delivery-status': ['delivery-status', 'txt'],
  'message/disposition-notification': ['read-receipt', 'txt'],
  'message/feedback-report': ['feedback-report', 'txt'],
  'text/rfc822-headers': ['headers', 'txt'],
  'text/calendar': ['calendar', 'ics'],
  'application/ics': ['calendar', 'ics'],
  'text/vcard': ['contact', 'vcf'],
  'text/x-vcard': ['contact', 'vcf'],
  'application/pkcs7-signature': ['signature', 'p7s'],
  'application/x-pkcs7-signature': ['signature', 'p7s'],
  'application/pkcs7-mime': ['smime', 'p7m'],
  'application/x-pkcs7-mime': ['smime', 'p7m'],
  'application/pgp-signature': ['signature', 'asc'],
  'application/pgp-keys': ['key', 'asc'],
  'application/ms-tnef': ['winmail', 'dat'],
  'application/json': ['data', 'json'],
  'application/xml': ['data', 'xml'],
  'text/xml': ['data', 'xml'],
  'application/zip': ['archive', 'zip'],
  'application/gzip': ['archive', 'gz'],
  'application/x-7z-compressed': ['archive', '7z'],
  'application/x-tar': ['archive', 'tar'],
  'audio/mpeg': ['audio', 'mp3'],
  'audio/wav': ['audio', 'wav'],
  'audio/ogg': ['audio', 'ogg'],
  'video/mp4': ['video', 'mp4'],
  'video/quicktime': ['video', 'mov'],
  'video/webm': ['video', 'webm'],
  'application/octet-stream': ['file', 'bin'],
};

/** Top-level types whose word names a file of an unknown subtype; any other is a `file`. */
const WORD_BY_TOP_TYPE: Readonly<Record<string, string>> = {
  image: 'image',
  audio: 'audio',
  video: 'video',
  text: 'text',
  message: 'message',
};

/**
 * Longest name, in UTF-8 bytes: most file systems take 255, and a browser or mail client may add
 * ` (1)` and a path of its own.
 */
export const MAX_NAME_BYTES = 200;
/** Longer tails are not kept as an extension when a name is cut. */
const MAX_EXTENSION = 16;
/** Double extensions kept whole (backup.tar.gz, not backup.tar (2).gz). */
const DOUBLE_EXTENSION = /\.tar\.(?:gz|bz2|xz|zst)$/i;

/** Direction overrides and marks: they make `invoice‮fdp.exe` read as `invoiceexe.pdf`. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** C0 and C1 controls, DEL and the Unicode line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/** What Windows forbids in a name (the slashes are gone already). */
const RESERVED = /[<>:"|?*]/g;

/** A name as the sender gave it, cleaned; undefined when nothing usable is left. */
export function cleanName(raw: string | null | undefined): string | undefined {
  // mail is whatever its sender wrote: a name is read only when the parser made a string of it
  if (typeof raw !== 'string' || !raw) return undefined;
  const flat = raw.toWellFormed().normalize('NFC').replace(BIDI, '').replace(CONTROL, ' ');
  // a path names its last part (../../etc/passwd is passwd; C:\Users\me\a.pdf is a.pdf)
  const segments = flat.split(/[/\\]/);
  let last = '';
  for (let i = segments.length - 1; i >= 0 && !last; i--) last = segments[i]!.trim();
  // hidden files and `..` lose their leading dots, and Windows drops trailing dots and spaces
  const name = trimChars(last.replace(RESERVED, '_').replace(/\s+/g, ' '), ' .');
  return name ? capped(name) : undefined;
}

/** The name a Content-ID gives, when its local part reads as a file name (image001.png@01D9…). */
export function nameFromContentId(contentId: string | null | undefined): string | undefined {
  if (typeof contentId !== 'string' || !contentId) return undefined;
  const id = trimChars(contentId.trim(), '<>');
  const at = id.lastIndexOf('@');
  const local = at === -1 ? id : id.slice(0, at);
  const dot = local.lastIndexOf('.');
  if (local.length > MAX_NAME_BYTES || dot < 1) return undefined;
  const extension = local.slice(dot + 1);
  // an extension of at most 5 letters and digits, with a letter: not Thunderbird's
  // part1.06090408.01060107 or part1.2kPvsMZ7.0AB3cDeF
  if (!/^[A-Za-z0-9]{1,5}$/.test(extension) || !/[A-Za-z]/.test(extension)) return undefined;
  if (!/^[\w][\w .+()-]*$/.test(local.slice(0, dot))) return undefined;
  return cleanName(local);
}

/** The word and extension of a type (NAME_BY_TYPE, then the top-level type). */
export function nameForType(contentType: string): readonly [word: string, extension: string] {
  const type = typeof contentType === 'string' ? contentType.split(';')[0]!.trim().toLowerCase() : '';
  if (Object.hasOwn(NAME_BY_TYPE, type)) return NAME_BY_TYPE[type]!;
  const top = type.split('/')[0]!;
  const word = Object.hasOwn(WORD_BY_TOP_TYPE, top) ? WORD_BY_TOP_TYPE[top]! : 'file';
  return [word, top === 'text' ? 'txt' : 'bin'];
}

/**
 * The names of a message's files, in their order: the name given (cleaned), else the Content-ID's
 * (when it reads as a file name), else one from the type; then a later file whose name an earlier
 * one has (case aside: the disks of most people ignore it) gets ` (2)`, ` (3)`, ... before its
 * extension, avoiding names the message has already.
 */
export function attachmentNames(files: readonly NameSource[]): string[] {
  const own = files.map((f) => cleanName(f.filename) ?? nameFromContentId(f.contentId));
  const ownKeys = new Set(own.filter((n) => n !== undefined).map(keyOf));
  const counters = new Map<string, number>();
  const names = files.map((f, i) => {
    const given = own[i];
    if (given !== undefined) return given;
    const [word, extension] = nameForType(f.contentType);
    // a counter skips the names the message gives itself (image-1.gif next to an unnamed gif)
    let n = (counters.get(word) ?? 0) + 1;
    while (ownKeys.has(keyOf(`${word}-${n}.${extension}`))) n++;
    counters.set(word, n);
    return `${word}-${n}.${extension}`;
  });
  const taken = new Set(names.map(keyOf));
  const seen = new Set<string>();
  return names.map((name) => {
    const key = keyOf(name);
    if (!seen.has(key)) {
      seen.add(key);
      return name;
    }
    const [stem, extension] = splitExtension(name);
    let n = 2;
    while (taken.has(keyOf(capped(stem, ` (${n})`, extension)))) n++;
    const candidate = capped(stem, ` (${n})`, extension);
    taken.add(keyOf(candidate));
    seen.add(keyOf(candidate));
    return candidate;
  });
}

/**
 * A Content-Disposition value naming the file: `filename*` (RFC 6266, UTF-8) for the browsers of
 * today and a plain ASCII `filename` for the others. Neither can carry a quote, a CR or an LF.
 */
export function contentDisposition(disposition: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  // RFC 5987's attr-char leaves out ' ( ) *, which encodeURIComponent keeps
  const encoded = encodeURIComponent(name.toWellFormed()).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

const keyOf = (name: string): string => name.toLowerCase();

/** `report.pdf` to `report` and `.pdf`; a long or spaced tail is no extension. */
function splitExtension(name: string): [stem: string, extension: string] {
  const double = DOUBLE_EXTENSION.exec(name);
  const dot = double ? double.index : name.lastIndexOf('.');
  if (dot < 1) return [name, ''];
  const extension = name.slice(dot);
  if (extension.length > MAX_EXTENSION + 1 || /\s/.test(extension)) return [name, ''];
  return [name.slice(0, dot), extension];
}

/** The name cut to MAX_NAME_BYTES at a character boundary, its extension and suffix kept. */
function capped(name: string, suffix = '', extension?: string): string {
  const [stem, ext] = extension === undefined ? splitExtension(name) : [name, extension];
  const budget = MAX_NAME_BYTES - Buffer.byteLength(suffix + ext);
  if (Buffer.byteLength(stem) <= budget) return stem + suffix + ext;
  let used = 0;
  let cut = '';
  for (const ch of stem) {
    used += Buffer.byteLength(ch);
    if (used > budget) break;
    cut += ch;
  }
  return trimChars(cut, ' .') + suffix + ext;
}

/** The string without these characters at either end (a loop: a regex could go quadratic). */
function trimChars(s: string, chars: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && chars.includes(s[start]!)) start++;
  while (end > start && chars.includes(s[end - 1]!)) end--;
  return s.slice(start, end);
}
