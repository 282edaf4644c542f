// MIME parsing of stored mail, with limits, so that a hostile mail is quarantined with a reason
// instead of taking the worker down.
import { isUtf8 } from 'node:buffer';
import { simpleParser, type AddressObject, type ParsedMail, type SimpleParserOptions } from 'mailparser';
import { withCharsets } from './charset.ts';

export type { ParsedMail };

export const PARSE_LIMITS = {
  /** The header block of any MIME node, the top-level message's included. */
  headerBytes: 512 * 1024,
  /** MIME nodes in the whole mail (containers and body parts, at any depth). */
  parts: 1_000,
};

/**
 * The options every parse uses: classification and content handling rely on them. The limits are
 * enforced by mailparser's own MIME splitter on what it parses, so no way of writing a header
 * (a space before the colon, a fold, an encoded word) slips past them.
 */
export const PARSER_OPTIONS = {
  // DSN fields stay an attachment of their own (bounce.ts reads them), not text of the mail
  keepDeliveryStatus: true,
  // cid: links are rewritten to our attachment URLs by sanitizing; never inlined as data: URLs
  keepCidLinks: true,
  // html-text.ts turns HTML into text; mailparser's converter is slow on huge HTML
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  // passed through to the splitter (@zone-eu/mailsplit), which fails the parse past them
  maxChildNodes: PARSE_LIMITS.parts,
  maxHeadSize: PARSE_LIMITS.headerBytes,
} as SimpleParserOptions;

export class ParseLimitError extends Error {
  override readonly name = 'ParseLimitError';
}

/** MIME nesting the charset pass follows; deeper mail is parsed as it is. */
const CHARSET_DEPTH = 64;
/**
 * us-ascii named in an RFC 2231 value or an encoded word: libmime reads 8-bit bytes there as
 * windows-1252, which hides UTF-8 as mojibake without a U+FFFD to show it.
 */
const ASCII_LABELS = ["ascii'", "ASCII'", 'ascii?', 'ASCII?'];

/**
 * Parses within the limits. Throws ParseLimitError past them, or mailparser's error.
 *
 * Mail whose bytes are not all UTF-8, or whose text shows a charset read wrong (U+FFFD, or the
 * escapes of ISO-2022-JP left in it), is parsed again with its charsets made explicit by
 * evidence (charset.ts). Other mail, nearly all of it, costs a few scans of its bytes and text.
 */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  const mail = await parseWithin(raw);
  if (isUtf8(raw) && !misread(mail) && !ASCII_LABELS.some((l) => raw.includes(l))) return mail;
  try {
    const fixed = await withCharsets(raw, { ...PARSE_LIMITS, depth: CHARSET_DEPTH });
    return fixed ? await parseWithin(fixed) : mail;
  } catch {
    // the mail as the parser read it is still the mail: it stores, with its text as it came out
    return mail;
  }
}

function misread(mail: ParsedMail): boolean {
  const addresses = (a: AddressObject | AddressObject[] | undefined) => (Array.isArray(a) ? a : a ? [a] : []);
  const texts = [
    mail.text,
    typeof mail.html === 'string' ? mail.html : undefined,
    mail.subject,
    ...[mail.from, mail.to, mail.cc, mail.bcc, mail.replyTo].flatMap(addresses).map((a) => a.text),
    ...mail.attachments.map((a) => a.filename),
  ];
  return texts.some((t) => t !== undefined && (t.includes('\uFFFD') || t.includes('\u001b')));
}

async function parseWithin(raw: Buffer): Promise<ParsedMail> {
  try {
    return await simpleParser(raw, PARSER_OPTIONS);
  } catch (err) {
    const message = (err as Error).message ?? '';
    if (message.includes('child nodes exceeded'))
      throw new ParseLimitError(`more than ${PARSE_LIMITS.parts} MIME parts, over the limit`);
    if (message.includes('header size'))
      throw new ParseLimitError(`a header block over the limit of ${PARSE_LIMITS.headerBytes} bytes`);
    throw err;
  }
}
