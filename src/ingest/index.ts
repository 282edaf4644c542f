export { createSmtpIngest, type SmtpIngest, type IngestOptions } from './server.ts';
export { storeBatch, type RawMail, type Stored } from './raw-store.ts';
export { createRawMessageStore, RAW_STATUSES, type RawStatus, type RawMessageSummary } from './raw-messages.ts';
export { findMessageId, HeaderScanner } from './headers.ts';
