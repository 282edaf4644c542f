// What changed between two versions of a template (or a version and a draft, or the shipped
// default as version 0), line by line per part: jsdiff's Myers diff, with its edit length capped
// so a diff of two unrelated texts stays quick; past the cap the old text is all removed and the
// new one all added, which is what such a diff says anyway.
import { diffLines } from 'diff';

/** The parts of a template that are compared: a TemplateSource, a version, a draft. */
export interface TemplateSourceLike {
  subject: string;
  mjml: string;
  text: string;
}

export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

export type TemplateDiff = Record<keyof TemplateSourceLike, DiffLine[]>;

/** Lines of edits past which the diff gives up on pairing lines (O((n + m) * d) time). */
const MAX_EDIT_LENGTH = 1000;

/** `a` is the older side: lines only in `a` are removed, lines only in `b` added. */
export function diffTemplates(a: TemplateSourceLike, b: TemplateSourceLike): TemplateDiff {
  return {
    subject: diffPart(a.subject, b.subject),
    mjml: diffPart(a.mjml, b.mjml),
    text: diffPart(a.text, b.text),
  };
}

function diffPart(a: string, b: string): DiffLine[] {
  const before = normalize(a);
  const after = normalize(b);
  const changes = diffLines(before, after, { maxEditLength: MAX_EDIT_LENGTH });
  if (!changes) return [...lines(before, 'removed'), ...lines(after, 'added')];
  return changes.flatMap((c) => lines(c.value, c.added ? 'added' : c.removed ? 'removed' : 'same'));
}

/** LF line ends, and a last line ended too: a newline added at the end is no change to a reader. */
function normalize(s: string): string {
  const lf = s.replace(/\r\n?/g, '\n');
  return lf === '' || lf.endsWith('\n') ? lf : `${lf}\n`;
}

function lines(value: string, kind: DiffLine['kind']): DiffLine[] {
  if (value === '') return [];
  const split = value.split('\n');
  if (value.endsWith('\n')) split.pop();
  return split.map((text) => ({ kind, text }));
}
