// Header fields of our own mail: outbound writes them, inbound recognises them.

/** Our outbound mail carries this header; seeing it inbound means a loop. */
export const LOOP_HEADER = 'X-Inbound-Loop';
