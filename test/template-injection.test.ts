// Template injection: a corpus of payloads an admin (or whoever has an admin's session) might type
// into a template, each placed in the subject, the MJML and the text where it makes sense.
//
// 1. Saving a draft refuses every payload that is or holds a tag, with a TemplateError whose
//    problems have a line (>= 1) and, when the problem is about a place, a column that points
//    inside the payload where it was put.
// 2. Rendering: the same payloads written straight into template_versions with SQL (bypassing
//    the check) and published with SQL. renderTemplate refuses every one (the version does not
//    compile), and none runs: each payload tries to set globalThis.__pwned or call process.exit,
//    and neither happens.
// 3. Look-alikes that are no tag (fullwidth or small-form brackets and percent signs, entities, a
//    stray %>) and text that would break out of the code eta generates (quotes, backslashes,
//    backticks, ${}) are accepted as text: they are stored as written and rendered exactly as
//    written, in every part (MJML passes such text through unchanged; a `<` before a character
//    that is not an ASCII letter starts no element in HTML), and nothing runs.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import {
  createTemplateStore,
  renderTemplate,
  sampleVariables,
  TemplateError,
  type TemplateProblem,
  type TemplateStore,
} from '../src/templates/index.ts';

type Where = 'subject' | 'mjml' | 'text';

interface Payload {
  what: string;
  code: string;
  /** where it makes sense (the subject is one line; raw HTML belongs in the HTML part) */
  in: Where[];
  /** why it is refused */
  why?: RegExp;
  /** the problem is about the template as a whole, or an element: a line, no column */
  noColumn?: true;
}

const ALL: Where[] = ['subject', 'mjml', 'text'];
const BODY: Where[] = ['mjml', 'text'];

// biome-ignore format: one payload a line
const REFUSED: Payload[] = [
  { what: 'constructor chain to process', code: "<%= it.constructor.constructor('return process')().exit() %>", in: ALL, why: /function calls|only template fields/ },
  { what: 'constructor of a field', code: '<%= it.customer.name.constructor %>', in: ALL, why: /constructor is not allowed/ },
  { what: 'constructor via brackets', code: "<%= it['constructor']['constructor']('globalThis.__pwned = 1')() %>", in: ALL, why: /brackets|only template fields/ },
  { what: '__proto__', code: '<%= it.__proto__ %>', in: ALL, why: /__proto__ is not allowed/ },
  { what: 'prototype pollution', code: '<% it.__proto__.polluted = 1 %>', in: ALL, why: /assignments are not allowed/ },
  { what: 'valueOf / toString', code: '<%= it.ticket.valueOf %><%= it.ticket.toString %>', in: ALL, why: /valueOf is not allowed/ },
  { what: 'raw output of an unsanitized field', code: '<%~ it.ticket.subject %>', in: ALL, why: /raw output <%~ %> is only for pre-sanitized HTML/ },
  { what: 'raw sanitized HTML outside the HTML part', code: '<%~ it.message.html %>', in: ['subject', 'text'], why: /raw output/ },
  { what: 'sanitized HTML field escaped', code: '<%= it.message.html %>', in: ALL, why: /is HTML: print it with <%~ %>/ },
  { what: 'function call on a field', code: '<%= it.customer.name.toUpperCase() %>', in: ALL, why: /function calls are not allowed/ },
  { what: 'process.exit', code: '<% process.exit(1) %>', in: ALL, why: /only template fields/ },
  { what: 'globalThis assignment', code: '<% globalThis.__pwned = 1 %>', in: ALL, why: /only template fields/ },
  { what: 'require', code: "<%= require('child_process').execSync('id') %>", in: ALL, why: /only template fields/ },
  { what: 'dynamic import', code: "<%= await import('node:fs') %>", in: ALL, why: /only template fields/ },
  { what: 'new Function', code: "<%= new Function('globalThis.__pwned = 1')() %>", in: ALL, why: /only template fields/ },
  { what: 'eval', code: "<%= eval('globalThis.__pwned = 1') %>", in: ALL, why: /only template fields/ },
  { what: 'this', code: '<%= this.constructor %>', in: ALL, why: /constructor is not allowed|unknown name this/ },
  { what: "eta's own options", code: '<%= options.varName %>', in: ALL, why: /unknown name options/ },
  { what: 'include', code: "<%~ include('evil', it) %>", in: ALL, why: /includes and layouts are not allowed/ },
  { what: 'includeFile', code: "<%~ includeFile('/etc/passwd') %>", in: ALL, why: /includes and layouts|function calls|only template fields/ },
  { what: 'layout', code: "<% layout('base') %>", in: ALL, why: /includes and layouts are not allowed/ },
  { what: 'trim marker <%-', code: '<%- globalThis.__pwned = 1 -%>', in: ALL, why: /whitespace-trim markers/ },
  { what: 'trim marker <%_', code: '<%_ globalThis.__pwned = 1 _%>', in: ALL, why: /whitespace-trim markers/ },
  { what: 'trailing trim marker', code: '<%= it.link -%>', in: ALL, why: /one field and nothing else/ },
  { what: 'comment tag <%#', code: '<%# globalThis.__pwned = 1 %>', in: ALL, why: /only template fields|not a template tag/ },
  { what: 'escaped-looking <%%', code: '<%%= process.exit() %>', in: ALL, why: /only template fields/ },
  { what: 'tag-breaking quote', code: "<%= it.ticket.subject %' + process.exit() + '%>", in: ALL, why: /only template fields/ },
  { what: 'comment hiding a tag end', code: '<%= it.link /* %> */ globalThis.__pwned = 1 %>', in: ALL, why: /one field and nothing else/ },
  { what: 'string hiding a tag end', code: "<% if (it.link) { '%>' } globalThis.__pwned = 1 %>", in: ALL, why: /not a template tag|an if takes one field/ },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the template literal is the payload
  { what: 'template literal', code: '<%= `${globalThis.__pwned = 1}` %>', in: ALL, why: /template literals are not allowed/ },
  { what: 'statement after a field', code: '<%= it.customer.name; globalThis.__pwned = 1 %>', in: ALL, why: /only template fields/ },
  { what: 'comma operator', code: '<%= (it.customer.name, process.exit()) %>', in: ALL, why: /only template fields/ },
  { what: 'nullish fallback to code', code: '<%= it.customer.name ?? process.exit() %>', in: ALL, why: /only template fields/ },
  { what: 'optional chaining', code: '<%= it?.customer?.name %>', in: ALL, why: /one field and nothing else/ },
  { what: 'condition with code', code: '<% if (it.link || process.exit()) { %><% } %>', in: ALL, why: /only template fields/ },
  { what: 'else with code', code: '<% if (it.link) { %>a<% } else { globalThis.__pwned = 1 } %>', in: ALL, why: /only template fields/ },
  { what: 'closing brace with code', code: '<% } globalThis.__pwned = 1; { %>', in: ALL, why: /only template fields/ },
  { what: 'unclosed if', code: '<% if (it.link) { %>open', in: ALL, why: /the if opened on line \d+ is never closed/ },
  { what: 'stray close', code: 'x <% } %>', in: ALL, why: /closes nothing/ },
  { what: 'unclosed tag', code: 'x <%= it.link', in: ALL, why: /not closed with %>/ },
  { what: 'multi-line tag', code: '<%= it.link\n%>', in: BODY, why: /must fit on one line/ },
  { what: 'loop over its own variable', code: '<% for (const x of x.attachments) { %><% } %>', in: ALL, why: /uses the loop's own variable x/ },
  { what: 'loop variable named it', code: '<% for (const it of it.message.attachments) { %><% } %>', in: ALL, why: /it cannot be a loop variable/ },
  { what: 'loop variable constructor', code: '<% for (const constructor of it.message.attachments) { %><% } %>', in: ALL, why: /constructor cannot be a loop variable/ },
  { what: "constructor of a loop's item", code: '<% for (const f of it.message.attachments) { %><%= f.constructor %><% } %>', in: ALL, why: /constructor is not allowed/ },
  { what: 'for-in loop', code: '<% for (const k in it.message) { %><% } %>', in: ALL, why: /a loop is written/ },
  { what: 'endless loop', code: '<% for (;;) { %><% } %>', in: ALL, why: /a loop is written/ },
  { what: 'while loop', code: '<% while (true) { %><% } %>', in: ALL, why: /not a template tag|function calls/ },
  { what: 'Cyrillic і in it', code: '<%= іt.customer.name %>', in: ALL, why: /one field and nothing else/ },
  { what: 'Cyrillic а in a field', code: '<%= it.customer.nаme %>', in: ALL, why: /one field and nothing else/ },
  { what: 'zero-width joiner in a name', code: '<%= it.cus\u200dtomer.name %>', in: ALL, why: /one field and nothing else/ },
  { what: 'zero-width space after a name', code: '<%= it.customer.name\u200b %>', in: ALL, why: /one field and nothing else/ },
  { what: 'no-break space before =', code: '<%\u00a0= globalThis.__pwned = 1 %>', in: ALL, why: /only template fields|assignments/ },
  { what: 'HTML comment around a tag', code: '<!-- <% globalThis.__pwned = 1 %> -->', in: BODY, why: /only template fields/ },
  { what: 'CDATA around a tag', code: '<![CDATA[<% process.exit() %>]]>', in: BODY, why: /only template fields/ },
  { what: 'mj-include', code: '<mj-include path="/etc/passwd" />', in: ['mjml'], why: /<mj-include> is not allowed/, noColumn: true },
];

// Not tags at all: accepted as the text they are.
// biome-ignore format: one payload a line
const INERT: Payload[] = [
  { what: 'fullwidth angle brackets', code: "＜%= it.constructor.constructor('globalThis.__pwned = 1')() %＞", in: ALL },
  { what: 'fullwidth percent sign', code: '<％= globalThis.__pwned = 1 ％>', in: ALL },
  { what: 'small-form brackets', code: '﹤% process.exit() %﹥', in: ALL },
  { what: 'single angle quotation marks', code: '‹% process.exit() %›', in: ALL },
  { what: 'HTML entities', code: '&lt;% globalThis.__pwned = 1 %&gt;', in: ALL },
  { what: 'a stray tag end', code: 'x %> globalThis.__pwned = 1', in: ALL },
  { what: 'Cyrillic look-alike, no tag', code: 'іt.constructor.constructor("globalThis.__pwned = 1")()', in: ALL },
  { what: "quote breaking eta's string", code: "'; globalThis.__pwned = 1; '", in: ALL },
  { what: "backslash breaking eta's string", code: "\\'; globalThis.__pwned = 1; //", in: ALL },
  { what: 'backticks', code: '`+(globalThis.__pwned = 1)+`', in: ALL },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the template literal is the payload
  { what: 'template literal placeholder', code: '${globalThis.__pwned = 1}', in: ALL },
  { what: 'mustache', code: "{{constructor.constructor('globalThis.__pwned = 1')()}}", in: ALL },
];

const MJML_HEAD = '<mjml lang="en"><mj-body><mj-section><mj-column>\n<mj-text>\n';
const MJML_TAIL = '\n</mj-text>\n</mj-column></mj-section></mj-body></mjml>';
const SAFE = {
  subject: 'Re: <%= it.ticket.subject %>',
  mjml: `${MJML_HEAD}Hello <%= it.customer.name %>${MJML_TAIL}`,
  text: 'Hello <%= it.customer.name %>\n',
};

/** The template with the payload in one part, and where in that part it starts. */
function placed(p: Payload, where: Where) {
  const prefix = { subject: 'Re: ', mjml: `${MJML_HEAD}  `, text: 'Hello\n  ' }[where];
  const suffix = { subject: '', mjml: MJML_TAIL, text: '\nBye\n' }[where];
  const value = `${prefix}${p.code}${suffix}`;
  return { source: { ...SAFE, [where]: value }, value, start: prefix.length, end: prefix.length + p.code.length };
}

/** The offset in `s` of a 1-based line and column. */
function offsetOf(s: string, line: number, column: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) at = s.indexOf('\n', at) + 1;
  return at + column - 1;
}

const PART: Record<Where, TemplateProblem['part']> = { subject: 'subject', mjml: 'html', text: 'text' };
const cases = (list: Payload[]) => list.flatMap((p) => p.in.map((where) => ({ p, where })));

let t: TestDatabase;
let store: TemplateStore;
let exits: unknown[];

beforeAll(async () => {
  t = await createTestDatabase();
  store = createTemplateStore(t.db);
  await t.db.raw(
    `INSERT INTO agents (id, name, email, role) OVERRIDING SYSTEM VALUE VALUES (1, 'Ada Admin', 'ada@example.test', 'admin')`,
  );
  await t.db.raw(`INSERT INTO templates (name, locale) VALUES ('agent_reply', 'en')`);
  exits = [];
  vi.spyOn(process, 'exit').mockImplementation(((code?: number) => {
    exits.push(code);
    throw new Error('process.exit called');
  }) as typeof process.exit);
});

afterAll(() => {
  vi.restoreAllMocks();
});

afterEach(() => {
  // the canary: no payload ran, whatever the test expected
  expect((globalThis as { __pwned?: unknown }).__pwned).toBeUndefined();
  expect(exits).toEqual([]);
});

let nextVersion = 0;
/** Writes the source as the next version and publishes it, with SQL only: no check on the way. */
async function publishUnchecked(source: typeof SAFE): Promise<number> {
  const version = ++nextVersion;
  await t.db.raw(
    `WITH tpl AS (SELECT id FROM templates WHERE name = 'agent_reply' AND locale = 'en'),
          v AS (INSERT INTO template_versions (template_id, version, subject, mjml, text)
                SELECT id, ?, ?, ?, ? FROM tpl RETURNING template_id, version)
     UPDATE templates SET published_version = v.version FROM v WHERE templates.id = v.template_id`,
    [version, source.subject, source.mjml, source.text],
  );
  return version;
}

describe('the corpus', () => {
  it('is large enough and every payload tries to run code', () => {
    expect(REFUSED.length + INERT.length).toBeGreaterThanOrEqual(30);
    expect(cases(REFUSED).length + cases(INERT).length).toBeGreaterThanOrEqual(90);
  });
});

describe('saving a draft refuses every payload, pointing into it', () => {
  for (const { p, where } of cases(REFUSED)) {
    it(`${p.what} in the ${where}`, async () => {
      const { source, value, start, end } = placed(p, where);
      const err = await store
        .saveDraft({ name: 'agent_reply', locale: 'en', ...source, authorId: 1 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TemplateError);
      const problems = (err as TemplateError).problems;
      expect(problems.length).toBeGreaterThan(0);
      if (p.why) expect(problems.map((x) => x.message).join('\n')).toMatch(p.why);
      for (const problem of problems) {
        expect(problem.part).toBe(PART[where]);
        expect(problem.line).toBeGreaterThanOrEqual(1);
        if (p.noColumn) {
          expect(offsetOf(value, problem.line, 1)).toBeLessThanOrEqual(start);
          continue;
        }
        expect(problem.column).toBeGreaterThanOrEqual(1);
        const at = offsetOf(value, problem.line, problem.column!);
        expect(at, `${problem.message} at ${problem.line}:${problem.column}`).toBeGreaterThanOrEqual(start);
        expect(at).toBeLessThan(end);
      }
      expect(await store.draft('agent_reply', 'en')).toBeUndefined();
    });
  }
});

describe('rendering a payload stored without the check refuses it, and nothing runs', () => {
  for (const { p, where } of cases(REFUSED)) {
    it(`${p.what} in the ${where}`, async () => {
      const version = await publishUnchecked(placed(p, where).source);
      const err = await renderTemplate(t.db, 'agent_reply', 'en', sampleVariables('agent_reply')).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TemplateError);
      expect((err as TemplateError).problems[0]).toMatchObject({ name: 'agent_reply', part: PART[where] });
      expect(version).toBeGreaterThan(0);
    });
  }
});

describe('look-alikes and code-breaking text are inert: accepted, rendered literally, nothing runs', () => {
  for (const { p, where } of cases(INERT)) {
    it(`${p.what} in the ${where}`, async () => {
      const { source } = placed(p, where);
      await store.saveDraft({ name: 'agent_reply', locale: 'en', ...source, authorId: 1 });
      expect((await store.draft('agent_reply', 'en'))![where]).toBe(source[where]);
      await store.discardDraft('agent_reply', 'en');

      const version = await publishUnchecked(source);
      const mail = await renderTemplate(t.db, 'agent_reply', 'en', sampleVariables('agent_reply'));
      expect(mail.version).toBe(version);
      if (where === 'subject') expect(mail.subject).toBe(`Re: ${p.code}`);
      if (where === 'text') expect(mail.text).toBe(`Hello\n  ${p.code}\nBye\n`);
      if (where === 'mjml') expect(mail.html).toContain(p.code);
    });
  }
});
