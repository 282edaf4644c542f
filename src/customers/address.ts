// What counts as an address, and how addresses are compared and stored.
import { z } from 'zod';

/** Lower-case and trimmed: how addresses are compared and stored. */
export function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}

const email = z.email();

/**
 * For addresses typed by people (API, CSV): a plain local part and a real domain. Inbound mail is
 * not held to this: whatever a sender's server accepted is their address.
 */
export function isValidAddress(address: string): boolean {
  return address.length <= 254 && email.safeParse(address).success;
}
