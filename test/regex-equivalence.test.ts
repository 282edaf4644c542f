// The linear readers match what the patterns they replaced matched: each is compared with its old
// pattern (kept here as the oracle) on many short random strings over the characters that matter
// to it. Short strings keep the old patterns fast; the new ones are timed in regex-linear.test.ts.
import { describe, expect, it } from 'vitest';
import { asMessageId, bareAddress, humanPart, readFields, smtpCodeIn } from '../src/inbound/dsn.ts';
import { isMailAddress } from '../src/inbound/mail-fields.ts';

/** Deterministic strings: the same run finds the same difference. */
function* strings(alphabet: readonly string[], maxParts: number, count: number, seed = 1): Generator<string> {
  let state = seed;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state % n;
  };
  for (let i = 0; i < count; i++) {
    let s = '';
    for (let parts = next(maxParts + 1); parts > 0; parts--) s += alphabet[next(alphabet.length)];
    yield s;
  }
}

function expectSame<T>(
  alphabet: readonly string[],
  maxParts: number,
  oracle: (s: string) => T,
  reader: (s: string) => T,
) {
  for (const s of strings(alphabet, maxParts, 20_000)) expect(reader(s), JSON.stringify(s)).toEqual(oracle(s));
}

const OLD = {
  address: /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/,
  bracketedId: /<[^<>\s]+@[^<>\s]+>/,
  bareId: /^[^<>\s@]+@[^<>\s@]+$/,
  field: /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$/,
  codes: [
    /^[\s<>|#'"(]*([45][0-5]\d)[ -](?=[45]\.\d|[A-Za-z<#])/m,
    /(?:said|error|reply|response|returned|answer|code)\s*:?\s*[('"]?([45][0-5]\d)\b/i,
    /[>:]\s*:?\s+([45][0-5]\d)[ -](?=[45]\.\d|[A-Za-z<#])/,
  ],
  copyMark: /^[\s-]*(original message|returned message|message headers? follows?)/im,
};

describe('the linear readers read what the old patterns read', () => {
  it('isMailAddress', () => {
    const old = (s: string) => s.length <= 320 && OLD.address.test(s.trim());
    expectSame(['a', '.', '@'], 9, old, isMailAddress);
    expectSame(['a', '.', '@', ' ', ',', '<', '\t'], 12, old, isMailAddress);
  });

  it('asMessageId', () => {
    const old = (s: string) => {
      if (!s) return undefined;
      const bracketed = OLD.bracketedId.exec(s)?.[0];
      if (bracketed) return bracketed;
      const bare = OLD.bareId.exec(s.trim())?.[0];
      return bare ? `<${bare}>` : undefined;
    };
    expectSame(['<', '>', '@', 'a'], 9, old, asMessageId);
    expectSame(['<', '>', '@', 'a', ' ', '\t', '.'], 14, old, asMessageId);
  });

  it('bareAddress', () => {
    const old = (s: string) =>
      s
        .trim()
        .replace(/^<|>$/g, '')
        .replace(/[.,;:]+$/, '')
        .trim()
        .toLowerCase();
    expectSame(['.', ',', ';', ':', '<', '>', ' ', 'A', '@', '\t'], 12, old, bareAddress);
  });

  it('readFields', () => {
    const old = (block: string) => {
      const fields = new Map<string, string>();
      for (const line of block
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim()
        .split('\n')) {
        const m = OLD.field.exec(line);
        if (m?.[1] && m[2] !== undefined && !fields.has(m[1].toLowerCase()))
          fields.set(m[1].toLowerCase(), m[2].trim());
      }
      return fields;
    };
    expectSame(['A', 'b', '-', ':', ' ', '\t', '\n', '\u2028', 'x', '\r', ' \n '], 16, old, readFields);
  });

  it('smtpCodeIn', () => {
    const old = (s: string) => {
      for (const p of OLD.codes) {
        const m = p.exec(s);
        if (m?.[1]) return m[1];
      }
      return undefined;
    };
    const alphabet = [
      '550 ',
      '451-',
      '5',
      '0',
      ' ',
      '\t',
      ':',
      '>',
      '\n',
      '\r',
      '\u2028',
      '\u00a0',
      'said',
      'code',
      '(',
      'x',
    ];
    expectSame(alphabet, 10, old, smtpCodeIn);
  });

  it('humanPart', () => {
    const old = (s: string) => {
      const cut = s.search(OLD.copyMark);
      return cut > 0 ? s.slice(0, cut) : s;
    };
    const alphabet = [
      '\n',
      ' ',
      '-',
      '\t',
      '\u2028',
      '\r',
      'x',
      'original message',
      'message header follows',
      '\u00a0',
    ];
    expectSame(alphabet, 12, old, humanPart);
  });
});
