// From parsed template nodes to an eta function. The code eta compiles is written here, from
// nodes the grammar accepted: field paths checked against the template's schema, loop variables
// renamed, nothing an admin typed between <% and %> copied through.
import { Eta } from 'eta/core';
import type { Node, Part, Ref } from './syntax.ts';

export type RenderFunction = (vars: object) => string;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Each part escapes for where it ends up: HTML markup, a text/plain body, a one-line header. */
const ESCAPE: Record<Part, (v: unknown) => string> = {
  html: (v) => (v == null ? '' : String(v).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)),
  // text/plain reads as written; only control characters that would garble it are dropped
  text: (v) =>
    v == null
      ? ''
      : String(v)
          .replace(/\r\n?/g, '\n')
          .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ''),
  // a header value: line breaks would start a new header, so every control character becomes a space
  subject: (v) => (v == null ? '' : String(v).replace(/[\x00-\x1f\x7f]+/g, ' ')),
};

const ENGINES: Record<Part, Eta> = {
  html: engine('html'),
  text: engine('text'),
  subject: engine('subject'),
};

function engine(part: Part): Eta {
  // autoTrim off: eta would trim the newline after every tag, output tags too; standalone()
  // below trims only the lines that hold nothing but a block tag.
  return new Eta({
    autoEscape: true,
    autoTrim: false,
    escapeFunction: ESCAPE[part],
    useWith: false,
    varName: 'it',
    cache: false,
  });
}

export function compileNodes(nodes: readonly Node[], part: Part): RenderFunction {
  const eta = ENGINES[part];
  const fn = eta.compile(etaSource(nodes));
  return (vars) => fn.call(eta, vars);
}

/** The eta template for the nodes. */
function etaSource(nodes: readonly Node[]): string {
  let out = '';
  for (const node of standalone(nodes)) {
    switch (node.kind) {
      case 'text':
        out += node.text; // holds no '<%': the parser split on every one
        break;
      case 'out':
        out += node.raw ? `<%~ (${expr(node.ref)} ?? '') %>` : `<%= ${expr(node.ref)} %>`;
        break;
      case 'if':
        out += `<% if (${cond(node.not, node.ref)}) { %>`;
        break;
      case 'elseif':
        out += `<% } else if (${cond(node.not, node.ref)}) { %>`;
        break;
      case 'else':
        out += '<% } else { %>';
        break;
      case 'end':
        out += '<% } %>';
        break;
      case 'for':
        out += `<% for (const ${loopVar(node.depth)} of (${expr(node.ref)} ?? [])) { %>`;
        break;
    }
  }
  return out;
}

// Optional chaining: an absent group prints nothing rather than failing the send.
function expr(ref: Ref): string {
  return (ref.scope === -1 ? 'it' : loopVar(ref.scope)) + ref.path.map((k) => `?.${k}`).join('');
}

function cond(not: boolean, ref: Ref): string {
  // an empty list is "nothing" to a reader, though truthy to JavaScript
  const e = ref.field.kind === 'list' ? `${expr(ref)}?.length` : expr(ref);
  return not ? `!(${e})` : e;
}

function loopVar(depth: number): string {
  return `_loop${depth}`;
}

/**
 * A line holding only a block tag (if, else, for, }) leaves no trace in the output, so text
 * templates can put their conditions on lines of their own.
 */
function standalone(nodes: readonly Node[]): Node[] {
  const out = nodes.map((n) => (n.kind === 'text' ? { ...n } : n));
  // text nodes that begin a line because the block tag before them took its line with it
  const lineStart = new Set<Node>();
  for (let i = 0; i < out.length; i++) {
    const node = out[i]!;
    if (node.kind === 'text' || node.kind === 'out') continue;
    const prev = out[i - 1];
    const next = out[i + 1];
    const startsLine =
      !prev ||
      (prev.kind === 'text' &&
        (/\n[ \t]*$/.test(prev.text) || ((i === 1 || lineStart.has(prev)) && /^[ \t]*$/.test(prev.text))));
    const endsLine = !next || (next.kind === 'text' && /^[ \t]*(?:\r?\n|$)/.test(next.text));
    if (!startsLine || !endsLine) continue;
    if (prev?.kind === 'text') prev.text = prev.text.replace(/[ \t]*$/, '');
    if (next?.kind === 'text') {
      next.text = next.text.replace(/^[ \t]*\r?\n?/, '');
      lineStart.add(next);
    }
  }
  return out;
}
