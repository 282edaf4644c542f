// The admin area's people: agents with the admin role signing in (password, optional TOTP second
// factor with recovery codes), their sessions, and the record of what they did. The pages are
// web/admin/; what they edit belongs to its own domain (templates, portal, inboxes).
export {
  agentPasswordProblem,
  checkAgentPassword,
  MAX_PASSWORD_LENGTH,
  passwordLinkAgent,
  setAgentPasswordByLink,
  type SignedInAgent,
} from './accounts.ts';
export { listAdminEvents, recordAdminEvent, type AdminEvent } from './events.ts';
export {
  ADMIN_SESSION_IDLE_SECONDS,
  ADMIN_SESSION_MAX_SECONDS,
  afterWrongCode,
  createAdminSession,
  endAdminSession,
  endAllAdminSessions,
  findAdminSession,
  MAX_CODE_FAILURES,
  pruneAdminSessions,
  takeCodeTry,
  upgradeAdminSession,
  type AdminAgent,
  type AdminSession,
} from './sessions.ts';
export {
  beginTotp,
  checkTotp,
  confirmTotp,
  disableTotp,
  newRecoveryCodes,
  pendingTotp,
  recoveryCodesLeft,
  useRecoveryCode,
  type TotpSetup,
} from './totp.ts';
