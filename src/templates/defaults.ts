// The default templates shipped in templates/mail/<name>/<locale>.{subject.eta,html.mjml,text.eta}:
// what every inbox sends until an admin publishes an override.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TemplateSource } from './compile.ts';
import type { TemplateName } from './schemas.ts';

const DEFAULTS_DIR = path.resolve(import.meta.dirname, '../../templates/mail');

/** Locales every default template comes in; others fall back to `en`. */
export const DEFAULT_LOCALES = ['en', 'de'] as const;

const FILES = { subject: 'subject.eta', mjml: 'html.mjml', text: 'text.eta' } as const;

const loaded = new Map<string, TemplateSource | null>();

/** The shipped source for a template and locale, or undefined if that locale is not shipped. */
export function defaultSource(name: TemplateName, locale: string): TemplateSource | undefined {
  const key = `${name}/${locale}`;
  if (!loaded.has(key)) loaded.set(key, readDefault(name, locale));
  return loaded.get(key) ?? undefined;
}

function readDefault(name: TemplateName, locale: string): TemplateSource | null {
  if (!/^[a-z]{2}(?:-[a-z]{2})?$/.test(locale)) return null;
  const file = (part: keyof typeof FILES) => path.join(DEFAULTS_DIR, name, `${locale}.${FILES[part]}`);
  if (!existsSync(file('mjml'))) return null;
  const read = (part: keyof typeof FILES) => readFileSync(file(part), 'utf8');
  return { name, locale, subject: read('subject'), mjml: read('mjml'), text: read('text') };
}
