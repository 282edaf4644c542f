// Tickets: their status rule, who belongs to them, the read model, what inbound mail, agents and
// customers do to them. Other domains enter here.
export {
  changeStatus,
  customerMayClose,
  customerReopens,
  customerWrites,
  TICKET_STATUSES,
  type CustomerMessageEffect,
  type StatusActor,
  type StatusChange,
  type TicketStatus,
} from './status.ts';
export { isMember, isTicketMember, memberAddresses } from './members.ts';
export {
  addFollowers,
  createTicket,
  findTicketByMessageIds,
  findTicketByNumber,
  findTicketsByReplyToken,
  newReplyToken,
  recordEvent,
  reopen,
  TICKET_BY_TOKEN,
  touch,
  type EventRecord,
  type NewTicket,
  type Ticket,
  type TicketByToken,
} from './mail.ts';
export {
  getTicket,
  listTickets,
  parseTicketRef,
  type TicketDetail,
  type TicketFilter,
  type TicketListItem,
  type TicketRef,
  type TicketRow,
} from './read.ts';
export {
  publicAttachment,
  publicConversation,
  publicTicket,
  type PublicMessage,
} from './public.ts';
export {
  closeByCustomer,
  NotAMember,
  postCustomerMessage,
  reopenByCustomer,
  setFieldsByCustomer,
  type CustomerAction,
  type CustomerFields,
  type CustomerMessageResult,
} from './by-customer.ts';
export {
  CUSTOMER_SCOPES,
  customerTicket,
  customerTickets,
  customerTicketsPage,
  customerTicketsStatement,
  mayView,
  SEARCH_MAX_LENGTH,
  type CustomerScope,
  type CustomerTicket,
  type CustomerTicketFilter,
  type CustomerTicketItem,
  type CustomerTicketPage,
  type CustomerViewer,
  type Relation,
} from './for-customer.ts';
export {
  CUSTOMER_TICKET_TYPES,
  openTicketByCustomer,
  type NewCustomerTicket,
  type NewCustomerTicketResult,
} from './new-by-customer.ts';
export {
  addFollower,
  getTicketDetail,
  removeFollower,
  TICKET_PRIORITIES,
  updateTicket,
  type TicketPatch,
} from './manage.ts';
export { postAgentReply, type ReplyInput, type ReplyResult } from './replies.ts';
