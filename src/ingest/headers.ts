// Reads the Message-ID from the head of a mail while its bytes stream in, without parsing the
// whole mail: ingest only needs it for de-duplication; the worker parses everything later.

/** How much of a mail we look at for its header block. Real headers are far smaller. */
const MAX_HEADER_BYTES = 256 * 1024;
/** Longest Message-ID we keep (RFC 5322 line limit); longer ones are cut, still deterministically. */
const MAX_MESSAGE_ID = 998;
/**
 * Longest field value a pattern reads here: the bound and the reason of MAX_HEADER_CHARS in
 * inbound/mail-fields.ts (4,096: above a 998-character line, as a field may be folded), kept
 * apart because the SMTP role does not load the worker's modules.
 */
const MAX_FIELD_CHARS = 4_096;

export class HeaderScanner {
  private parts: Buffer[] = [];
  private length = 0;
  private done = false;
  private header: string | undefined;

  /** Feed the next chunk of the mail. Cheap once the end of the header block was seen. */
  push(chunk: Buffer): void {
    if (this.done) return;
    this.parts.push(chunk);
    this.length += chunk.length;
    const head = Buffer.concat(this.parts, this.length);
    const end = headerEnd(head);
    if (end >= 0 || this.length >= MAX_HEADER_BYTES) {
      this.header = head.subarray(0, end >= 0 ? end : MAX_HEADER_BYTES).toString('latin1');
      this.done = true;
      this.parts = [];
    } else {
      this.parts = [head];
    }
  }

  /** The Message-ID header's value, `<id@host>` form, or undefined when the mail has none. */
  messageId(): string | undefined {
    const header = this.header ?? Buffer.concat(this.parts, this.length).toString('latin1');
    return findMessageId(header);
  }
}

function headerEnd(buf: Buffer): number {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0) return lf;
  if (lf < 0) return crlf;
  return Math.min(crlf, lf);
}

/**
 * The first Message-ID field of a header block. Linear in the block: the unfolding and the field
 * pattern are tried at line starts and stop at the line's end, and the value is cut to
 * MAX_FIELD_CHARS before the '<id>' pattern reads it.
 */
export function findMessageId(header: string): string | undefined {
  // unfold continuation lines, then look for the first Message-ID field
  const unfolded = header.replace(/\r?\n[ \t]+/g, ' ');
  const match = /^message-id[ \t]*:(.*)$/im.exec(unfolded);
  if (!match?.[1]) return undefined;
  const value = match[1].trimStart().slice(0, MAX_FIELD_CHARS).trimEnd();
  if (!value) return undefined;
  const bracketed = /<[^<>\s]+>/.exec(value);
  return (bracketed ? bracketed[0] : value).slice(0, MAX_MESSAGE_ID);
}
