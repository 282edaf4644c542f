// The load generator, in a process of its own so that it does not share an event loop with the
// servers it measures (a real sending MTA is another process too). Driven over IPC by _support.ts.
import { smtpLoadInProcess, mailOfSize } from './_support.ts';

process.on('message', async (msg: { port: number; mails: number; connections: number; bytes: number }) => {
  const result = await smtpLoadInProcess(msg.port, msg.mails, msg.connections, mailOfSize(msg.bytes));
  process.send!(result);
});
