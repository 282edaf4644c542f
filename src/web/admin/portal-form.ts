// The portal settings form (/admin/portal) read into settings, shared by saving and previewing.
import type { PortalSettings } from '../../portal/index.ts';
import { checked, type Posted, text } from './area-forms.ts';

const SWITCHES = ['enabled', 'self_signup', 'auto_invite', 'help_docs'] as const;
const BRANDING = [
  'name',
  'primary_color',
  'background_color',
  'text_color',
  'custom_css',
  'header_html',
  'footer_html',
] as const;

/** What the form shows: settings, saved or as typed (strings where the admin types them). */
export type SettingsValues = Omit<PortalSettings, 'logo' | 'language'> & { language: string };

/** The posted form as a patch of the whole settings (every field is on the form). */
export function patchOf(body: Posted | undefined, inboxIds: number[]): SettingsValues {
  return {
    ...Object.fromEntries(SWITCHES.map((k) => [k, checked(body, k)])),
    language: text(body, 'language'),
    inbox_ids: inboxIds.filter((id) => checked(body, `inbox_${id}`)),
    branding: Object.fromEntries(BRANDING.map((k) => [k, text(body, k)])),
  } as SettingsValues;
}

/** What changed, by key (branding's keys as branding.<key>), for the record. */
export function changes(before: PortalSettings, after: PortalSettings): string[] {
  const out: string[] = [];
  for (const k of [...SWITCHES, 'language', 'inbox_ids'] as const)
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out.push(k);
  for (const k of BRANDING) if (before.branding[k] !== after.branding[k]) out.push(`branding.${k}`);
  return out;
}

/** The form's labels of the fields a domain message names. */
export const FIELD_LABELS: Record<string, string> = {
  language: 'Language',
  inbox_ids: 'Inboxes',
  'branding.name': 'Name',
  'branding.primary_color': 'Primary colour',
  'branding.background_color': 'Background colour',
  'branding.text_color': 'Text colour',
  'branding.custom_css': 'Custom CSS',
  'branding.header_html': 'Header HTML',
  'branding.footer_html': 'Footer HTML',
};

const COLOURS: [RegExp, string][] = [
  [/\btext_color\b/g, 'text colour'],
  [/\bbackground_color\b/g, 'background colour'],
  [/\bprimary_color\b/g, 'primary colour'],
];

/** A domain message (a field path first, colour pairs by key) in the form's words. */
export function labelled(message: string): string {
  const m = /^([a-z_]+(?:\.[a-z_]+)*): /.exec(message);
  const head = m && FIELD_LABELS[m[1]!] ? `${FIELD_LABELS[m[1]!]}: ${message.slice(m[0].length)}` : message;
  return COLOURS.reduce((acc, [re, label]) => acc.replace(re, label), head);
}
