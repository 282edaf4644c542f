// The customer portal's accounts, sessions and settings. The pages are web/portal/; what a
// customer may see and do with tickets is the tickets domain's (members, status) and the
// customers domain's (portal permissions).
export {
  accountByAddress,
  accountById,
  activate,
  checkPassword,
  deactivate,
  MAX_PASSWORD_LENGTH,
  PORTAL_STATUSES,
  passwordProblem,
  setPassword,
  type PortalAccount,
  type PortalStatus,
} from './accounts.ts';
export {
  createSession,
  endAllSessions,
  endSession,
  findSession,
  pruneSessions,
  SESSION_IDLE_SECONDS,
  SESSION_MAX_SECONDS,
  type PortalSession,
} from './sessions.ts';
export {
  contrast,
  contrastProblems,
  getPortalSettings,
  MIN_CONTRAST,
  portalSettingsSchema,
  updatePortalSettings,
  type Branding,
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
