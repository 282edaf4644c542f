// What several domains need of mail: our own header fields, safe HTML, the HTML nesting limit.
export { LOOP_HEADER } from './headers.ts';
export { limitNesting } from './nesting.ts';
export { sanitizeHtml, type SanitizeOptions } from './sanitize.ts';
