// The fields a template may use, flat, for the editor's sidebar: read from the same schema the
// validator checks against (schemas.ts fieldsOf), so the list shows exactly what is accepted.
import { fieldsOf, isTemplateName, type Field, type ValueType } from './schemas.ts';
import { NotFoundError } from '../errors.ts';

export interface TemplateField {
  /** How a template names it: `it.ticket.subject`; in `item`, through the loop's variable: `attachment.name`. */
  path: string;
  type: ValueType | 'html' | 'list';
  /** Absent or null at times: it prints nothing then, and `<% if (…) { %>` on it is false. */
  optional: boolean;
  /** Pre-sanitized HTML: printed raw with `<%~ %>`, in the HTML part only; elsewhere it is refused. */
  raw: boolean;
  /** What to write: `<%= it.ticket.subject %>`, `<% if (it.account_exists) { %>…<% } %>`, a loop. */
  snippet: string;
  /** For lists: the fields of each item, named through the loop variable the snippet uses. */
  item?: TemplateField[];
}

/** Every field of the template, groups flattened (`it.customer.name`, `it.customer.email`, …). */
export function templateFields(name: string): TemplateField[] {
  if (!isTemplateName(name)) throw new NotFoundError(`no mail template named ${name}`);
  return flatten(fieldsOf(name), 'it');
}

function flatten(field: Field, path: string, optional = false): TemplateField[] {
  if (field.kind === 'object') {
    return Object.entries(field.fields).flatMap(([key, f]) => flatten(f, `${path}.${key}`, optional || f.optional));
  }
  if (field.kind === 'list') {
    const variable = loopVariable(path);
    const item = flatten(field.item, variable);
    const first = item.find((f) => f.type !== 'list')?.snippet ?? '';
    return [
      {
        path,
        type: 'list',
        optional,
        raw: false,
        snippet: `<% for (const ${variable} of ${path}) { %>${first}<% } %>`,
        item,
      },
    ];
  }
  if (field.kind === 'html') return [{ path, type: 'html', optional, raw: true, snippet: `<%~ ${path} %>` }];
  const snippet = field.type === 'boolean' ? `<% if (${path}) { %>…<% } %>` : `<%= ${path} %>`;
  return [{ path, type: field.type, optional, raw: false, snippet }];
}

/** `it.message.attachments` -> `attachment`: the list's name in the singular, else `item`. */
function loopVariable(path: string): string {
  const last = path.slice(path.lastIndexOf('.') + 1);
  const singular = last.endsWith('s') ? last.slice(0, -1) : '';
  return /^[a-z][a-z_]*$/.test(singular) && singular !== 'it' ? singular : 'item';
}
