// The template language admins may write. eta compiles a template into JavaScript, so what an admin
// writes never reaches eta: it is parsed here against a small grammar and the fields the template
// declares, and eta only ever sees the code that codegen.ts writes from the parsed nodes.
//
//   <%= it.ticket.subject %>                 escaped output of a known field
//   <%~ it.message.html %>                   raw output: pre-sanitized HTML fields, HTML part only
//   <% if (it.agent.name) { %>   <% if (!it.x) { %>   <% } else if (it.y) { %>   <% } else { %>
//   <% for (const file of it.message.attachments) { %> <%= file.name %> <% } %>
//   <% } %>                                  closes an if or a for
//
// Anything else between <% and %> is refused, with the line, the column and the reason.
//
// A loop's list is read where the loop starts, before its variable exists, so it names a field of
// it. or of an outer loop, never the loop's own variable (`<% for (const x of x.list) { %>` is
// refused). A loop variable never shadows an outer loop's: the inner loop is refused.
import { diagnose } from './refusals.ts';
import type { Field } from './schemas.ts';

export type Part = 'subject' | 'html' | 'text';

export interface Problem {
  part: Part;
  /** 1-based line in the part's source; 0 when the problem is about the part as a whole. */
  line: number;
  /**
   * 1-based column in that line (in UTF-16 code units, as editors count): where the offending
   * name is when the problem is about one, else the tag's `<%`. Absent when the problem is not
   * about one place in the source.
   */
  column?: number;
  message: string;
}

/** A field reference: `it.a.b` (scope -1) or `x.a` where x is the variable of the loop at depth `scope`. */
export interface Ref {
  scope: number;
  root: string;
  path: string[];
  field: Field;
}

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'out'; raw: boolean; ref: Ref; line: number }
  | { kind: 'if' | 'elseif'; not: boolean; ref: Ref; line: number }
  | { kind: 'else' | 'end'; line: number }
  /** depth: the loop's place among the open blocks, which names its variable in the generated code */
  | { kind: 'for'; name: string; depth: number; ref: Ref; line: number };

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const PATH = `${IDENT}(?:\\.${IDENT})*`;
const OUT = new RegExp(`^([=~])\\s*(${PATH})\\s*$`);
const IF = new RegExp(`^if\\s*\\(\\s*(!?)\\s*(${PATH})\\s*\\)\\s*\\{$`);
const ELSE_IF = new RegExp(`^\\}\\s*else\\s+if\\s*\\(\\s*(!?)\\s*(${PATH})\\s*\\)\\s*\\{$`);
const ELSE = /^\}\s*else\s*\{$/;
const END = /^\}$/;
// `d`: the list's place in the tag, for the column of a problem about it
const FOR = new RegExp(`^for\\s*\\(\\s*const\\s+(${IDENT})\\s+of\\s+(${PATH})\\s*\\)\\s*\\{$`, 'd');

// Names that reach into JavaScript's objects rather than our data; refused even before the
// field check so the message says why.
const FORBIDDEN = new Set([
  'constructor',
  '__proto__',
  'prototype',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  'valueOf',
  'toString',
  'hasOwnProperty',
]);
const RESERVED = new Set([
  'it',
  'this',
  'globalThis',
  'process',
  'require',
  'import',
  'eval',
  'Function',
  'undefined',
  'null',
  'true',
  'false',
  'const',
  'let',
  'var',
  'of',
  'in',
  'if',
  'else',
  'for',
]);

interface Open {
  kind: 'if' | 'for';
  line: number;
  column: number;
  sawElse: boolean;
  /** for loops: the variable name and the item's field */
  name?: string;
  item?: Field;
}

export function parseTemplate(source: string, rootFields: Field, part: Part): { nodes: Node[]; problems: Problem[] } {
  const nodes: Node[] = [];
  const problems: Problem[] = [];
  const stack: Open[] = [];
  const problem = (line: number, column: number, message: string) => problems.push({ part, line, column, message });
  let pos = 0;
  let line = 1;
  /** where the current line starts in the source, for columns */
  let lineStart = 0;
  /** the column of the tag being read (its `<%`) */
  let tagColumn = 1;
  /** set by parseTag when a refusal is about a place inside the tag: its offset in the tag's inner text */
  let refusedAt: number | undefined;
  const advance = (from: number, to: number) => {
    const n = count(source.slice(from, to), '\n');
    if (n) {
      line += n;
      lineStart = source.lastIndexOf('\n', to - 1) + 1;
    }
  };

  while (pos <= source.length) {
    const open = source.indexOf('<%', pos);
    const text = source.slice(pos, open === -1 ? source.length : open);
    if (text) nodes.push({ kind: 'text', text });
    advance(pos, open === -1 ? source.length : open);
    if (open === -1) break;
    tagColumn = open - lineStart + 1;
    const close = source.indexOf('%>', open + 2);
    const nextOpen = source.indexOf('<%', open + 2);
    if (close === -1 || (nextOpen !== -1 && nextOpen < close)) {
      problem(line, tagColumn, `a tag is opened with <% and not closed with %>: ${excerpt(source.slice(open))}`);
      pos = nextOpen === -1 ? source.length + 1 : nextOpen;
      advance(open, Math.min(pos, source.length));
      continue;
    }
    const inner = source.slice(open + 2, close);
    pos = close + 2;
    if (inner.includes('\n')) {
      problem(line, tagColumn, `a tag must fit on one line: <%${excerpt(inner)}%>`);
      advance(open, pos);
      continue;
    }
    refusedAt = undefined;
    const node = parseTag(inner, line);
    if (typeof node === 'string') {
      // the tag is on one line: a place inside it is its column plus the `<%` and the offset
      if (node) problem(line, refusedAt === undefined ? tagColumn : tagColumn + 2 + refusedAt, `${node}: <%${inner}%>`);
    } else nodes.push(node);
  }
  for (const o of stack.reverse())
    problem(o.line, o.column, `the ${o.kind} opened on line ${o.line} is never closed with <% } %>`);
  return { nodes, problems };

  // Returns the node, or why the tag is refused ('' when the reason was given already).
  function parseTag(inner: string, line: number): Node | string {
    if (inner.startsWith('-') || inner.startsWith('_')) return 'whitespace-trim markers (<%- <%_) are not supported';
    if (inner.startsWith('=') || inner.startsWith('~')) {
      const m = OUT.exec(inner);
      if (!m) return diagnose(inner.slice(1).trim(), true);
      const raw = m[1] === '~';
      const ref = resolve(m[2]!);
      if (typeof ref === 'string') return ref;
      const name = display(ref);
      if (ref.field.kind === 'list') return `${name} is a list: use <% for (const x of ${name}) { %>`;
      if (ref.field.kind === 'object') return `${name} is a group of fields, not a value`;
      if (raw && (ref.field.kind !== 'html' || part !== 'html')) {
        return 'raw output <%~ %> is only for pre-sanitized HTML fields (such as it.message.html) in the HTML part; use <%= %>';
      }
      if (!raw && ref.field.kind === 'html')
        return `${name} is HTML: print it with <%~ %> in the HTML part, or use the text field`;
      return { kind: 'out', raw, ref, line };
    }
    const code = inner.trim();
    let m = IF.exec(code);
    if (m) {
      // pushed before the field is checked, so one bad field does not also unbalance the rest
      stack.push({ kind: 'if', line, column: tagColumn, sawElse: false });
      const ref = resolve(m[2]!);
      return typeof ref === 'string' ? ref : { kind: 'if', not: m[1] === '!', ref, line };
    }
    m = ELSE_IF.exec(code);
    if (m) {
      const top = stack.at(-1);
      if (top?.kind !== 'if' || top.sawElse) return '} else if without an open if before it';
      const ref = resolve(m[2]!);
      return typeof ref === 'string' ? ref : { kind: 'elseif', not: m[1] === '!', ref, line };
    }
    if (ELSE.test(code)) {
      const top = stack.at(-1);
      if (top?.kind !== 'if' || top.sawElse) return '} else { without an open if before it';
      top.sawElse = true;
      return { kind: 'else', line };
    }
    if (END.test(code)) {
      if (!stack.pop()) return '} closes nothing: there is no open if or for';
      return { kind: 'end', line };
    }
    m = FOR.exec(code);
    if (m) {
      const name = m[1]!;
      const list = m[2]!;
      // the list is resolved before the loop is pushed: it is read where the loop starts, in the
      // enclosing scope, where the loop's own variable does not exist yet
      const ref = resolve(list);
      const loop: Open = { kind: 'for', line, column: tagColumn, sawElse: false, name };
      // pushed whatever follows, so a refused loop's } still balances
      stack.push(loop);
      const indices = m.indices!;
      const at = (group: 1 | 2) => {
        // offset in `inner`: what trim() took off its front, plus the group's place in `code`
        refusedAt = inner.length - inner.trimStart().length + indices[group]![0];
      };
      if (RESERVED.has(name) || FORBIDDEN.has(name) || name.startsWith('__')) {
        at(1);
        return `${name} cannot be a loop variable`;
      }
      if (stack.slice(0, -1).some((o) => o.name === name)) {
        at(1);
        return `${name} is already the variable of an outer loop; give this loop's variable another name`;
      }
      if (list.split('.')[0] === name) {
        at(2);
        return `the loop's list ${list} uses the loop's own variable ${name}, which does not exist before the loop; loop over a field of it. or of an outer loop`;
      }
      if (typeof ref === 'string') {
        at(2);
        return ref;
      }
      if (ref.field.kind !== 'list') {
        at(2);
        return `${display(ref)} is not a list`;
      }
      loop.item = ref.field.item;
      return { kind: 'for', name, depth: stack.length - 1, ref, line };
    }
    return diagnose(code);
  }

  /** `it.a.b` or `loopvar.a` to a known field, or why not. */
  function resolve(path: string): Ref | string {
    const [root, ...rest] = path.split('.');
    let field: Field | undefined;
    let scope = -1;
    if (root === 'it') field = rootFields;
    else {
      scope = stack.findLastIndex((o) => o.name === root);
      if (scope === -1) return `unknown name ${root}: fields start with it. (or a loop's variable)`;
      field = stack[scope]!.item;
      if (!field) return ''; // the loop itself was refused, with its reason
    }
    if (rest.length === 0 && root === 'it') return 'it is the whole set of variables, not a field';
    for (let i = 0; i < rest.length; i++) {
      const key = rest[i]!;
      if (FORBIDDEN.has(key) || key.startsWith('__')) return `${key} is not allowed in a template`;
      const sofar = [root, ...rest.slice(0, i)].join('.');
      if (field?.kind !== 'object') return `${sofar} has no fields (${key} after it)`;
      const next: Field | undefined = Object.hasOwn(field.fields, key) ? field.fields[key] : undefined;
      if (!next)
        return `unknown field ${sofar}.${key}; known here: ${Object.keys(field.fields)
          .map((k) => `${sofar}.${k}`)
          .join(', ')}`;
      field = next;
    }
    return { scope, root: root!, path: rest, field: field! };
  }
}

/** The tag as an admin would write it: MJML sees placeholders, and what it gives back is re-read in this form. */
export function tagSource(node: Exclude<Node, { kind: 'text' }>): string {
  const ref = (r: Ref) => display(r);
  switch (node.kind) {
    case 'out':
      return `<%${node.raw ? '~' : '='} ${ref(node.ref)} %>`;
    case 'if':
      return `<% if (${node.not ? '!' : ''}${ref(node.ref)}) { %>`;
    case 'elseif':
      return `<% } else if (${node.not ? '!' : ''}${ref(node.ref)}) { %>`;
    case 'else':
      return '<% } else { %>';
    case 'end':
      return '<% } %>';
    case 'for':
      return `<% for (const ${node.name} of ${ref(node.ref)}) { %>`;
  }
}

function display(r: Ref): string {
  return [r.root, ...r.path].join('.');
}

function count(s: string, c: string): number {
  let n = 0;
  for (let i = s.indexOf(c); i !== -1; i = s.indexOf(c, i + 1)) n++;
  return n;
}

function excerpt(s: string): string {
  const one = s.split('\n')[0]!;
  return one.length > 60 ? `${one.slice(0, 60)}…` : one;
}
