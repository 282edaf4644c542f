// A template loop whose list names its own variable is refused when the template is checked (and so
// when it is saved), with the line and column of the offending name; a nested loop cannot re-use
// an outer loop's variable (no shadowing). Problems carry a column.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkTemplate,
  compileTemplate,
  createTemplateStore,
  sampleVariables,
  TemplateError,
  type TemplateSource,
} from '../src/templates/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const MJML = (body: string) =>
  `<mjml><mj-body><mj-section><mj-column>\n${body}\n</mj-column></mj-section></mj-body></mjml>`;
const source = (over: Partial<TemplateSource> = {}): TemplateSource => ({
  name: 'agent_reply',
  locale: 'en',
  subject: 'Re: <%= it.ticket.subject %>',
  mjml: MJML('<mj-text>Hello <%= it.customer.name %></mj-text>'),
  text: 'Hello <%= it.customer.name %>\n',
  ...over,
});

async function problemsOf(src: TemplateSource) {
  return (await checkTemplate(src)).problems.map(({ part, line, column, message }) => ({
    part,
    line,
    column,
    message,
  }));
}

describe('a loop over its own variable', () => {
  it('for (const file of file.attachments) is refused at the list, with line and column', async () => {
    const text = ['Files:', '  <% for (const file of file.attachments) { %>', '<%= file.name %>', '<% } %>'].join('\n');
    expect(await problemsOf(source({ text }))).toEqual([
      {
        part: 'text',
        line: 2,
        // `  <% for (const file of ` is 24 characters: the list starts at column 25
        column: 25,
        message: expect.stringMatching(
          /^the loop's list file\.attachments uses the loop's own variable file, which does not exist before the loop/,
        ),
      },
    ]);
  });

  it('for (const x of x) is refused too, and its } still closes it', async () => {
    const text = 'a\nb <% for (const x of x) { %>x<% } %> c';
    expect(await problemsOf(source({ text }))).toEqual([
      {
        part: 'text',
        line: 2,
        column: 22,
        message: expect.stringMatching(/^the loop's list x uses the loop's own variable x/),
      },
    ]);
  });

  it('for (const item of item.list) with odd spacing points at the list', async () => {
    const text = '<%   for( const  item  of  item.list ){ %>';
    const [p] = await problemsOf(source({ text }));
    expect(p).toMatchObject({ line: 1, column: 28 });
    expect(text.slice(p!.column! - 1)).toMatch(/^item\.list/);
    expect(p!.message).toMatch(/own variable item/);
  });

  it('is refused in the subject and the HTML part as well', async () => {
    expect(await problemsOf(source({ subject: 'Re <% for (const s of s) { %><% } %>' }))).toEqual([
      { part: 'subject', line: 1, column: 23, message: expect.stringMatching(/own variable s/) },
    ]);
    const mjml = MJML('<mj-text>\n<% for (const f of f.attachments) { %><%= f.name %><% } %>\n</mj-text>');
    expect(await problemsOf(source({ mjml }))).toEqual([
      { part: 'html', line: 3, column: 20, message: expect.stringMatching(/own variable f/) },
    ]);
  });

  it('compileTemplate throws a TemplateError naming it (no broken code reaches eta)', async () => {
    const err = await compileTemplate(source({ text: '<% for (const x of x) { %><% } %>' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).problems).toEqual([expect.objectContaining({ part: 'text', line: 1, column: 20 })]);
  });
});

describe('nested loops', () => {
  it('an inner loop re-using the outer variable is refused, at its variable', async () => {
    const text = [
      '<% for (const f of it.message.attachments) { %>',
      '  <% for (const f of it.message.attachments) { %><%= f.name %><% } %>',
      '<% } %>',
    ].join('\n');
    expect(await problemsOf(source({ text }))).toEqual([
      {
        part: 'text',
        line: 2,
        column: 17,
        message: expect.stringMatching(/^f is already the variable of an outer loop/),
      },
    ]);
  });

  it('an inner loop over the outer variable under the same name is refused as shadowing', async () => {
    const text = '<% for (const f of it.message.attachments) { %><% for (const f of f.name) { %><% } %><% } %>';
    const problems = await problemsOf(source({ text }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 1, column: 62, message: expect.stringMatching(/outer loop/) });
  });

  it('an inner loop over its own new variable is refused even inside another loop', async () => {
    const text = '<% for (const a of it.message.attachments) { %><% for (const b of b.list) { %><% } %><% } %>';
    expect(await problemsOf(source({ text }))).toEqual([
      { part: 'text', line: 1, column: 67, message: expect.stringMatching(/own variable b/) },
    ]);
  });

  it('distinct names nest and render', async () => {
    const text =
      '<% for (const a of it.message.attachments) { %><% for (const b of it.message.attachments) { %>[<%= a.name %>|<%= b.name %>]<% } %><% } %>';
    const t = await compileTemplate(source({ text }));
    const vars = sampleVariables('agent_reply');
    vars.message.attachments = [
      { name: 'x', size: '1 KB', url: 'https://example.test/x' },
      { name: 'y', size: '2 KB', url: 'https://example.test/y' },
    ];
    expect(t.render(vars).text).toBe('[x|x][x|y][y|x][y|y]');
  });

  it('the same name in sibling loops is fine', async () => {
    const text =
      '<% for (const f of it.message.attachments) { %><%= f.name %><% } %>;<% for (const f of it.message.attachments) { %><%= f.size %><% } %>';
    expect(await problemsOf(source({ text }))).toEqual([]);
  });
});

describe('columns on other problems', () => {
  it('point at the tag, or the name at fault', async () => {
    const text = [
      'ok',
      '  x <%= it.nope %>',
      '<% for (const it of it.message.attachments) { %><% } %>',
      '\t<% if (it.link) { %>',
    ].join('\n');
    expect(await problemsOf(source({ text }))).toEqual([
      { part: 'text', line: 2, column: 5, message: expect.stringMatching(/^unknown field it\.nope/) },
      { part: 'text', line: 3, column: 15, message: expect.stringMatching(/^it cannot be a loop variable/) },
      { part: 'text', line: 4, column: 2, message: expect.stringMatching(/^the if opened on line 4 is never closed/) },
    ]);
  });

  it('count from the start of the line across CRLF, broken tags and multi-line tags', async () => {
    const text = 'a\r\n <%= it.link\r\n  <%= it.link\n%> <%= it.nope %>';
    expect(await problemsOf(source({ text }))).toEqual([
      { part: 'text', line: 2, column: 2, message: expect.stringMatching(/not closed with %>/) },
      { part: 'text', line: 3, column: 3, message: expect.stringMatching(/must fit on one line/) },
      { part: 'text', line: 4, column: 4, message: expect.stringMatching(/unknown field it\.nope/) },
    ]);
  });

  it('a loop over a value points at the value', async () => {
    const [p] = await problemsOf(source({ text: '<% for (const x of it.link) { %><% } %>' }));
    expect(p).toMatchObject({ line: 1, column: 20, message: expect.stringMatching(/it\.link is not a list/) });
  });
});

describe('saving', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });

  it('refuses a loop over its own variable and stores nothing', async () => {
    const store = createTemplateStore(t.db);
    const err = await store
      .save({ ...source({ name: 'agent_reply', text: 'Hi\n<% for (const x of x.attachments) { %><% } %>\n' }) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).problems).toEqual([
      expect.objectContaining({ name: 'agent_reply', locale: 'en', part: 'text', line: 2, column: 20 }),
    ]);
    expect((err as Error).message).toMatch(/agent_reply \(en\) text line 2, column 20: the loop's list x\.attachments/);
    expect(await store.versions('agent_reply', 'en')).toEqual([]);
  });
});
