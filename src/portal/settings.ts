// The portal's settings and branding, one row (portal_settings). Read often (every portal page),
// changed rarely (by admins): cached per process for a few seconds. A colour pair people could
// not read (under WCAG AA, 4.5:1) is refused with the pair named.
import { z } from 'zod';
import type { Db } from '../db/index.ts';
import { ValidationError } from '../errors.ts';

const hex = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^#[0-9a-f]{6}$/, 'a colour as #rrggbb');

export const brandingSchema = z.object({
  name: z.string().trim().min(1).max(100).default('Support'),
  /** buttons and links; white text sits on it */
  primary_color: hex.default('#1d4ed8'),
  background_color: hex.default('#f3f4f6'),
  text_color: hex.default('#1f2937'),
  /** sanitized when shown: no script, no remote loads */
  custom_css: z.string().max(20_000).default(''),
  header_html: z.string().max(20_000).default(''),
  footer_html: z.string().max(20_000).default(''),
});

export const portalSettingsSchema = z.object({
  enabled: z.boolean().default(false),
  /** anyone may ask for an account with their address */
  self_signup: z.boolean().default(false),
  /** a new customer's first ticket brings the portal welcome */
  auto_invite: z.boolean().default(false),
  /** the inboxes a customer may open a ticket in from the portal */
  inbox_ids: z.array(z.number().int().positive()).max(100).default([]),
  help_docs: z.boolean().default(true),
  /** a fixed language, or the browser's (Accept-Language) among those the portal speaks */
  language: z.enum(['browser', 'en', 'de']).default('browser'),
  branding: brandingSchema.default(brandingSchema.parse({})),
});

export type PortalSettings = z.infer<typeof portalSettingsSchema>;
export type Branding = z.infer<typeof brandingSchema>;

/** WCAG 2 relative luminance of #rrggbb. */
function luminance(color: string): number {
  const channel = (i: number) => {
    const c = Number.parseInt(color.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** The WCAG contrast ratio of two colours, 1 to 21. */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

export const MIN_CONTRAST = 4.5;

/** The colour pairs people must be able to read, each with its contrast. */
export function contrastProblems(b: Branding): string[] {
  const pairs: [string, string, string][] = [
    ['text_color on background_color', b.text_color, b.background_color],
    ['white button text on primary_color', '#ffffff', b.primary_color],
    ['primary_color links on white', b.primary_color, '#ffffff'],
  ];
  return pairs
    .filter(([, x, y]) => contrast(x, y) < MIN_CONTRAST)
    .map(([what, x, y]) => `${what}: contrast ${contrast(x, y).toFixed(2)}:1, at least ${MIN_CONTRAST}:1 needed`);
}

const CACHE_MS = 3_000;
const cache = new WeakMap<object, { at: number; settings: PortalSettings }>();

export async function getPortalSettings(db: Db, opts: { fresh?: boolean } = {}): Promise<PortalSettings> {
  const hit = cache.get(db);
  if (!opts.fresh && hit && Date.now() - hit.at < CACHE_MS) return hit.settings;
  const row = await db('portal_settings').first('settings');
  const settings = portalSettingsSchema.parse(row?.settings ?? {});
  cache.set(db, { at: Date.now(), settings });
  return settings;
}

/** Changes some settings; the result must validate whole, and its colours be readable. */
export async function updatePortalSettings(db: Db, patch: Record<string, unknown>): Promise<PortalSettings> {
  const current = await getPortalSettings(db, { fresh: true });
  const merged = {
    ...current,
    ...patch,
    branding: { ...current.branding, ...((patch.branding as object | undefined) ?? {}) },
  };
  const parsed = portalSettingsSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(`${issue.path.join('.')}: ${issue.message}`);
  }
  const problems = contrastProblems(parsed.data.branding);
  if (problems.length) throw new ValidationError(`colours too close to read: ${problems.join('; ')}`, { problems });
  await db('portal_settings')
    .insert({ id: true, settings: parsed.data, updated_at: db.fn.now() })
    .onConflict('id')
    .merge(['settings', 'updated_at']);
  cache.set(db, { at: Date.now(), settings: parsed.data });
  return parsed.data;
}
