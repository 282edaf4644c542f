// DKIM and DMARC against signatures made by another implementation: test/fixtures/dkim holds mail
// signed by dkimpy (make.py there) in every canonicalization, over raw UTF-8 headers with 0xA0
// bytes, folded headers and encoded words, with the DNS records they need. Each must pass through
// our authenticateMail, and each altered copy must fail.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { authenticateMail, staticResolver } from '../src/inbound/auth.ts';

const dir = path.join(import.meta.dirname, 'fixtures/dkim');
const zone = JSON.parse(readFileSync(path.join(dir, 'zone.json'), 'utf8')) as Record<string, unknown[]>;
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .sort();

function check(raw: Buffer) {
  return authenticateMail({
    raw,
    ip: '192.0.2.25',
    helo: 'mail.signed.example',
    mailFrom: 'bounces@elsewhere.example',
    mta: 'mx.inbound.test',
    resolver: staticResolver(zone),
  });
}

/** The raw mail with the first `from` after the header block's start replaced by `to`. */
function alter(raw: Buffer, from: string, to: string, where: 'header' | 'body'): Buffer {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const at = where === 'header' ? text.indexOf(from) : text.indexOf(from, split);
  if (at < 0 || (where === 'header' && at > split)) throw new Error(`${from} not found in the ${where}`);
  return Buffer.from(text.slice(0, at) + to + text.slice(at + from.length), 'latin1');
}

describe('DKIM fixtures signed by dkimpy', () => {
  it('has every kind of fixture', () => {
    expect(fixtures.length).toBe(15);
    // the point of utf8-a0: bytes 0xA0 inside signed header fields
    const raw = readFileSync(path.join(dir, 'utf8-a0.rsa.relaxed.eml'));
    const headers = raw.subarray(0, raw.indexOf('\r\n\r\n'));
    expect(headers.filter((b) => b === 0xa0).length).toBeGreaterThanOrEqual(4);
  });

  describe.each(fixtures)('%s', (name) => {
    const raw = readFileSync(path.join(dir, name));
    const simpleHeaders = /\.simple(-relaxed)?\.eml$/.test(name);
    const simpleBody = /\.(simple|relaxed-simple)\.eml$/.test(name);

    it('passes DKIM and DMARC, and authenticates the From', async () => {
      const r = await check(raw);
      expect(r.dkim).toBe('pass');
      expect(r.dkimDomains).toEqual(['signed.example']);
      expect(r.dmarc).toBe('pass');
      expect(r.fromAligned).toBe(true);
      expect(r.fromAligned).toBe(true);
    });

    it('fails when a signed header is altered', async () => {
      const r = await check(alter(raw, 'Message-ID: <', 'Message-ID: <x', 'header'));
      expect(r.dkim).toBe('fail');
      expect(r.dmarc).toBe('fail');
      expect(r.fromAligned).toBe(false);
    });

    it('fails when the body is altered', async () => {
      const r = await check(alter(raw, 'invoice', 'invoices', 'body'));
      expect(r.dkim).toBe('fail');
      expect(r.dmarc).toBe('fail');
    });

    it(`${simpleBody ? 'fails' : 'passes'} when only the body's whitespace changes`, async () => {
      const r = await check(alter(raw, 'Two  spaces', 'Two    spaces', 'body'));
      expect(r.dkim).toBe(simpleBody ? 'fail' : 'pass');
    });

    it(`${simpleHeaders ? 'fails' : 'passes'} when only a signed header's whitespace changes`, async () => {
      const r = await check(alter(raw, 'Date: ', 'Date:  ', 'header'));
      expect(r.dkim).toBe(simpleHeaders ? 'fail' : 'pass');
    });
  });
});
