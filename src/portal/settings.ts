// The portal's settings and branding, one row (portal_settings). Read often (every portal page),
// changed rarely (by admins): cached per process for a few seconds. A colour pair people could
// not read (under WCAG AA, 4.5:1) is refused with the pair named. The logo is kept beside the
// settings (portal_settings.logo), its type read from its own bytes.
import { z } from 'zod';
import type { Db } from '../db/index.ts';
import { AppError, ValidationError } from '../errors.ts';
import { sanitizeHtml } from '../mail/index.ts';

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

export type Branding = z.infer<typeof brandingSchema>;

export const LOGO_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export type LogoType = (typeof LOGO_TYPES)[number];
/** portal_settings.logo's CHECK */
export const LOGO_MAX_BYTES = 256 * 1024;

/** The uploaded logo as pages link to it: `version` changes with its bytes (a cache key). */
export interface PortalLogo {
  type: LogoType;
  bytes: number;
  version: string;
}

/** The settings, and the logo when there is one (changed by setLogo/removeLogo only). */
export type PortalSettings = z.infer<typeof portalSettingsSchema> & { logo: PortalLogo | null };

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
  // the layout puts text on the page background and on white panels (forms, articles, the
  // header), links on both, and white text on buttons
  const pairs: [string, string, string][] = [
    ['text_color on background_color', b.text_color, b.background_color],
    ['text_color on white panels', b.text_color, '#ffffff'],
    ['white button text on primary_color', '#ffffff', b.primary_color],
    ['primary_color links on white', b.primary_color, '#ffffff'],
    ['primary_color links on background_color', b.primary_color, b.background_color],
  ];
  return pairs
    .filter(([, x, y]) => contrast(x, y) < MIN_CONTRAST)
    .map(([what, x, y]) => `${what}: contrast ${contrast(x, y).toFixed(2)}:1, at least ${MIN_CONTRAST}:1 needed`);
}

/**
 * What in custom CSS would load something from elsewhere: @import (the CSP lets no stylesheet
 * load), and url() of another origin (a scheme other than data:, or //host). The page's CSP blocks those loads whatever this finds (it cannot see through CSS
 * escapes); this tells the admin at once rather than leaving a style that silently does nothing.
 */
export function cssRemoteLoads(css: string): string[] {
  const found = new Set<string>();
  if (/@import\b/i.test(css)) found.add('@import');
  // a scheme (but data:) or a network path (//host, which browsers also read in \\host)
  for (const m of css.matchAll(/url\(\s*['"]?\s*([^'")\s]*)/gi)) {
    if (/^([a-z][a-z0-9+.-]*:|[\\/]{2})/i.test(m[1]!) && !/^data:/i.test(m[1]!))
      found.add(`url(${m[1]!.slice(0, 80)})`);
  }
  return [...found];
}

/**
 * What a page shows of the branding: the colours (checked when saved), the custom CSS unable to end
 * its <style> element, the header and footer HTML sanitized as mail is. The portal's pages and the
 * admin area's preview of them both show branding through this.
 */
export function pageBranding(b: Branding) {
  return {
    name: b.name,
    colors: { primary: b.primary_color, background: b.background_color, text: b.text_color },
    // custom CSS may not load anything (the page's CSP allows no remote loads) or end its <style>:
    // every < is written as CSS's own escape, which means the same inside a CSS string and cannot
    // close the element (removing "</style" alone lets "</st</styleyle" put one back together)
    css: b.custom_css.replaceAll('<', '\\3c '),
    header: b.header_html ? sanitizeHtml(b.header_html) : '',
    footer: b.footer_html ? sanitizeHtml(b.footer_html) : '',
  };
}

const CACHE_MS = 3_000;
const cache = new WeakMap<object, { at: number; settings: PortalSettings }>();

export async function getPortalSettings(db: Db, opts: { fresh?: boolean } = {}): Promise<PortalSettings> {
  const hit = cache.get(db);
  if (!opts.fresh && hit && Date.now() - hit.at < CACHE_MS) return hit.settings;
  const row = await db('portal_settings').first(
    'settings',
    'logo_type',
    db.raw('length(logo) AS logo_bytes'),
    db.raw('left(md5(logo), 16) AS logo_version'),
  );
  const settings: PortalSettings = {
    ...portalSettingsSchema.parse(row?.settings ?? {}),
    logo: row?.logo_type ? { type: row.logo_type, bytes: row.logo_bytes, version: row.logo_version } : null,
  };
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
  const remote = cssRemoteLoads(parsed.data.branding.custom_css);
  if (remote.length)
    throw new ValidationError(
      `branding.custom_css: the portal loads nothing from elsewhere (its CSP blocks it): ${remote.join(', ')}`,
      { remote },
    );
  await db('portal_settings')
    .insert({ id: true, settings: parsed.data, updated_at: db.fn.now() })
    .onConflict('id')
    .merge(['settings', 'updated_at']);
  const settings = { ...parsed.data, logo: current.logo };
  cache.set(db, { at: Date.now(), settings });
  return settings;
}

/** An image's type by its first bytes; SVG and everything else is undefined. */
export function sniffImageType(bytes: Buffer): LogoType | undefined {
  const starts = (sig: string, at = 0) => bytes.subarray(at, at + sig.length).equals(Buffer.from(sig, 'latin1'));
  if (starts('\x89PNG\r\n\x1a\n')) return 'image/png';
  if (starts('\xff\xd8\xff')) return 'image/jpeg';
  if (starts('GIF87a') || starts('GIF89a')) return 'image/gif';
  if (starts('RIFF') && starts('WEBP', 8)) return 'image/webp';
  return undefined;
}

/**
 * Stores the portal's logo: at most LOGO_MAX_BYTES, and a PNG, JPEG, GIF or WebP by its own bytes
 * (whatever the upload claimed). Never SVG: an SVG is a document that can carry script.
 */
export async function setLogo(db: Db, bytes: Buffer): Promise<PortalLogo> {
  if (bytes.length > LOGO_MAX_BYTES)
    throw new AppError('too_large', `the logo is over ${LOGO_MAX_BYTES / 1024} KB`, 413);
  const type = sniffImageType(bytes);
  if (!type)
    throw new ValidationError('the logo must be a PNG, JPEG, GIF or WebP image (SVG is refused: it can carry script)');
  await db('portal_settings')
    .insert({ id: true, logo: bytes, logo_type: type, updated_at: db.fn.now() })
    .onConflict('id')
    .merge(['logo', 'logo_type', 'updated_at']);
  return (await getPortalSettings(db, { fresh: true })).logo!;
}

export async function removeLogo(db: Db): Promise<void> {
  await db('portal_settings').update({ logo: null, logo_type: null, updated_at: db.fn.now() });
  await getPortalSettings(db, { fresh: true });
}

/** The logo's bytes, when there is one. */
export async function getLogo(db: Db): Promise<{ type: LogoType; content: Buffer; version: string } | undefined> {
  const row = await db('portal_settings')
    .whereNotNull('logo')
    .first('logo', 'logo_type', db.raw('left(md5(logo), 16) AS version'));
  return row ? { type: row.logo_type, content: row.logo, version: row.version } : undefined;
}
