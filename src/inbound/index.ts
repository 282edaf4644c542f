export { processRawMessage, UnprocessableMail, type InboundContext, type InboundSettings, type Outcome } from './process.ts';
export { parseMail, PARSER_OPTIONS, ParseLimitError } from './parse.ts';
export { LOOP_HEADER } from './mail-fields.ts';
export { sanitizeHtml } from './content.ts';
