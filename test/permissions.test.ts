// Portal permissions (src/customers/permissions.ts): the customer's own setting wins, else the
// company's default, else the product's; a patch sets, clears (null: inherit again) or leaves.
import { describe, expect, it } from 'vitest';
import { applyPermissions, effectivePermissions, type PortalPermissions } from '../src/customers/index.ts';

/** The product's defaults for the permissions these cases do not set. */
const REST = {
  view_priority: false,
  edit_priority: false,
  view_type: true,
  edit_type: false,
  view_tags: false,
  view_assignee: false,
  close_tickets: true,
};

describe('effectivePermissions', () => {
  const cases: [string, PortalPermissions, PortalPermissions | null, Record<string, boolean>][] = [
    [
      'no setting anywhere: the product defaults',
      {},
      null,
      { portal_access: true, view_company_tickets: false, create_tickets: true },
    ],
    [
      "the company's default applies to its customers",
      {},
      { view_company_tickets: true, create_tickets: false },
      { portal_access: true, view_company_tickets: true, create_tickets: false },
    ],
    [
      "the customer's own setting wins over the company's",
      { view_company_tickets: false, portal_access: false },
      { view_company_tickets: true },
      { portal_access: false, view_company_tickets: false, create_tickets: true },
    ],
    [
      'false is a setting, not a missing one',
      { create_tickets: false },
      { create_tickets: true },
      { portal_access: true, view_company_tickets: false, create_tickets: false },
    ],
  ];
  it.each(cases)('%s', (_name, customer, company, expected) => {
    expect(effectivePermissions(customer, company)).toEqual({ ...REST, ...expected });
  });
});

describe('applyPermissions', () => {
  it('sets, clears with null, and leaves what the patch does not name', () => {
    const current: PortalPermissions = { portal_access: false, view_company_tickets: true };
    expect(applyPermissions(current, { portal_access: null, create_tickets: false })).toEqual({
      view_company_tickets: true,
      create_tickets: false,
    });
    expect(current).toEqual({ portal_access: false, view_company_tickets: true });
  });
});
