// The one rule of who wrote a mail and how far to believe it (src/inbound/trust.ts), table-driven:
// each row is a From as it arrives and the verdicts authentication gave.
import { describe, expect, it } from 'vitest';
import type { AuthResult, Verdict } from '../src/inbound/auth.ts';
import { parseMail } from '../src/inbound/parse.ts';
import { authorship, type Trust } from '../src/inbound/trust.ts';

function auth(dmarc: Verdict, fromDomain: string | undefined, fromAligned = dmarc === 'pass'): AuthResult {
  return {
    spf: 'none',
    dkim: 'none',
    dkimDomains: [],
    dmarc,
    ...(fromDomain && { fromDomain }),
    fromAligned,
    header: 'mx.test; none',
  };
}

interface Row {
  name: string;
  /** the From field(s) as written, one string per field; none for a mail without From */
  from: string[];
  auth: AuthResult | undefined;
  trust: Trust;
  author?: string;
  envelope?: string;
}

const rows: Row[] = [
  {
    name: 'DMARC pass',
    from: ['Ann <ann@good.test>'],
    auth: auth('pass', 'good.test'),
    trust: 'authenticated',
    author: 'ann@good.test',
  },
  {
    name: 'no DMARC record, aligned SPF or DKIM pass',
    from: ['ann@good.test'],
    auth: auth('none', 'good.test', true),
    trust: 'authenticated',
    author: 'ann@good.test',
  },
  {
    name: 'no DMARC record, nothing aligned',
    from: ['ann@good.test'],
    auth: auth('none', 'good.test'),
    trust: 'unauthenticated',
  },
  { name: 'DMARC temperror', from: ['ann@good.test'], auth: auth('temperror', 'good.test'), trust: 'unauthenticated' },
  { name: 'DMARC permerror', from: ['ann@good.test'], auth: auth('permerror', 'good.test'), trust: 'unauthenticated' },
  {
    name: 'DMARC fail',
    from: ['ann@good.test'],
    auth: auth('fail', 'good.test'),
    trust: 'untrusted',
    author: 'ann@good.test',
  },
  { name: 'not checked', from: ['ann@good.test'], auth: undefined, trust: 'unauthenticated', author: 'ann@good.test' },
  {
    name: 'two mailboxes in the From',
    from: ['ann@good.test, boss@good.test'],
    auth: auth('pass', 'good.test'),
    trust: 'untrusted',
  },
  { name: 'a group', from: ['Team: ann@good.test;'], auth: auth('pass', 'good.test'), trust: 'untrusted' },
  { name: 'an empty group', from: ['undisclosed-recipients:;'], auth: auth('none', undefined), trust: 'untrusted' },
  {
    name: 'two From fields',
    from: ['ann@good.test', 'boss@other.test'],
    auth: auth('pass', 'good.test'),
    trust: 'untrusted',
  },
  {
    name: 'no From: the envelope sender is the author, untrusted',
    from: [],
    auth: auth('permerror', undefined),
    trust: 'untrusted',
    author: 'bounce@envelope.test',
    envelope: 'bounce@envelope.test',
  },
  {
    name: 'a From domain other than the one DMARC evaluated',
    from: ['ann@evil.test'],
    auth: auth('pass', 'good.test'),
    trust: 'untrusted',
    author: 'ann@evil.test',
  },
  {
    name: 'an internationalised From domain: no DMARC verdict is relied on',
    from: ['Bea <bea@bücher.example>'],
    auth: auth('pass', 'bücher.example'),
    trust: 'unauthenticated',
    author: 'bea@bücher.example',
  },
  {
    name: 'a From domain in fullwidth look-alike characters',
    from: ['Vera <vera@ｋustomer.test>'],
    auth: auth('none', 'ｋustomer.test'),
    trust: 'untrusted',
    author: 'vera@ｋustomer.test',
  },
  { name: 'no address in the From', from: ['Just A Name'], auth: auth('none', undefined), trust: 'untrusted' },
];

describe('authorship', () => {
  it.each(rows)('$name: $trust', async (row) => {
    const raw = Buffer.from(
      [...row.from.map((f) => `From: ${f}`), 'To: support@localhost', 'Subject: hi', '', 'Hello', ''].join('\r\n'),
    );
    const mail = await parseMail(raw);
    const got = authorship(mail, row.envelope ?? '', row.auth);
    expect(got.trust).toBe(row.trust);
    expect(got.reason.length).toBeGreaterThan(0);
    if (row.author !== undefined) expect(got.author?.address).toBe(row.author);
    if (row.trust === 'untrusted' && row.author === undefined) expect(got.author).toBeUndefined();
  });
});
