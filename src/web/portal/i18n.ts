// What the portal's pages say, in each language it speaks: one dictionary file per group of
// pages (messages/), merged here. A key missing in a language falls back to English; a test checks
// that every language has every key. Values are plain text (escaped where shown); {name}
// placeholders are filled by translate().
import * as common from './messages/common.ts';
import * as auth from './messages/auth.ts';
import * as tickets from './messages/tickets.ts';
import * as help from './messages/help.ts';

export const LANGUAGES = ['en', 'de'] as const;
export type Language = (typeof LANGUAGES)[number];

const en = { ...common.en, ...tickets.en, ...auth.en, ...help.en } as const;

export type MessageKey = keyof typeof en;

const de: Partial<Record<MessageKey, string>> = { ...common.de, ...tickets.de, ...auth.de, ...help.de };

export const MESSAGES: Record<Language, Partial<Record<MessageKey, string>>> = { en, de };

/** The text of a key in a language, placeholders filled. */
export function translate(lang: Language, key: MessageKey, vars: Record<string, string | number> = {}): string {
  const text = MESSAGES[lang][key] ?? en[key];
  // most texts have no placeholder: the list page asks for a dozen per row
  if (!text.includes('{')) return text;
  return text.replace(/\{(\w{1,32})\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/**
 * The language to speak: the portal's fixed one, else the first of the browser's
 * (Accept-Language, by q) that the portal speaks, else English.
 */
export function pickLanguage(setting: 'browser' | Language, acceptLanguage: string | undefined): Language {
  if (setting !== 'browser') return setting;
  const wanted = (acceptLanguage ?? '')
    .slice(0, 512)
    .split(',')
    .slice(0, 20)
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { base: tag.split('-')[0]!, q: q ? Number(q.slice(2)) || 0 : 1, i };
    })
    .filter((w) => w.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return (wanted.find((w) => (LANGUAGES as readonly string[]).includes(w.base))?.base as Language) ?? 'en';
}
