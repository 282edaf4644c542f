// The JSON shapes of the API's resources (snake_case), for the OpenAPI document and for input.
import { z } from 'zod';
import { PERMISSION_DESCRIPTIONS, permissionsPatchSchema, PERMISSION_NAMES } from '../../customers/index.ts';
import { TICKET_STATUSES } from '../../tickets/index.ts';
import { TICKET_PRIORITIES } from '../../tickets/index.ts';

const date = z.iso.datetime();
const permissions = z.object(
  Object.fromEntries(PERMISSION_NAMES.map((k) => [k, z.boolean().optional().describe(PERMISSION_DESCRIPTIONS[k])])),
);

export const customer = z.object({
  id: z.number().int(),
  name: z.string(),
  email: z.string().nullable(),
  alternate_emails: z.array(z.string()),
  company_id: z.number().int().nullable(),
  company_source: z
    .enum(['manual', 'domain'])
    .nullable()
    .describe("'manual': chosen by hand, never changed by domain matching"),
  phone: z.string().nullable(),
  portal_permissions: permissions.describe('own settings; unset ones come from the company, then the defaults'),
  portal_status: z.enum(['none', 'invited', 'active', 'disabled']),
  locale: z
    .string()
    .nullable()
    .describe("the language of the mail we send them, e.g. 'de' (null: the inbox's, then English)"),
  last_sign_in_at: date.nullable(),
  created_at: date,
  updated_at: date,
});

export const company = z.object({
  id: z.number().int(),
  name: z.string(),
  domains: z.array(z.string()),
  portal_permissions: permissions.describe("defaults for the company's customers"),
  created_at: date,
});

export const ticket = z.object({
  id: z.number().int(),
  number: z.number().int().describe('readable, per inbox'),
  inbox_id: z.number().int(),
  inbox: z.string(),
  subject: z.string(),
  status: z.enum(TICKET_STATUSES),
  priority: z.enum(TICKET_PRIORITIES),
  type: z.string().nullable(),
  tags: z.array(z.string()),
  requester_id: z.number().int().nullable(),
  company_id: z.number().int().nullable(),
  assignee_id: z.number().int().nullable(),
  needs_review: z.boolean().describe('a message failed sender authentication (DMARC)'),
  previous_ticket_id: z.number().int().nullable(),
  created_at: date,
  updated_at: date,
  last_message_at: date,
  closed_at: date.nullable(),
});

export const ticketListItem = ticket.extend({
  requester: z.string().nullable().describe("the requester's primary address"),
  company: z.string().nullable().describe("the company's name"),
  messages: z.number().int().describe('messages in the conversation, internal notes included'),
});

const person = z.object({
  id: z.number().int(),
  name: z.string(),
  email: z.string().nullable(),
  alternate_emails: z.array(z.string()),
  mail_refused: z
    .string()
    .nullable()
    .describe("why nothing is mailed to them (e.g. 'no-reply address'); null when mail goes out"),
});

export const ticketDetail = ticket.extend({
  requester: person.nullable(),
  company: z.object({ id: z.number().int(), name: z.string() }).nullable(),
  followers: z.array(person),
  messages: z.array(
    z.looseObject({
      id: z.number().int(),
      direction: z.enum(['inbound', 'outbound']),
      author_type: z.enum(['customer', 'agent', 'system']),
      internal: z.boolean(),
      message_id: z.string().nullable(),
      from: z.string().nullable(),
      subject: z.string(),
      classification: z.string(),
      auth: z
        .object({ spf: z.string().optional(), dkim: z.string().optional(), dmarc: z.string().optional() })
        .nullable(),
      visible_text: z.string().describe('the reply without quoted history and signature'),
      text: z.string(),
      html: z.string().nullable().describe('sanitized'),
      created_at: date,
    }),
  ),
});

export const listOf = (item: z.ZodType) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });

const emailInput = z.string().trim().min(3).max(254);
const localeInput = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z]{2}(-[a-z]{2})?$/, 'a language tag such as de or de-at')
  .nullable()
  .optional();
export const permissionsInput = permissionsPatchSchema;

export const customerCreate = z
  .object({
    name: z.string().trim().max(200).optional(),
    email: emailInput,
    alternate_emails: z.array(emailInput).max(50).optional(),
    company_id: z
      .number()
      .int()
      .positive()
      .nullable()
      .optional()
      .describe('a company chosen by hand; null: none, chosen by hand; absent: matched by the email domain'),
    phone: z.string().trim().max(50).nullable().optional(),
    portal_permissions: permissionsInput.optional(),
    locale: localeInput,
    send_welcome: z.boolean().optional().describe('queue a portal welcome mail'),
  })
  .strict();

export const customerUpdate = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    email: emailInput
      .optional()
      .describe('the new primary address; the old one stays as an alternate unless alternate_emails is given too'),
    alternate_emails: z.array(emailInput).max(50).optional().describe('replaces the alternates'),
    company_id: z.number().int().positive().nullable().optional().describe('chosen by hand (null: none)'),
    company_source: z
      .literal('domain')
      .optional()
      .describe("'domain': drop the hand-made choice and match by the email domain again"),
    phone: z.string().trim().max(50).nullable().optional(),
    portal_permissions: permissionsInput.optional(),
    locale: localeInput,
  })
  .strict();

export const companyCreate = z
  .object({
    name: z.string().trim().min(1).max(200),
    domains: z.array(z.string().max(253)).max(100).optional(),
    portal_permissions: permissionsInput
      .optional()
      .describe('true/false set a default for its customers, null clears it'),
  })
  .strict();

export const companyUpdate = companyCreate.partial().strict();

export const ticketUpdate = z
  .object({
    status: z.enum(TICKET_STATUSES).optional(),
    priority: z.enum(TICKET_PRIORITIES).optional(),
    type: z.string().trim().max(100).nullable().optional(),
    tags: z.array(z.string().trim().min(1).max(50)).max(50).optional().describe('replaces the tags'),
    assignee_id: z.number().int().positive().nullable().optional().describe('an agent id, or null'),
  })
  .strict();

export const followerAdd = z
  .union([
    z.object({ customer_id: z.number().int().positive() }).strict(),
    z.object({ email: emailInput, name: z.string().trim().max(200).optional() }).strict(),
  ])
  .describe('an existing customer, or an address (a new customer is made for an unknown one)');
