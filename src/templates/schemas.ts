// What each mail template may use: one zod schema per template name. The schema is both the check
// of the variables at render time and the list of fields the template validator accepts, so the
// two can never disagree.
import { z } from 'zod';

/**
 * HTML that was sanitized before it reached us (a stored message's sanitized body). The only
 * kind of field a template may print raw, with `<%~ %>`, and only in the HTML part.
 */
const sanitizedHtml = z.string().meta({ sanitizedHtml: true });

// Links go into href attributes: only http(s), so a value can never become a javascript: link.
const url = z.url({ protocol: /^https?$/ });

const customer = z.object({ name: z.string(), email: z.string() });
const inbox = z.object({ name: z.string(), address: z.string() });
const ticket = z.object({ number: z.number().int().positive(), subject: z.string(), status: z.string() });

/** Mails about a ticket: `link` opens the public ticket page. */
const ticketMail = z.object({
  customer,
  inbox,
  ticket,
  link: url,
  /** How long the ticket link works; absent when it does not expire. */
  link_expires_days: z.number().int().positive().nullish(),
});

/** A reply written by an agent, as it was stored: `html` is already sanitized. */
const replyMail = ticketMail.extend({
  agent: z.object({ name: z.string() }),
  message: z.object({
    text: z.string(),
    html: sanitizedHtml,
    /** `size` comes formatted for reading ("240 KB"): templates cannot call functions. */
    attachments: z.array(z.object({ name: z.string(), size: z.string(), url })),
  }),
});

/** Portal mails: `link` sets a password and works for `link_expires_hours`. */
const passwordMail = z.object({
  customer,
  inbox,
  link: url,
  link_expires_hours: z.number().int().positive(),
});

/** The portal's "email me a sign-in link": `link` opens a page whose button signs in. */
const signInMail = z.object({
  customer,
  inbox,
  link: url,
  link_expires_minutes: z.number().int().positive(),
});

/**
 * The portal's self sign-up: `link` completes it (name and password). When the address has an
 * active account already, `account_exists` is true, `link` sets a new password instead and
 * `sign_in_link` is the sign-in page.
 */
const signupMail = passwordMail.extend({
  account_exists: z.boolean(),
  sign_in_link: url,
});

export const TEMPLATE_SCHEMAS = {
  ack: ticketMail,
  agent_reply: replyMail,
  follower_update: replyMail,
  portal_welcome: passwordMail,
  portal_invite: passwordMail,
  password_reset: passwordMail,
  ticket_closed: ticketMail,
  // a fresh magic link, asked for on the page of an expired one
  ticket_link: ticketMail,
  sign_in_link: signInMail,
  signup_link: signupMail,
} as const;

export type TemplateName = keyof typeof TEMPLATE_SCHEMAS;
export const TEMPLATE_NAMES = Object.keys(TEMPLATE_SCHEMAS) as TemplateName[];
export type TemplateVariables<N extends TemplateName> = z.input<(typeof TEMPLATE_SCHEMAS)[N]>;

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(TEMPLATE_SCHEMAS, name);
}

/** What a value field holds, for the editor's list of fields (templateFields). */
export type ValueType = 'text' | 'number' | 'boolean' | 'link';

/**
 * A template's fields as the validator sees them. `optional`: the field may be absent or null
 * (it prints nothing and an `if` on it is false); the validator treats both alike.
 */
export type Field = { optional: boolean } & (
  | { kind: 'value'; type: ValueType }
  | { kind: 'html' }
  | { kind: 'object'; fields: Readonly<Record<string, Field>> }
  | { kind: 'list'; item: Field }
);

const fieldCache = new Map<TemplateName, Field>();

export function fieldsOf(name: TemplateName): Field {
  let f = fieldCache.get(name);
  if (!f) {
    f = toField(TEMPLATE_SCHEMAS[name]);
    fieldCache.set(name, f);
  }
  return f;
}

function toField(schema: z.ZodType): Field {
  // optional and nullable fields are the same to a template: absent prints nothing, `if` is false
  let optional = false;
  while (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    optional = true;
    schema = schema.unwrap() as z.ZodType;
  }
  if (schema instanceof z.ZodObject) {
    const fields: Record<string, Field> = Object.create(null);
    for (const [key, value] of Object.entries(schema.shape)) fields[key] = toField(value as z.ZodType);
    return { kind: 'object', fields, optional };
  }
  if (schema instanceof z.ZodArray) return { kind: 'list', item: toField(schema.element as z.ZodType), optional };
  if (schema.meta()?.sanitizedHtml === true) return { kind: 'html', optional };
  return { kind: 'value', type: valueType(schema), optional };
}

function valueType(schema: z.ZodType): ValueType {
  if (schema instanceof z.ZodNumber) return 'number';
  if (schema instanceof z.ZodBoolean) return 'boolean';
  if (schema instanceof z.ZodURL) return 'link';
  return 'text';
}
