// Values templates cannot compute themselves (they call no functions), formatted by the sender.

/** A file size for reading: "840 bytes", "84 KB", "1.5 MB" (German: "1,5 MB"). */
export function formatSize(bytes: number, locale = 'en'): string {
  const n = (v: number) => new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(v);
  if (bytes < 1024) return `${n(bytes)} ${locale.startsWith('de') ? 'Bytes' : 'bytes'}`;
  if (bytes < 1024 * 1024) return `${n(Math.round(bytes / 1024))} KB`;
  return `${n(bytes / (1024 * 1024))} MB`;
}

/**
 * Plain text as HTML, for a message.html of a reply written as plain text: escaped, blank lines
 * make paragraphs, line breaks stay.
 */
export function textToHtml(text: string): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return escaped
    .split(/\n{2,}/)
    .map((p) => `<p>${p.replace(/\n/g, '<br>')}</p>`)
    .join('\n');
}
