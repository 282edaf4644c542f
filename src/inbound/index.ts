export {
  processRawMessage,
  processRawMessages,
  UnprocessableMail,
  type InboundContext,
  type InboundSettings,
  type Outcome,
  type Processed,
  type RawJob,
} from './process.ts';
export { parseMail, PARSER_OPTIONS, ParseLimitError } from './parse.ts';
export { closeMailPool, warmMailPool } from './mail-pool.ts';
export { LOOP_HEADER } from './mail-fields.ts';
export { sanitizeHtml } from './content.ts';
