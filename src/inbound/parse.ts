// MIME parsing of stored mail, with limits, so that a hostile mail is quarantined with a reason
// instead of taking the worker down.
import { simpleParser, type ParsedMail, type SimpleParserOptions } from 'mailparser';

export type { ParsedMail };

export const PARSE_LIMITS = {
  /** The header block of the top-level message. */
  headerBytes: 512 * 1024,
  /** multipart containers in the whole mail: a proxy for MIME depth and breadth that needs no parse. */
  multiparts: 100,
  /** Content-Type fields in the whole mail, i.e. body parts. */
  parts: 1_000,
};

/** The options every parse uses: classification and content handling rely on them. */
export const PARSER_OPTIONS: SimpleParserOptions = {
  // DSN fields stay an attachment of their own (classify.ts reads them), not text of the mail
  keepDeliveryStatus: true,
  // cid: links are rewritten to our attachment URLs by sanitizing; never inlined as data: URLs
  keepCidLinks: true,
  // content.ts turns HTML into text; mailparser's converter is slow on huge HTML
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
};

export class ParseLimitError extends Error {
  override readonly name = 'ParseLimitError';
}

/** Checks the limits on the raw bytes, then parses. Throws ParseLimitError or mailparser's error. */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  checkLimits(raw);
  return simpleParser(raw, PARSER_OPTIONS);
}

export function checkLimits(raw: Buffer): void {
  const headerEnd = findHeaderEnd(raw);
  if (headerEnd > PARSE_LIMITS.headerBytes) {
    throw new ParseLimitError(`header block of ${headerEnd} bytes is over the limit of ${PARSE_LIMITS.headerBytes}`);
  }
  // latin1 keeps one char per byte: a cheap, exact scan for the field names
  const text = raw.toString('latin1');
  const multiparts = count(text, /^content-type:[ \t]*(?:\r?\n[ \t]+)*multipart\//gim);
  if (multiparts > PARSE_LIMITS.multiparts) {
    throw new ParseLimitError(`${multiparts} multipart containers, over the limit of ${PARSE_LIMITS.multiparts}`);
  }
  const parts = count(text, /^content-type:/gim);
  if (parts > PARSE_LIMITS.parts) {
    throw new ParseLimitError(`${parts} body parts, over the limit of ${PARSE_LIMITS.parts}`);
  }
}

function findHeaderEnd(raw: Buffer): number {
  // CRLF, LF or (old Mac) CR-only line ends
  const ends = [raw.indexOf('\r\n\r\n'), raw.indexOf('\n\n'), raw.indexOf('\r\r')].filter((i) => i >= 0);
  // no separator: the whole mail is header (mailparser copes); its size is what counts
  return ends.length > 0 ? Math.min(...ends) : raw.length;
}

function count(text: string, re: RegExp): number {
  let n = 0;
  while (re.exec(text)) n++;
  return n;
}
