// Customers and their addresses: the public face of the domain. An address belongs to at most one
// customer. Every new customer is named and placed by one rule (new-customer.ts: a company chosen
// by hand stays, otherwise the address's domain decides, see companies) and written by one insert
// (create.ts), with its customer.created event, whichever way it comes.
export { isValidAddress, normalizeAddress } from './address.ts';
export { type Customer, CUSTOMER_BY_ADDRESS, findCustomerByAddress, findCustomersByAddress } from './lookup.ts';
export {
  type CompanyRule,
  type CompanySource,
  customerName,
  type NewCustomer,
  newCustomer,
  newCustomerFor,
} from './new-customer.ts';
export { createCustomerFromMail, type CreatedVia, findOrCreateCustomer } from './create.ts';
export * from './directory.ts';
export * from './permissions.ts';
export { importCustomers, IMPORT_MAX_BYTES } from './csv-import.ts';
export type { ImportOptions, ImportSummary, RowError } from './csv-import-types.ts';
export { exportCustomers } from './csv-export.ts';
