// One template version (subject, MJML body, text body) checked and compiled into three render
// functions. This is the slow step (MJML takes milliseconds); it runs once per version, and
// rendering a mail afterwards only runs the functions.
import { randomBytes } from 'node:crypto';
import type { MjmlError } from 'mjml';
import { ValidationError } from '../errors.ts';
import { compileNodes, type RenderFunction } from './codegen.ts';
import { TemplateError, type TemplateProblem } from './errors.ts';
import { fieldsOf, TEMPLATE_SCHEMAS, type TemplateName } from './schemas.ts';
import { parseTemplate, tagSource, type Node, type Part, type Problem } from './syntax.ts';

export interface TemplateSource {
  name: TemplateName;
  locale: string;
  subject: string;
  mjml: string;
  text: string;
}

export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
}

export interface CompiledTemplate {
  name: TemplateName;
  locale: string;
  /** Checks `vars` against the template's schema (ValidationError), then renders. */
  render(vars: unknown): RenderedMail;
}

const MJML_OPTIONS = {
  validationLevel: 'strict',
  minify: true,
  // htmlnano's CSS step needs cssnano, which we do not ship; MJML's own CSS is small already
  minifyOptions: { minifyCss: false, minifyJs: false },
  keepComments: false,
  // no web fonts: they would load remote stylesheets
  fonts: {},
  ignoreIncludes: true,
};

/** Every problem in the source, or none; the compiled template when there are none. */
export async function checkTemplate(
  src: TemplateSource,
): Promise<{ problems: TemplateProblem[]; compiled?: CompiledTemplate }> {
  const fields = fieldsOf(src.name);
  const subject = parseTemplate(src.subject.trim(), fields, 'subject');
  const text = parseTemplate(src.text, fields, 'text');
  const html = await mjmlToNodes(src.mjml, fields);
  const problems: Problem[] = [...subject.problems, ...html.problems, ...text.problems];
  if (src.subject.trim().includes('\n'))
    problems.unshift({ part: 'subject', line: 0, message: 'the subject must be one line' });
  if (!src.subject.trim()) problems.unshift({ part: 'subject', line: 0, message: 'the subject is empty' });
  if (problems.length) return { problems: problems.map((p) => ({ name: src.name, locale: src.locale, ...p })) };

  const fns = {
    subject: compileNodes(subject.nodes, 'subject'),
    html: compileNodes(html.nodes, 'html'),
    text: compileNodes(text.nodes, 'text'),
  };
  return { problems: [], compiled: compiledTemplate(src.name, src.locale, fns) };
}

/** The compiled template, or a TemplateError listing every problem. */
export async function compileTemplate(src: TemplateSource): Promise<CompiledTemplate> {
  const { problems, compiled } = await checkTemplate(src);
  if (!compiled) throw new TemplateError(problems);
  return compiled;
}

function compiledTemplate(name: TemplateName, locale: string, fns: Record<Part, RenderFunction>): CompiledTemplate {
  const schema = TEMPLATE_SCHEMAS[name];
  return {
    name,
    locale,
    render(vars) {
      const checked = schema.safeParse(vars);
      if (!checked.success) {
        const issues = checked.error.issues.map((i) => `${['it', ...i.path].join('.')}: ${i.message}`);
        throw new ValidationError(`variables for template ${name}: ${issues.join('; ')}`);
      }
      return {
        subject: fns.subject(checked.data).replace(/\s+/g, ' ').trim(),
        html: fns.html(checked.data),
        text: fns.text(checked.data),
      };
    },
  };
}

/**
 * MJML to HTML with the template tags carried through as placeholders: MJML parses the source as
 * markup and would otherwise see `<%` as the start of an element. The HTML that comes back is
 * parsed again, so what eta gets is checked as a whole, in the order MJML put things.
 */
async function mjmlToNodes(
  source: string,
  fields: ReturnType<typeof fieldsOf>,
): Promise<{ nodes: Node[]; problems: Problem[] }> {
  const parsed = parseTemplate(source, fields, 'html');
  if (parsed.problems.length) return parsed;
  const include = /<mj-include\b/.exec(source);
  if (include)
    return {
      nodes: [],
      problems: [
        {
          part: 'html',
          line: lineAt(source, include.index),
          message: '<mj-include> is not allowed: a template is one document',
        },
      ],
    };

  let nonce: string;
  do nonce = randomBytes(4).toString('hex');
  while (source.includes(nonce));
  const placeholder = (i: number) => `tpl${nonce}x${i}x`;
  const tags: { source: string; line: number }[] = [];
  const input = parsed.nodes
    .map((n) => {
      if (n.kind === 'text') return n.text;
      tags.push({ source: tagSource(n), line: n.line });
      return placeholder(tags.length - 1);
    })
    .join('');

  let html: string;
  try {
    // loaded on first use: MJML takes most of a second to import, which commands that never
    // compile a template should not pay
    const { default: mjml2html } = await import('mjml');
    ({ html } = await mjml2html(input, MJML_OPTIONS));
  } catch (err) {
    const errors = (err as { errors?: MjmlError[] }).errors;
    const problems = errors?.length
      ? errors.map((e) => ({ part: 'html' as const, line: e.line, message: `MJML: ${restore(e.message)}` }))
      : [{ part: 'html' as const, line: 0, message: `MJML: ${restore((err as Error).message)}` }];
    return { nodes: [], problems };
  }

  const problems: Problem[] = [];
  tags.forEach((tag, i) => {
    if (!html.includes(placeholder(i))) {
      problems.push({
        part: 'html',
        line: tag.line,
        message: `${tag.source} is dropped by MJML: between components, put tags inside <mj-raw>; otherwise inside <mj-text>, <mj-button> or an attribute`,
      });
    }
  });
  if (problems.length) return { nodes: [], problems };
  const again = parseTemplate(restore(html), fields, 'html');
  for (const p of again.problems) {
    p.message = `after MJML (line ${p.line} of its output): ${p.message}`;
    p.line = 0;
    delete p.column; // it counted in MJML's output, not in what the admin wrote
  }
  return again;

  function restore(s: string): string {
    return s.replace(new RegExp(`tpl${nonce}x(\\d+)x`, 'g'), (_, i: string) => tags[Number(i)]?.source ?? '');
  }
}

function lineAt(s: string, index: number): number {
  return s.slice(0, index).split('\n').length;
}
