// Why a tag was refused, in words an admin can act on. Only called for tags that matched none of
// the grammar's forms, so it may guess from a glance at the tag.

/** Why a tag that matched no form was refused, as specific as a glance can be. */
export function diagnose(code: string, output = false): string {
  if (/^(?:include|layout)\b|\binclude\s*\(|\blayout\s*\(/.test(code)) return 'includes and layouts are not allowed';
  if (code.includes('`')) return 'template literals are not allowed';
  if (/[[\]]/.test(code)) return 'brackets are not allowed: write fields as it.a.b';
  if (/\b(?:process|require|import|globalThis|Function|eval|this)\b/.test(code))
    return 'only template fields can be used';
  if (/(?<![=!<>])=(?!=)/.test(code)) return 'assignments are not allowed';
  if (/\w\s*\(/.test(code) && !/^(?:\}\s*else\s+)?if\s*\(|^for\s*\(/.test(code))
    return 'function calls are not allowed';
  if (/^(?:\}\s*else\s+)?if\b/.test(code))
    return 'an if takes one field, optionally negated with !: <% if (it.a.b) { %>';
  if (/^for\b/.test(code)) return 'a loop is written <% for (const x of it.list) { %>';
  if (output) return 'an output tag holds one field and nothing else: <%= it.a.b %>';
  return 'not a template tag; allowed: <%= it.field %>, <% if (it.field) { %>, <% } else { %>, <% for (const x of it.list) { %>, <% } %>';
}
