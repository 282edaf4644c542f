// Mail templates without a database: every default renders in both languages, output is escaped
// for where it goes, the template language refuses code, MJML problems are reported, and tags
// survive MJML in text and attributes.
import { describe, expect, it } from 'vitest';
import {
  checkTemplate,
  compileDefaultTemplates,
  compileTemplate,
  defaultSource,
  sampleVariables,
  TEMPLATE_NAMES,
  TemplateError,
  type TemplateName,
  type TemplateSource,
} from '../src/templates/index.ts';
import { ValidationError } from '../src/errors.ts';

const MJML = (body: string) =>
  `<mjml><mj-body><mj-section><mj-column>\n${body}\n</mj-column></mj-section></mj-body></mjml>`;
const source = (over: Partial<TemplateSource> = {}): TemplateSource => ({
  name: 'ack',
  locale: 'en',
  subject: 'Ticket [#<%= it.ticket.number %>]',
  mjml: MJML('<mj-text>Hello <%= it.customer.name %></mj-text>'),
  text: 'Hello <%= it.customer.name %>\n',
  ...over,
});

async function problemsOf(src: TemplateSource): Promise<string[]> {
  return (await checkTemplate(src)).problems.map((p) => `${p.part}:${p.line}: ${p.message}`);
}

describe('default templates', () => {
  it('all compile at start-up', async () => {
    expect(await compileDefaultTemplates()).toEqual({ compiled: TEMPLATE_NAMES.length * 2 });
  });

  for (const name of TEMPLATE_NAMES) {
    for (const locale of ['en', 'de']) {
      it(`${name} (${locale}) renders a real mail`, async () => {
        const vars = sampleVariables(name);
        const mail = (await compileTemplate(defaultSource(name, locale)!)).render(vars);
        expect(mail.subject).not.toMatch(/<%|%>|\n/);
        expect(mail.html).toMatch(/^<!doctype html>/i);
        expect(mail.html).toContain(`lang="${locale}"`);
        expect(mail.html).not.toMatch(/<%|tpl[0-9a-f]{8}x|<img/);
        expect(mail.text).not.toMatch(/<%|%>|&amp;|&lt;|<[a-z]/);
        for (const part of [mail.html, mail.text]) {
          expect(part).toContain(vars.link);
          expect(part).toContain(vars.inbox.name);
        }
        if ('ticket' in vars) {
          expect(mail.subject).toContain(`[#${vars.ticket.number}]`);
          expect(mail.text).toContain(`[#${vars.ticket.number}]`);
          expect(mail.html).toContain(`href="${vars.link}"`);
        } else if ('link_expires_minutes' in vars) {
          expect(mail.text).toContain(`${vars.link_expires_minutes}`);
        } else {
          expect(mail.text).toContain(`${vars.link_expires_hours}`);
        }
        if ('message' in vars) {
          expect(mail.html).toContain(vars.message.html); // the sanitized body, raw
          expect(mail.text).toContain(vars.message.text);
          expect(mail.html).toContain(`href="${vars.message.attachments[0]!.url}"`);
          expect(mail.text).toContain(vars.agent.name);
        }
      });
    }
  }

  it('the German mails are in German', async () => {
    const mail = (await compileTemplate(defaultSource('password_reset', 'de')!)).render(
      sampleVariables('password_reset'),
    );
    expect(mail.text).toContain('Dieser Link gilt 24 Stunden');
    expect(mail.subject).toBe('Passwort zurücksetzen für das Portal von Example Support');
  });

  it('an empty name and subject read naturally', async () => {
    const vars = {
      ...sampleVariables('ack'),
      customer: { name: '', email: 'x@example.com' },
      ticket: { number: 7, subject: '', status: 'open' },
      link_expires_days: null,
    };
    const mail = (await compileTemplate(defaultSource('ack', 'en')!)).render(vars);
    expect(mail.subject).toBe('[#7] Your request');
    expect(mail.text).toContain('\nHello,\n');
    expect(mail.text).not.toContain('works for');
    // a line holding only a block tag leaves no blank line behind
    expect(mail.text).not.toMatch(/\n\n\n/);
  });

  it('no attachments, no attachment list', async () => {
    const vars = sampleVariables('agent_reply');
    vars.message.attachments = [];
    const mail = (await compileTemplate(defaultSource('agent_reply', 'en')!)).render(vars);
    expect(mail.text).not.toContain('Attachments');
    expect(mail.html).not.toContain('Attachments');
  });
});

describe('escaping', () => {
  const hostile = '<script>alert("x")</script> & Co';
  async function render(name: TemplateName, vars: object) {
    return (await compileTemplate(defaultSource(name, 'en')!)).render(vars);
  }

  it('HTML escapes every field; text keeps it as written; the subject stays one line', async () => {
    const vars = sampleVariables('ack');
    vars.customer.name = hostile;
    vars.ticket.subject = 'Help\r\nBcc: victim@example.com <b>';
    const mail = await render('ack', vars);
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
    expect(mail.text).toContain(`Hello ${hostile},`);
    expect(mail.subject).toBe('[#1042] Help Bcc: victim@example.com <b>');
  });

  it('the sanitized HTML body is the one field printed raw; its text twin is not', async () => {
    const vars = sampleVariables('agent_reply');
    vars.message.html = '<p><b>bold</b></p>';
    vars.message.text = '<b>not bold</b>';
    vars.agent.name = '<i>Max</i>';
    const mail = await render('agent_reply', vars);
    expect(mail.html).toContain('<p><b>bold</b></p>');
    expect(mail.html).toContain('&lt;i&gt;Max&lt;/i&gt;');
    expect(mail.text).toContain('<b>not bold</b>');
  });

  it('variables are checked against the template schema when rendering', async () => {
    const t = await compileTemplate(defaultSource('ack', 'en')!);
    expect(() => t.render({ ...sampleVariables('ack'), link: 'javascript:alert(1)' })).toThrow(ValidationError);
    expect(() => t.render({ ...sampleVariables('ack'), ticket: undefined })).toThrow(/it\.ticket/);
    expect(() => t.render({ ...sampleVariables('ack'), link_expires_days: 'soon' })).toThrow(/it\.link_expires_days/);
  });
});

describe('the template language refuses code', () => {
  const cases: [string, string, RegExp][] = [
    ['function call', '<% process.exit() %>', /only template fields/],
    ['call in output', '<%= it.customer.name.toUpperCase() %>', /function calls are not allowed/],
    ['raw output of a plain field', '<%~ it.customer.name %>', /raw output <%~ %> is only for pre-sanitized HTML/],
    ['raw HTML in the text part', '<%~ it.message.html %>', /raw output/],
    ['constructor', '<%= it.constructor %>', /constructor is not allowed/],
    ['deep constructor', '<%= it.customer.name.constructor %>', /constructor is not allowed/],
    ['__proto__', '<%= it.__proto__ %>', /__proto__ is not allowed/],
    ['brackets', "<%= it['customer'] %>", /brackets are not allowed/],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the template literal is the input under test
    ['template literal', '<%= `${it.link}` %>', /template literals/],
    ['assignment', '<% it.link = "https://evil.example" %>', /assignments are not allowed/],
    [
      'unknown field',
      '<%= it.customer.password %>',
      /unknown field it\.customer\.password; known here: it\.customer\.name, it\.customer\.email/,
    ],
    ['unknown root', '<%= process.env %>', /unknown name process/],
    ['a group printed', '<%= it.customer %>', /group of fields/],
    ['a list printed', '<%= it.message.attachments %>', /is a list/],
    ['unbalanced if', '<% if (it.customer.name) { %>hi', /the if opened on line 1 is never closed/],
    ['stray close', 'hi <% } %>', /closes nothing/],
    ['else after else', '<% if (it.link) { %>a<% } else { %>b<% } else { %>c<% } %>', /else \{ without an open if/],
    ['include', '<%~ include("footer") %>', /includes and layouts/],
    ['layout', '<% layout("base") %>', /includes and layouts/],
    ['loop over a value', '<% for (const x of it.link) { %><% } %>', /is not a list/],
    ['loop variable named it', '<% for (const it of it.message.attachments) { %><% } %>', /cannot be a loop variable/],
    [
      'loop variable out of its loop',
      '<% for (const f of it.message.attachments) { %><% } %><%= f.name %>',
      /unknown name f/,
    ],
    ['trim markers', '<%- it.link %>', /whitespace-trim markers/],
    ['unclosed tag', 'a <%= it.link', /not closed with %>/],
    ['comment hiding a tag end', '<%= it.link /* %> */ %>', /one field and nothing else/],
    ['string hiding a tag end', "<% if (it.link) { '%>' } %>", /not a template tag|an if takes one field/],
    ['multi-line tag', '<%= it.link\n%>', /must fit on one line/],
    ['comparison', '<% if (it.ticket.status == "closed") { %><% } %>', /an if takes one field/],
  ];
  for (const [what, text, message] of cases) {
    it(what, async () => {
      const problems = await problemsOf(source({ name: 'agent_reply', text }));
      expect(problems.join('\n')).toMatch(message);
      expect(problems[0]).toMatch(/^text:\d+: /);
    });
  }

  it('says which template, locale, part and line', async () => {
    const err = await compileTemplate(
      source({ locale: 'de', mjml: MJML('<mj-text>a</mj-text>\n<mj-text><%= it.nope %></mj-text>') }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).problems).toEqual([
      expect.objectContaining({ name: 'ack', locale: 'de', part: 'html', line: 3 }),
    ]);
    expect((err as Error).message).toContain('ack (de) html line 3, column 10: unknown field it.nope');
  });

  it('keeps counting lines past a broken tag', async () => {
    const problems = await problemsOf(source({ text: 'a <%= it.link\n\n<%= it.nope %>\n' }));
    expect(problems).toEqual([
      expect.stringMatching(/^text:1: a tag is opened/),
      expect.stringMatching(/^text:3: unknown field it\.nope/),
    ]);
  });

  it('accepts the whole grammar', async () => {
    const text = [
      '<% if (!it.agent.name) { %>anon<% } else if (it.message.html) { %>html<% } else { %>plain<% } %>',
      '<% for (const file of it.message.attachments) { %>',
      '<% if (file.url) { %><%= file.name %>=<%= file.url %><% } %>',
      '<% } %>',
      '<% if (it.message.attachments) { %>has files<% } %>',
    ].join('\n');
    const t = await compileTemplate(source({ name: 'agent_reply', text }));
    const vars = sampleVariables('agent_reply');
    vars.agent.name = '';
    const out = t.render(vars).text;
    expect(out).toBe(`anon\ninvoice-2026-118.pdf=${vars.message.attachments[0]!.url}\nhas files`);
  });
});

describe('MJML', () => {
  it('tags survive MJML in text, attributes, the title and the preview', async () => {
    const mjml = `<mjml><mj-head><mj-title>#<%= it.ticket.number %></mj-title><mj-preview><%= it.customer.name %> preview</mj-preview></mj-head><mj-body><mj-section><mj-column>
      <mj-text><a href="<%= it.link %>" title="<%= it.customer.name %>">open</a> <% if (it.customer.name) { %>named<% } %></mj-text>
      <mj-button href="<%= it.link %>">Open #<%= it.ticket.number %></mj-button>
    </mj-column></mj-section></mj-body></mjml>`;
    const vars = sampleVariables('ack');
    vars.customer.name = 'A "quoted" <name>';
    const { html } = (await compileTemplate(source({ mjml }))).render(vars);
    expect(html).toContain('<title>#1042</title>');
    expect(html).toContain('&quot;quoted&quot; &lt;name&gt; preview');
    expect(html).toContain(`<a href="${vars.link}" title="A &quot;quoted&quot; &lt;name&gt;">open</a> named`);
    expect(html.match(new RegExp(`href="${vars.link}"`, 'g'))).toHaveLength(2);
    expect(html).toContain('Open #1042');
  });

  it('block tags between components go inside <mj-raw>; elsewhere MJML would drop them', async () => {
    const inRaw = MJML(
      '<mj-raw><% if (it.customer.name) { %></mj-raw>\n<mj-button href="<%= it.link %>">Go</mj-button>\n<mj-raw><% } %></mj-raw>',
    );
    const t = await compileTemplate(source({ mjml: inRaw }));
    expect(t.render(sampleVariables('ack')).html).toContain('Go');
    expect(t.render({ ...sampleVariables('ack'), customer: { name: '', email: 'a@example.com' } }).html).not.toContain(
      'Go',
    );

    const bare = MJML('<% if (it.customer.name) { %>\n<mj-button href="<%= it.link %>">Go</mj-button>\n<% } %>');
    const problems = await problemsOf(source({ mjml: bare }));
    expect(problems).toEqual([
      expect.stringMatching(
        /^html:2: <% if \(it\.customer\.name\) \{ %> is dropped by MJML: between components, put tags inside <mj-raw>/,
      ),
      expect.stringMatching(/^html:4: <% } %> is dropped by MJML/),
    ]);
  });

  it('reports MJML errors with their line', async () => {
    const problems = await problemsOf(source({ mjml: MJML('<mj-text>ok</mj-text>\n<mj-colum>x</mj-colum>') }));
    expect(problems.join('\n')).toMatch(/^html:3: MJML: .*mj-colum/m);
  });

  it('what MJML gives back is checked again: tags hidden from the first pass cannot slip through', async () => {
    // CDATA is passed through by MJML as it is, so the tag inside is read, and refused
    expect(
      (await problemsOf(source({ mjml: MJML('<mj-text><![CDATA[<% process.exit() %>]]></mj-text>') }))).join('\n'),
    ).toMatch(/only template fields/);
    // entities stay entities: text, not a tag
    const t = await compileTemplate(source({ mjml: MJML('<mj-text>&lt;% process.exit() %&gt;</mj-text>') }));
    expect(t.render(sampleVariables('ack')).html).toContain('&lt;% process.exit() %&gt;');
  });

  it('refuses mj-include', async () => {
    expect(await problemsOf(source({ mjml: MJML('<mj-include path="/etc/passwd" />') }))).toEqual([
      expect.stringMatching(/html:2: <mj-include> is not allowed/),
    ]);
  });

  it('the subject is one non-empty line', async () => {
    expect(await problemsOf(source({ subject: 'a\nb' }))).toEqual(['subject:0: the subject must be one line']);
    expect(await problemsOf(source({ subject: '  ' }))).toEqual(['subject:0: the subject is empty']);
  });
});
