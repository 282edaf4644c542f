// Tickets: their status rule, who belongs to them, the read model, what inbound mail, agents and
// customers do to them. Other domains enter here.
export {
  changeStatus,
  customerMayClose,
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
  type CustomerAction,
  type CustomerMessageResult,
} from './by-customer.ts';
export {
  addFollower,
  getTicketDetail,
  removeFollower,
  TICKET_PRIORITIES,
  updateTicket,
  type TicketPatch,
} from './manage.ts';
export { postAgentReply, type ReplyInput, type ReplyResult } from './replies.ts';
