// The roles `inbound start` can run: together by default, or apart so each scales on its own.
export const ROLES = ['smtp', 'worker', 'web'] as const;
export type Role = (typeof ROLES)[number];
