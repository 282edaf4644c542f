// MIME parsing of stored mail, with limits, so that a hostile mail is quarantined with a reason
// instead of taking the worker down.
import { simpleParser, type ParsedMail, type SimpleParserOptions } from 'mailparser';

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

/** Parses within the limits. Throws ParseLimitError past them, or mailparser's error. */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
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
