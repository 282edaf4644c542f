// The customer portal's accounts, sessions and settings, the links it mails (password, sign-in,
// sign-up) and its users as admins manage them. The pages are web/portal/; what a customer may see
// and do with tickets is the tickets domain's (members, status) and the customers domain's (portal
// permissions).
export {
  accountByAddress,
  addressesChanged,
  accountById,
  activate,
  checkPassword,
  deactivate,
  MAX_PASSWORD_LENGTH,
  PORTAL_STATUSES,
  passwordProblem,
  setPassword,
} from './accounts.ts';
export type { PortalAccount, PortalStatus } from './sessions.ts';
export {
  createSession,
  endAllSessions,
  endSession,
  findSession,
  pruneSessions,
  sessionFrom,
  sessionStatement,
  SESSION_IDLE_SECONDS,
  SESSION_MAX_SECONDS,
  type PortalSession,
} from './sessions.ts';
export {
  contrast,
  contrastProblems,
  cssRemoteLoads,
  getLogo,
  getPortalSettings,
  LOGO_MAX_BYTES,
  LOGO_TYPES,
  MIN_CONTRAST,
  pageBranding,
  portalSettingsSchema,
  removeLogo,
  setLogo,
  sniffImageType,
  updatePortalSettings,
  type Branding,
  type LogoType,
  type PortalLogo,
  type PortalSettings,
} from './settings.ts';
export {
  articleHtml,
  createArticle,
  deleteArticle,
  getArticle,
  listArticles,
  updateArticle,
  type ArticleFilter,
  type HelpArticle,
  type HelpArticleInput,
} from './help.ts';
export {
  holderByAddress,
  holderById,
  mailPasswordLink,
  mailSignInLink,
  mailSignupLink,
  maySignIn,
  type PortalHolder,
} from './link-mail.ts';
export {
  MAX_NAME_LENGTH,
  peekLink,
  useLink,
  type LinkResult,
  type LinkState,
  type PortalLinkKind,
} from './links.ts';
export {
  activatePortalUser,
  addPortalUser,
  deactivatePortalUser,
  getPortalUser,
  listPortalUsers,
  portalUserByAddress,
  reinvitePortalUser,
  type AddPortalUser,
  type PortalUser,
  type PortalUserFilter,
} from './users.ts';
