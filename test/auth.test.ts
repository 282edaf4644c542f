// SPF, DKIM and DMARC verdicts of inbound mail. Every DNS answer comes from an in-memory zone:
// keys are made here, signatures by mailauth's own signer, so nothing depends on outside DNS.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { dkimSign } from 'mailauth';
import type { DKIMSignOptions } from 'mailauth';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authenticateMail, cachingResolver, staticResolver } from '../src/inbound/auth.ts';
import type { AuthInput, DnsResolver, Verdict } from '../src/inbound/auth.ts';

const MTA = 'mx.inbound.test';
const REJECT = [['v=DMARC1; p=reject']];

interface KeyPair {
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  privateKey: string;
  /** the p= value of the DKIM record */
  publicKey: string;
}

// Fixed test keys and a fixed signing time make every signature of this file the same on every
// run. The signer reads the clock for t= as it builds the signature: without a fixed signTime,
// about one signature in 600 straddled a second and carried a t= other than the one it signed,
// which the verifier rightly called a bad signature (a rare flake of the signer, not the verifier).
const rsa: KeyPair = {
  algorithm: 'rsa-sha256',
  privateKey: `-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDGKYePaRNEI+Ib
WMbREC6lO6WjP8INj+nwJStSTQdjnNY6JVs2/Pwoo6oetiHiQ8HS+ttxZvMdyGhi
8nebGTuXjTMJ3QnitEzhIt4KZGgPIj1/ho8w3xMXBawHz/IO71C/Hkdv5111ZTwC
0FD4hqTng42UtawkK0Q05s+iMx7nlXgfNRmhaKDyRJ1KYJUAXsJSIG4txMeFxGHo
Swl+TU83H2QV1QOxKPQUWLs5aQoKN7vYbtCKRPhUds1f834aDj0yVH1yRUxY61Ev
gZWtc1VgF3wQRlIHyweNGXgXnN3oPYtSy+ESTZiLUJJBXWbHWRb363CNtAmLrmty
CZWYwNr5AgMBAAECggEAGDvkdOyh+0uTH4qKF++tcK4cedw2gF+Y+bIl++TpMiyw
Q0ClyNIECXlIeQSHnMryBXoBw7rWIQ6M+4rRB0H8+HH/a6WhS50GqOLRej5gvncO
w82CLfUd+csLCJKM9Pgd7R2IGX6XPp/giKyOtnIK8Tg0pJraIDs9VmXivyCW1zXI
N31lKOg+N8CufSnbWf466VFyMH/d/iBVhGeZoyVsXXrOSlfetEsMtlJ7W6fKp2BF
p7hZAS9h9yeBGWaN95b1cdiLwhS5z0EyAzJq+EzdgR0EM3ab4o0KjTPxq5NLTQJX
UlPzr7TEePNkXUcScO56NBcv6K0R60kvAeXpLhxOYQKBgQD4JWuGZvP0tYv8FGuv
DWl3M0OZ8WDscJC200d5RCvwNEkbkbdp6D/ba6dPcPLFGmlF/QBPTCoDIjk0qW79
SUoYqDrsWUOPTFUgFn1Q2/rul3qEXM0ahBCjEDHeJhvUpS1kH/X8xwOKckvfw6ai
6y4cuHdmgTB5HyD1Ol9GaG2nKQKBgQDMbx6W7o0CB/lDSO9AjgeXPBPKnYmBsiJP
y3UxSkxxgAZWiJD4ce9M+4rGRpvOYchf5dw/UKqsCLG12KZVQlnjuKFghvTiu3ja
c/J/CjgN7JYO6jf5WBU60ifY0Z62ovhAJ7ghVBk4KklustmZDQQ0ZwgkZ5g8KPZA
TmTb32kfUQKBgCsAaRLAcpQ8hcaoT0TloRosAxIBV1eB5kIYePFV0/trRCQH623p
9m7yx+qnWxq3Cfk777rOKxWh76Hlnrs74SBGvvdIPMHva20FGLBTfrer/mpDnrNy
oWNwogOqPPZrrWMFet5UKpPqXKWpRQ5EjRgjC2XzC1BiCZcVh38vB5mJAoGAWjsZ
Z0i3GBRo4lfIsdd+ZjPwEFfkH0h+eHW2riC7CMWXBo6UXfP7ySClKcp0bm0eQaV0
xsVV70SPG1IaaDs27ZnKMI6ge4p/VvwiJgxenVa1DLQ4LGfCRwoG6F3tDXN02uwt
CxjRYMbZTnDGNhVWq8JmB5tpx/PUbKGtRpafEWECgYBNAofzCc0WUloiys1rV/MZ
86x3I5eSqbxtb0kzafXMElidKWlG9ca3tg8QvOGS3cu+gX2EYv8A7VUeJO6s+a78
d9LymZax9EhW77HdLOf7S/CAH3ePBVdV0j5IRh+3GoPCzqkPhqf7GY6AowWi/52P
LAP69hVF+mam2eJWYQxAAQ==
-----END PRIVATE KEY-----
`,
  publicKey:
    'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAximHj2kTRCPiG1jG0RAupTuloz/CDY/p8CUrUk0HY5zWOiVbNvz8KKOqHrYh4kPB0vrbcWbzHchoYvJ3mxk7l40zCd0J4rRM4SLeCmRoDyI9f4aPMN8TFwWsB8/yDu9Qvx5Hb+dddWU8AtBQ+Iak54ONlLWsJCtENObPojMe55V4HzUZoWig8kSdSmCVAF7CUiBuLcTHhcRh6EsJfk1PNx9kFdUDsSj0FFi7OWkKCje72G7QikT4VHbNX/N+Gg49MlR9ckVMWOtRL4GVrXNVYBd8EEZSB8sHjRl4F5zd6D2LUsvhEk2Yi1CSQV1mx1kW9+twjbQJi65rcgmVmMDa+QIDAQAB',
};

// RFC 8463 3: the record holds the bare 32-byte key, not the SPKI structure around it.
const ed25519: KeyPair = {
  algorithm: 'ed25519-sha256',
  privateKey: `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDn1mDzX08S2bmjNbXZHvGwtI5rNXvzYZkzNJRvPPGbB
-----END PRIVATE KEY-----
`,
  publicKey: 'Vzo2io6NBuMGAJeyPnhFE6BNtk1GMRJ0TB1AGee/+AE=',
};

function keyRecord(key: KeyPair): string[][] {
  return [[`v=DKIM1; k=${key.algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519'}; p=${key.publicKey}`]];
}

function mail(from: string, body = 'The printer is on fire again.\r\n'): string {
  return [
    `From: Customer <${from}>`,
    'To: help@inbound.test',
    'Subject: Printer on fire',
    'Date: Tue, 03 Mar 2026 10:00:00 +0000',
    'Message-ID: <printer-1@example.com>',
    '',
    body,
  ].join('\r\n');
}

async function signed(message: string, domain: string, key: KeyPair, selector = 'sel'): Promise<string> {
  // The bundled type wants signingDomain/selector/privateKey at the top, but the signer reads only
  // signatureData (lib/dkim/dkim-signer.js, and the README's example).
  const options = {
    algorithm: key.algorithm,
    signTime: new Date('2026-03-03T10:00:00Z'),
    signatureData: [{ signingDomain: domain, selector, privateKey: key.privateKey }],
  };
  const result = await dkimSign(message, options as DKIMSignOptions);
  expect(result.errors).toEqual([]);
  return result.signatures + message;
}

function input(raw: string | Buffer, zone: Record<string, unknown[]>, over: Partial<AuthInput> = {}): AuthInput {
  return {
    raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw),
    ip: '203.0.113.5',
    helo: 'mail.example.org',
    mailFrom: 'bounces@example.org',
    mta: MTA,
    resolver: staticResolver(zone),
    ...over,
  };
}

function dnsFailure(code: string): Error {
  return Object.assign(new Error(`${code} (test)`), { code });
}

describe('DKIM and DMARC', () => {
  it.each([rsa, ed25519])('a valid $algorithm signature of the From domain passes DMARC', async (key) => {
    const raw = await signed(mail('joe@example.com'), 'example.com', key);
    const zone = { 'TXT:sel._domainkey.example.com': keyRecord(key), 'TXT:_dmarc.example.com': REJECT };
    const result = await authenticateMail(input(raw, zone));
    expect(result).toMatchObject({
      dkim: 'pass',
      dkimDomains: ['example.com'],
      dmarc: 'pass',
      fromDomain: 'example.com',
      fromAligned: true,
    });
    expect(result.header.startsWith(`${MTA};`)).toBe(true);
    expect(result.header).toMatch(/dkim=pass/);
    expect(result.header).toMatch(/dmarc=pass/);
  });

  it('a signature by a subdomain aligns (relaxed) with the From domain', async () => {
    const raw = await signed(mail('joe@example.com'), 'mail.example.com', rsa);
    const zone = { 'TXT:sel._domainkey.mail.example.com': keyRecord(rsa), 'TXT:_dmarc.example.com': REJECT };
    const result = await authenticateMail(input(raw, zone));
    expect(result).toMatchObject({
      dkim: 'pass',
      dkimDomains: ['mail.example.com'],
      dmarc: 'pass',
      fromAligned: true,
    });
  });

  it('a body changed after signing fails DKIM and so DMARC', async () => {
    const raw = (await signed(mail('joe@example.com'), 'example.com', rsa)).replace(
      'is on fire again',
      'is fine again',
    );
    const zone = { 'TXT:sel._domainkey.example.com': keyRecord(rsa), 'TXT:_dmarc.example.com': REJECT };
    const result = await authenticateMail(input(raw, zone));
    // mailauth's own header says neutral (body hash did not verify); we report fail, see auth.ts.
    expect(result).toMatchObject({
      dkim: 'fail',
      dkimDomains: [],
      dmarc: 'fail',
      fromAligned: false,
    });
  });

  it('a signed header changed after signing fails DKIM and so DMARC', async () => {
    const raw = (await signed(mail('joe@example.com'), 'example.com', ed25519)).replace(
      'Subject: Printer on fire',
      'Subject: Invoice',
    );
    const zone = { 'TXT:sel._domainkey.example.com': keyRecord(ed25519), 'TXT:_dmarc.example.com': REJECT };
    const result = await authenticateMail(input(raw, zone));
    expect(result).toMatchObject({ dkim: 'fail', dmarc: 'fail', fromAligned: false });
  });

  it('a valid signature by another domain does not authenticate the From: DMARC fails under p=reject', async () => {
    const raw = await signed(mail('ceo@example.com'), 'example.net', rsa);
    const zone = { 'TXT:sel._domainkey.example.net': keyRecord(rsa), 'TXT:_dmarc.example.com': REJECT };
    const result = await authenticateMail(input(raw, zone));
    expect(result).toMatchObject({
      dkim: 'pass',
      dkimDomains: ['example.net'],
      dmarc: 'fail',
      fromDomain: 'example.com',
      fromAligned: false,
    });
  });

  it('DMARC fail under p=none is still an untrusted From', async () => {
    const raw = await signed(mail('ceo@example.com'), 'example.net', rsa);
    const zone = { 'TXT:sel._domainkey.example.net': keyRecord(rsa), 'TXT:_dmarc.example.com': [['v=DMARC1; p=none']] };
    const result = await authenticateMail(input(raw, zone));
    expect(result).toMatchObject({ dmarc: 'fail', fromAligned: false });
  });

  it('with no DMARC record, nothing signed and no SPF, the From is untrusted', async () => {
    // Anyone can write any From; without a DMARC pass or an aligned SPF/DKIM pass nothing ties the
    // mail to that domain, so the address alone must not pick a ticket.
    const result = await authenticateMail(input(mail('joe@example.com'), {}));
    expect(result).toMatchObject({
      spf: 'none',
      dkim: 'none',
      dkimDomains: [],
      dmarc: 'none',
      fromDomain: 'example.com',
      fromAligned: false,
    });
  });

  it('with no DMARC record, an aligned DKIM pass authenticates the From', async () => {
    const raw = await signed(mail('joe@example.com'), 'example.com', ed25519);
    const result = await authenticateMail(input(raw, { 'TXT:sel._domainkey.example.com': keyRecord(ed25519) }));
    expect(result).toMatchObject({ dkim: 'pass', dmarc: 'none', fromAligned: true });
  });

  it('with no DMARC record, an unaligned DKIM pass does not', async () => {
    const raw = await signed(mail('joe@example.com'), 'example.net', ed25519);
    const result = await authenticateMail(input(raw, { 'TXT:sel._domainkey.example.net': keyRecord(ed25519) }));
    expect(result).toMatchObject({ dkim: 'pass', dmarc: 'none', fromAligned: false });
  });

  it('a signature whose key is not published is neutral, and authenticates nothing', async () => {
    const raw = await signed(mail('joe@example.com'), 'example.com', rsa);
    const result = await authenticateMail(input(raw, { 'TXT:_dmarc.example.com': REJECT }));
    expect(result).toMatchObject({ dkim: 'neutral', dkimDomains: [], dmarc: 'fail', fromAligned: false });
  });

  it('the best of several signatures counts: one passing is enough', async () => {
    const once = await signed(mail('joe@example.com'), 'example.com', rsa, 'gone');
    const raw = await signed(once, 'example.com', ed25519, 'sel');
    const zone = { 'TXT:sel._domainkey.example.com': keyRecord(ed25519), 'TXT:_dmarc.example.com': REJECT };
    const result = await authenticateMail(input(raw, zone));
    expect(result).toMatchObject({ dkim: 'pass', dmarc: 'pass', fromAligned: true });
    expect(result.header).toMatch(/dkim=neutral/);
  });

  it('several From addresses cannot be evaluated: permerror, untrusted', async () => {
    const raw = mail('joe@example.com').replace(
      'From: Customer <joe@example.com>',
      'From: joe@example.com, ann@example.net',
    );
    const result = await authenticateMail(input(raw, { 'TXT:_dmarc.example.com': REJECT }));
    expect(result).toMatchObject({ dmarc: 'permerror', fromAligned: false });
    expect(result.fromDomain).toBeUndefined();
  });
});

describe('SPF', () => {
  const spfZone = { 'TXT:example.com': [['v=spf1 ip4:192.0.2.10 -all']], 'TXT:_dmarc.example.com': REJECT };

  it('an allowed client IP passes SPF, and DMARC through the aligned envelope domain', async () => {
    const result = await authenticateMail(
      input(mail('joe@example.com'), spfZone, { ip: '192.0.2.10', mailFrom: 'bounces@example.com' }),
    );
    expect(result).toMatchObject({ spf: 'pass', dkim: 'none', dmarc: 'pass', fromAligned: true });
    expect(result.header).toMatch(/spf=pass/);
  });

  it('another client IP fails SPF, and DMARC with it', async () => {
    const result = await authenticateMail(
      input(mail('joe@example.com'), spfZone, { ip: '198.51.100.7', mailFrom: 'bounces@example.com' }),
    );
    expect(result).toMatchObject({ spf: 'fail', dmarc: 'fail', fromAligned: false });
  });

  it('an SPF pass for the From domain authenticates it when there is no DMARC record', async () => {
    const zone = { 'TXT:example.com': [['v=spf1 ip4:192.0.2.10 -all']] };
    const result = await authenticateMail(
      input(mail('joe@example.com'), zone, { ip: '192.0.2.10', mailFrom: 'bounces@example.com' }),
    );
    expect(result).toMatchObject({ spf: 'pass', dmarc: 'none', fromAligned: true });
  });

  it.each([
    ['evil.com', 'victim.com'],
    ['evil.co.uk', 'victim.co.uk'],
    ['mail.evil.com', 'victim.com'],
  ])(
    'an SPF pass for %s does not authenticate a From at %s (one suffix is no organization)',
    async (envelope, from) => {
      const zone = { [`TXT:${envelope}`]: [['v=spf1 ip4:192.0.2.10 -all']] };
      const result = await authenticateMail(
        input(mail(`vera@${from}`), zone, { ip: '192.0.2.10', mailFrom: `mallory@${envelope}` }),
      );
      expect(result).toMatchObject({ spf: 'pass', dmarc: 'none', fromAligned: false });
    },
  );

  it('an SPF pass for a subdomain of the From domain authenticates it when there is no DMARC record', async () => {
    const zone = { 'TXT:bounce.example.com': [['v=spf1 ip4:192.0.2.10 -all']] };
    const result = await authenticateMail(
      input(mail('joe@example.com'), zone, { ip: '192.0.2.10', mailFrom: 'b@bounce.example.com' }),
    );
    expect(result).toMatchObject({ spf: 'pass', dmarc: 'none', fromAligned: true });
  });

  it('an SPF pass for another envelope domain does not', async () => {
    const zone = { 'TXT:example.net': [['v=spf1 ip4:192.0.2.10 -all']] };
    const result = await authenticateMail(
      input(mail('joe@example.com'), zone, { ip: '192.0.2.10', mailFrom: 'bounces@example.net' }),
    );
    expect(result).toMatchObject({ spf: 'pass', dmarc: 'none', fromAligned: false });
  });

  it('a null sender is checked against the HELO name', async () => {
    const zone = { 'TXT:mx.example.com': [['v=spf1 ip4:192.0.2.10 -all']] };
    const result = await authenticateMail(
      input(mail('mailer-daemon@example.com'), zone, { ip: '192.0.2.10', helo: 'mx.example.com', mailFrom: '' }),
    );
    expect(result.spf).toBe('pass');
  });

  it('mail from 127.0.0.1 gets no exemption', async () => {
    const result = await authenticateMail(
      input(mail('joe@example.com'), spfZone, { ip: '127.0.0.1', helo: 'localhost', mailFrom: 'joe@example.com' }),
    );
    expect(result).toMatchObject({ spf: 'fail', dmarc: 'fail', fromAligned: false });
  });
});

describe('DNS failures', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('timeouts become temperror; the call resolves and the From is untrusted', async () => {
    const raw = await signed(mail('joe@example.com'), 'example.com', rsa);
    const timingOut: DnsResolver = async () => {
      throw dnsFailure('ETIMEOUT');
    };
    const result = await authenticateMail(input(raw, {}, { resolver: timingOut, mailFrom: 'bounces@example.com' }));
    expect(result).toMatchObject({
      spf: 'temperror',
      dkim: 'temperror',
      dmarc: 'temperror',
      fromAligned: false,
    });
  });

  it('a DMARC lookup that fails leaves the From unaligned, even with an aligned DKIM pass (the policy may be reject)', async () => {
    const raw = await signed(mail('joe@example.com'), 'example.com', rsa);
    const zone = staticResolver({ 'TXT:sel._domainkey.example.com': keyRecord(rsa) });
    const resolver: DnsResolver = async (name, rrtype) => {
      if (name.startsWith('_dmarc.')) throw dnsFailure('ESERVFAIL');
      return zone(name, rrtype);
    };
    const result = await authenticateMail(input(raw, {}, { resolver }));
    expect(result).toMatchObject({
      dkim: 'pass',
      dkimDomains: ['example.com'],
      dmarc: 'temperror',
      fromAligned: false,
    });
  });

  it('a resolver that never answers cannot hang the worker', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const raw = await signed(mail('joe@example.com'), 'example.com', rsa);
    const silent: DnsResolver = () => new Promise(() => {});
    let settled = false;
    const pending = authenticateMail(input(raw, {}, { resolver: silent, mailFrom: 'bounces@example.com' })).finally(
      () => {
        settled = true;
      },
    );
    for (let second = 0; !settled && second < 120; second++) await vi.advanceTimersByTimeAsync(1_000);
    expect(settled).toBe(true);
    expect(await pending).toMatchObject({
      spf: 'temperror',
      dkim: 'temperror',
      dmarc: 'temperror',
      fromAligned: false,
    });
  });

  it('a message without a usable header block resolves, unauthenticated', async () => {
    for (const raw of ['', 'no header block at all', '\r\n\r\n']) {
      const result = await authenticateMail(input(raw, {}));
      expect(result).toMatchObject({ dkim: 'none', dmarc: 'permerror', fromAligned: false });
      expect(result.fromDomain).toBeUndefined();
    }
  });

  it('mailauth itself failing resolves as permerror, with the reason in the header', async () => {
    // No input found makes mailauth throw (it maps its own failures), so stand one in.
    vi.resetModules();
    vi.doMock('mailauth', () => ({
      authenticate: async () => {
        throw new Error('parser (exploded)');
      },
      dmarc: async () => false,
    }));
    try {
      const isolated = await import('../src/inbound/auth.ts');
      const result = await isolated.authenticateMail(input(mail('joe@example.com'), {}));
      expect(result).toMatchObject({ spf: 'permerror', dkim: 'permerror', dmarc: 'permerror', fromAligned: false });
      expect(result.header).toBe(`${MTA}; none (authentication failed: parser exploded)`);
    } finally {
      vi.doUnmock('mailauth');
      vi.resetModules();
    }
  });
});

describe('staticResolver', () => {
  const resolve = staticResolver({ 'TXT:Example.COM.': [['v=spf1 -all']], 'A:example.com': ['192.0.2.1'] });

  it('answers case-insensitively, with or without the root dot', async () => {
    await expect(resolve('EXAMPLE.com.', 'txt')).resolves.toEqual([['v=spf1 -all']]);
    await expect(resolve('example.com', 'A')).resolves.toEqual(['192.0.2.1']);
  });

  it('tells a missing name (ENOTFOUND) from a missing type (ENODATA)', async () => {
    await expect(resolve('example.net', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolve('example.com', 'MX')).rejects.toMatchObject({ code: 'ENODATA' });
  });
});

// Real signed mail from DKIM libraries' fixtures, read where it lives (see its README).
const samples = process.env.MAIL_SAMPLES ?? path.resolve(import.meta.dirname, '../../shared/mail-samples');
const haveSamples = existsSync(path.join(samples, 'INDEX.tsv'));

// RFC 8463 appendix A: the keys the example message was signed with.
const RFC8463_ZONE = {
  'TXT:brisbane._domainkey.football.example.com': [
    ['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo='],
  ],
  'TXT:test._domainkey.football.example.com': [
    [
      'v=DKIM1; k=rsa; ',
      'p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB',
    ],
  ],
  'TXT:_dmarc.football.example.com': REJECT,
};

interface Sample {
  path: string;
  notes: string;
}

function dkimSamples(): Sample[] {
  return readFileSync(path.join(samples, 'INDEX.tsv'), 'utf8')
    .split('\n')
    .map((line) => line.split('\t'))
    .filter((cols) => cols[1] === 'dkim' && cols[6]?.trim() === 'message')
    .map((cols) => ({ path: cols[0] ?? '', notes: cols[5] ?? '' }));
}

describe.skipIf(!haveSamples)('mail samples with DKIM signatures', () => {
  const rfc8463 = 'dkim/mailauth/dkim-ec/signed.eml';

  it('the RFC 8463 example verifies with both the ed25519 and the RSA key of the RFC', async () => {
    const raw = readFileSync(path.join(samples, rfc8463));
    const result = await authenticateMail(input(raw, RFC8463_ZONE));
    expect(result).toMatchObject({
      dkim: 'pass',
      dkimDomains: ['football.example.com'],
      dmarc: 'pass',
      fromDomain: 'football.example.com',
      fromAligned: true,
    });
    // Each signature on its own, not just the best of the two.
    expect(result.header).toMatch(/dkim=pass[^;]*header\.s=brisbane/);
    expect(result.header).toMatch(/dkim=pass[^;]*header\.s=test/);
  });

  it('the RFC 8463 example with its body changed fails both signatures', async () => {
    const raw = readFileSync(path.join(samples, rfc8463), 'latin1').replace('We lost the game.', 'We won the game.');
    const result = await authenticateMail(input(raw, RFC8463_ZONE));
    expect(result).toMatchObject({ dkim: 'fail', dkimDomains: [], dmarc: 'fail', fromAligned: false });
  });

  it('the other samples resolve, without a pass, when no key is published', async () => {
    const others = dkimSamples().filter((s) => s.path !== rfc8463);
    expect(others.length).toBeGreaterThan(0);
    const allowed: Verdict[] = ['fail', 'temperror', 'permerror', 'none', 'neutral'];
    for (const sample of others) {
      const result = await authenticateMail(input(readFileSync(path.join(samples, sample.path)), {}));
      expect(allowed, `${sample.path} (${sample.notes})`).toContain(result.dkim);
      expect(result.dkimDomains, sample.path).toEqual([]);
      expect(result.fromAligned, sample.path).toBe(false);
    }
  });
});

describe('cachingResolver', () => {
  it('keeps answers and "no such record" for a while, and asks again after a timeout', async () => {
    const asked: string[] = [];
    const answers: Record<string, () => unknown> = {
      'TXT:a.example': () => [['v=spf1 -all']],
      'TXT:none.example': () => {
        throw Object.assign(new Error('no such name'), { code: 'ENOTFOUND' });
      },
      'TXT:slow.example': () => {
        throw Object.assign(new Error('timed out'), { code: 'ETIMEOUT' });
      },
    };
    const resolver = cachingResolver(async (name, rrtype) => {
      asked.push(`${rrtype}:${name}`);
      return answers[`${rrtype}:${name}`]!();
    });
    expect(await resolver('a.example', 'TXT')).toEqual([['v=spf1 -all']]);
    expect(await resolver('A.Example', 'TXT')).toEqual([['v=spf1 -all']]);
    await expect(resolver('none.example', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver('none.example', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver('slow.example', 'TXT')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    await expect(resolver('slow.example', 'TXT')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(asked).toEqual(['TXT:a.example', 'TXT:none.example', 'TXT:slow.example', 'TXT:slow.example']);
  });
});
