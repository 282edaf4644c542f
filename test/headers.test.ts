import { describe, expect, it } from 'vitest';
import { HeaderScanner, findMessageId } from '../src/ingest/index.ts';
import { inboxAddressOf } from '../src/inboxes/index.ts';

describe('Message-ID from the header block', () => {
  it.each([
    ['Message-ID: <a@b>\r\n', '<a@b>'],
    ['message-id:<a@b>\r\n', '<a@b>'],
    ['MESSAGE-ID:   <a@b>  (comment)\r\n', '<a@b>'],
    ['Message-ID:\r\n <folded@host>\r\n', '<folded@host>'],
    ['Message-Id: no-brackets@host\r\n', 'no-brackets@host'],
    ['X-Message-ID: <not-this@x>\r\nMessage-ID: <this@x>\r\n', '<this@x>'],
    ['Subject: Message-ID: <in-subject@x>\r\n', undefined],
    ['Message-ID:\r\n', undefined],
    ['Subject: none\r\n', undefined],
  ])('%j -> %s', (header, expected) => {
    expect(findMessageId(header)).toBe(expected);
  });

  it('stops at the end of the header block, whatever the chunking', () => {
    const mail = 'Subject: x\r\nMessage-ID: <head@x>\r\n\r\nMessage-ID: <body@x>\r\n';
    for (let size = 1; size < mail.length; size += 3) {
      const s = new HeaderScanner();
      for (let i = 0; i < mail.length; i += size) s.push(Buffer.from(mail.slice(i, i + size)));
      expect(s.messageId()).toBe('<head@x>');
    }
    const bodyOnly = new HeaderScanner();
    bodyOnly.push(Buffer.from('Subject: x\n\nMessage-ID: <body@x>\n'));
    expect(bodyOnly.messageId()).toBeUndefined();
  });

  it('keeps a hostile Message-ID to a bounded size', () => {
    const s = new HeaderScanner();
    s.push(Buffer.from(`Message-ID: ${'a'.repeat(100_000)}\r\n\r\n`));
    expect(s.messageId()!.length).toBe(998);
  });
});

describe('inbox address of a recipient', () => {
  it.each([
    ['support@localhost', 'support@localhost'],
    ['Support@LocalHost', 'support@localhost'],
    ['support+token123@localhost', 'support@localhost'],
    ['support+a+b@example.com', 'support@example.com'],
    [' support@example.com ', 'support@example.com'],
    ['+tag@example.com', '+tag@example.com'],
  ])('%s -> %s', (rcpt, inbox) => {
    expect(inboxAddressOf(rcpt)).toBe(inbox);
  });
});
